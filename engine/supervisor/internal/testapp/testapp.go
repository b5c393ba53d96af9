package testapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	starter "github.com/lestrrat-go/server-starter/listener"
)

// Environment of the test app.
const (
	// EnvRun set to "1" makes TestMain run Main.
	EnvRun = "TESTAPP"
	// EnvBehaviorFile names the file of behaviour tokens read at start.
	EnvBehaviorFile = "TESTAPP_BEHAVIOR_FILE"
	// EnvNotifyHelper makes TestMain run NotifyHelper.
	EnvNotifyHelper = "TESTAPP_NOTIFY_HELPER"
)

// Behaviour tokens (space-separated in the behaviour file):
//
//	delay=300ms        sleep before serving
//	exit=3             exit with this code at once
//	never-ready        /healthz answers 503
//	ignore-term        ignore SIGTERM
//	notify             send READY=1 to NOTIFY_SOCKET once serving
//	notify-from-child  a child process sends READY=1, the app never does
//	bind-itself        bind the first SERVER_STARTER_PORT address itself
//	no-ready-socket    never serve the dewy-ready socket (DEWY_READY_FD)
//	exit-after=500ms   exit with code 1 that long after it starts serving
//	proto=starter|systemd  which protocol to take sockets from (default: LISTEN_FDS if set)
type behavior struct {
	delay           time.Duration
	exit            int
	neverReady      bool
	ignoreTerm      bool
	notify          bool
	notifyFromChild bool
	bindItself      bool
	noReadySocket   bool
	exitAfter       time.Duration
	proto           string
}

func readBehavior() (behavior, error) {
	b := behavior{exit: -1}
	path := os.Getenv(EnvBehaviorFile)
	if path == "" {
		return b, nil
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return b, err
	}
	for _, tok := range strings.Fields(string(data)) {
		k, v, _ := strings.Cut(tok, "=")
		switch k {
		case "delay":
			b.delay, err = time.ParseDuration(v)
		case "exit":
			b.exit, err = strconv.Atoi(v)
		case "never-ready":
			b.neverReady = true
		case "ignore-term":
			b.ignoreTerm = true
		case "notify":
			b.notify = true
		case "notify-from-child":
			b.notifyFromChild = true
		case "bind-itself":
			b.bindItself = true
		case "no-ready-socket":
			b.noReadySocket = true
		case "exit-after":
			b.exitAfter, err = time.ParseDuration(v)
		case "proto":
			b.proto = v
		default:
			err = fmt.Errorf("unknown token %q", tok)
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testapp[%d gen %s]: %s\n", os.Getpid(), os.Getenv("DEWY_GENERATION"), fmt.Sprintf(format, args...))
}

// Main runs the app and returns its exit code.
func Main() int {
	b, err := readBehavior()
	if err != nil {
		logf("behavior: %v", err)
		return 2
	}
	if b.exit >= 0 {
		logf("exiting at once with %d", b.exit)
		return b.exit
	}
	term := make(chan os.Signal, 1)
	if b.ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}
	if b.bindItself {
		spec := os.Getenv(starter.ServerStarterEnvVarName)
		addr, _, _ := strings.Cut(strings.Split(spec, ";")[0], "=")
		l, err := net.Listen("tcp", addr)
		if err != nil {
			logf("listen %s: %v", addr, err)
			return 1
		}
		_ = l.Close()
		return 0
	}
	time.Sleep(b.delay)

	lns, ready, proto, names, err := inherit(b.proto)
	if err != nil {
		logf("sockets: %v", err)
		return 3
	}
	gen := os.Getenv("DEWY_GENERATION")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "gen=%s pid=%d proto=%s names=%s listeners=%d\n", gen, os.Getpid(), proto, names, len(lns))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if b.neverReady {
			http.Error(w, "never ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	var (
		mu     sync.Mutex
		states = map[net.Conn]http.ConnState{}
	)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			if st == http.StateClosed || st == http.StateHijacked {
				delete(states, c)
			} else {
				states[c] = st
			}
		},
	}
	all := lns
	if ready != nil && !b.noReadySocket {
		all = append(append([]net.Listener{}, lns...), ready)
	}
	var wg sync.WaitGroup
	for _, l := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.Serve(l)
		}()
	}
	logf("serving %d listeners (%s, names %s)", len(all), proto, names)
	if b.notify {
		if err := sendReady(); err != nil {
			logf("notify: %v", err)
		}
	}
	if b.notifyFromChild {
		exe, _ := os.Executable()
		c := exec.Command(exe)
		c.Env = append(os.Environ(), EnvNotifyHelper+"=1")
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			logf("notify helper: %v", err)
		}
	}

	var exitAfter <-chan time.Time
	if b.exitAfter > 0 {
		exitAfter = time.After(b.exitAfter)
	}
	select {
	case <-term:
	case <-exitAfter:
		logf("exiting with 1 after %s, as told", b.exitAfter)
		return 1
	}
	// Drain: no new keep-alive reuse, stop accepting (the other generation
	// takes the held sockets' queue), let connections already accepted
	// deliver their first request, then shut down (golang/go#65802: a
	// connection accepted but not yet tracked, or still in StateNew, is
	// otherwise closed unanswered when the process exits).
	srv.SetKeepAlivesEnabled(false)
	for _, l := range all {
		_ = l.Close()
	}
	// Serve returns only after handing over every connection it accepted,
	// so after this each one is tracked (ConnState has seen it).
	wg.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		fresh := 0
		for _, st := range states {
			if st == http.StateNew {
				fresh++
			}
		}
		mu.Unlock()
		if fresh == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logf("shutdown: %v", err)
	}
	logf("drained")
	return 0
}

// inherit takes the sockets from the chosen protocol. The readiness
// listener (DEWY_READY_FD, named dewy-ready) is returned apart.
func inherit(proto string) (lns []net.Listener, ready net.Listener, used, names string, err error) {
	if proto == "" {
		proto = "starter"
		if os.Getenv("LISTEN_FDS") != "" {
			proto = "systemd"
		}
	}
	switch proto {
	case "starter":
		if os.Getenv(starter.ServerStarterEnvVarName) != "" {
			lns, err = starter.ListenAll()
			if err != nil {
				return nil, nil, "", "", err
			}
		}
		if fd := os.Getenv("DEWY_READY_FD"); fd != "" {
			n, err := strconv.Atoi(fd)
			if err != nil {
				return nil, nil, "", "", err
			}
			ready, err = fileListener(n, "dewy-ready")
			if err != nil {
				return nil, nil, "", "", err
			}
		}
		return lns, ready, proto, "", nil
	case "systemd":
		if pid := os.Getenv("LISTEN_PID"); pid != strconv.Itoa(os.Getpid()) {
			return nil, nil, "", "", fmt.Errorf("LISTEN_PID=%q is not my pid %d", pid, os.Getpid())
		}
		n, err := strconv.Atoi(os.Getenv("LISTEN_FDS"))
		if err != nil {
			return nil, nil, "", "", fmt.Errorf("LISTEN_FDS: %w", err)
		}
		fdNames := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
		if len(fdNames) != n {
			return nil, nil, "", "", fmt.Errorf("LISTEN_FDNAMES has %d names for %d fds", len(fdNames), n)
		}
		var kept []string
		for i := 0; i < n; i++ {
			l, err := fileListener(3+i, fdNames[i])
			if err != nil {
				return nil, nil, "", "", err
			}
			if fdNames[i] == "dewy-ready" {
				ready = l
				continue
			}
			lns = append(lns, l)
			kept = append(kept, fdNames[i])
		}
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			_ = os.Unsetenv(k)
		}
		return lns, ready, proto, strings.Join(kept, ","), nil
	}
	return nil, nil, "", "", fmt.Errorf("unknown proto %q", proto)
}

func fileListener(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("fd %d (%s): %w", fd, name, err)
	}
	return l, nil
}

func sendReady() error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return errors.New("no NOTIFY_SOCKET")
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("STATUS=serving\nREADY=1"))
	return err
}

// NotifyHelper sends READY=1 from a process that is not the app's own.
func NotifyHelper() int {
	if err := sendReady(); err != nil {
		logf("notify helper: %v", err)
		return 1
	}
	logf("notify helper sent READY=1 from pid %d", os.Getpid())
	return 0
}
