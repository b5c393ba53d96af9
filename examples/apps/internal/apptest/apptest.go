// Package apptest runs an example app as a real process the way dewy does:
// the test binary re-executes itself as the app (its TestMain calls [Main]),
// with sockets the test holds passed as inherited descriptors and described
// in both protocols (SERVER_STARTER_PORT and LISTEN_FDS through a LISTEN_PID
// shim), an optional per-generation readiness socket and a NOTIFY_SOCKET.
// Tests then send the process real signals and assert on what it did.
//
// It is for the example apps' tests only.
package apptest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RunMainEnv, set to "1", makes the re-executed test binary run the app.
const RunMainEnv = "DEWY_EXAMPLE_RUN_MAIN"

// Timeout bounds every wait. Tests assert outcomes; this only keeps a broken
// app from hanging the suite.
const Timeout = 20 * time.Second

// Main is the body of an app test's TestMain: as the re-executed child it
// runs the app's run function and exits with its code, otherwise it runs
// the tests.
func Main(m *testing.M, run func(args []string) int) {
	if os.Getenv(RunMainEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// Sockets are what a test holds for the app, as dewy would.
type Sockets struct {
	Listeners []net.Listener // the held listen sockets
	Ready     net.Listener   // the per-generation readiness socket, or nil
	files     []*os.File
	env       []string
}

// Hold binds n loopback TCP sockets, and a readiness socket when ready is
// set, and prepares the environment dewy gives the app for them.
func Hold(t *testing.T, n int, ready bool) *Sockets {
	t.Helper()
	s := &Sockets{}
	var entries, names []string
	for i := range n {
		ln := listen(t)
		s.Listeners = append(s.Listeners, ln)
		s.files = append(s.files, dup(t, ln))
		entries = append(entries, fmt.Sprintf("%s=%d", ln.Addr(), 3+i))
		names = append(names, fmt.Sprintf("listen%d", i))
	}
	if ready {
		s.Ready = listen(t)
		fd := 3 + len(s.files)
		s.files = append(s.files, dup(t, s.Ready))
		names = append(names, "dewy-ready")
		s.env = append(s.env, "DEWY_READY_FD="+strconv.Itoa(fd), "DEWY_READY_ADDR="+s.Ready.Addr().String())
	}
	s.env = append(s.env,
		"SERVER_STARTER_PORT="+strings.Join(entries, ";"),
		"SERVER_STARTER_GENERATION=1",
		"LISTEN_FDS="+strconv.Itoa(len(s.files)),
		"LISTEN_FDNAMES="+strings.Join(names, ":"),
	)
	return s
}

// URL is http://<held socket i>.
func (s *Sockets) URL(i int) string { return "http://" + s.Listeners[i].Addr().String() }

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dup duplicates a held socket through SyscallConn so that the shared open
// file description stays non-blocking (see STYLE.md on File()).
func dup(t *testing.T, ln net.Listener) *os.File {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nfd int
	var derr error
	rc.Control(func(fd uintptr) {
		nfd, derr = syscall.Dup(int(fd))
		if derr == nil {
			syscall.CloseOnExec(nfd)
		}
	})
	if derr != nil {
		t.Fatal(derr)
	}
	f := os.NewFile(uintptr(nfd), ln.Addr().String())
	t.Cleanup(func() { f.Close() })
	return f
}

// Notifier is a NOTIFY_SOCKET the test reads.
type Notifier struct {
	Path string
	conn *net.UnixConn
}

// NewNotifier opens a unixgram socket in a temporary directory.
func NewNotifier(t *testing.T) *Notifier {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &Notifier{Path: path, conn: conn}
}

// Expect reads datagrams until one equals state.
func (n *Notifier) Expect(t *testing.T, state string) {
	t.Helper()
	n.conn.SetReadDeadline(time.Now().Add(Timeout))
	buf := make([]byte, 4096)
	var got []string
	for {
		k, err := n.conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q on NOTIFY_SOCKET (got %q): %v", state, got, err)
		}
		if string(buf[:k]) == state {
			return
		}
		got = append(got, string(buf[:k]))
	}
}

// App is a running example app.
type App struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	cond *sync.Cond
	logs []string
	eof  bool
	done chan struct{}
	err  error
}

// Start runs the app with args. With sockets, it passes them as dewy does,
// through a /bin/sh shim that sets LISTEN_PID to the app's own pid. With
// notify, NOTIFY_SOCKET points at it.
func Start(t *testing.T, args []string, sockets *Sockets, notify *Notifier) *App {
	t.Helper()
	argv := append([]string{os.Args[0]}, args...)
	// The race detector sleeps a second at exit unless told otherwise.
	env := append(cleanEnv(), RunMainEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var cmd *exec.Cmd
	if sockets != nil {
		if _, err := os.Stat("/bin/sh"); err != nil {
			t.Skip("no /bin/sh for the LISTEN_PID shim")
		}
		cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$@"`, "sh"}, argv...)...)
		cmd.ExtraFiles = sockets.files
		env = append(env, sockets.env...)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	if notify != nil {
		env = append(env, "NOTIFY_SOCKET="+notify.Path)
	}
	cmd.Env = env
	// An os.Pipe, not StderrPipe: cmd.Wait closes the latter as soon as the
	// process exits, which can lose the app's last log lines.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = w
	cmd.Stdout = os.Stdout
	a := &App{cmd: cmd, done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	go a.collect(r)
	go func() {
		a.err = cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		select {
		case <-a.done:
		default:
			cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("app log:\n%s", a.Logs())
		}
	})
	return a
}

func (a *App) collect(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		a.mu.Lock()
		a.logs = append(a.logs, sc.Text())
		a.cond.Broadcast()
		a.mu.Unlock()
	}
	a.mu.Lock()
	a.eof = true
	a.cond.Broadcast()
	a.mu.Unlock()
}

// Pid is the app's process id.
func (a *App) Pid() int { return a.cmd.Process.Pid }

// WaitLog waits for a log line containing every one of parts and returns it.
func (a *App) WaitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	timer := time.AfterFunc(Timeout, func() {
		a.mu.Lock()
		a.cond.Broadcast() // wake the waiter to see the deadline
		a.mu.Unlock()
	})
	defer timer.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := 0; ; {
		for ; i < len(a.logs); i++ {
			if containsAll(a.logs[i], parts) {
				return a.logs[i]
			}
		}
		if a.eof || !time.Now().Before(deadline) {
			t.Fatalf("no log line with %q", parts)
		}
		a.cond.Wait()
	}
}

// Lines returns the log lines seen so far.
func (a *App) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.logs...)
}

// Logs returns the log so far as one string.
func (a *App) Logs() string { return strings.Join(a.Lines(), "\n") }

// Signal sends sig to the app.
func (a *App) Signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// Wait waits for the app to exit and returns its exit code.
func (a *App) Wait(t *testing.T) int {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(Timeout):
		t.Fatalf("app still running %s after being asked to stop", Timeout)
	}
	// Let the log reader drain what the app wrote last.
	a.mu.Lock()
	for !a.eof {
		a.cond.Wait()
	}
	a.mu.Unlock()
	return a.cmd.ProcessState.ExitCode()
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// cleanEnv is the test's environment without socket-passing variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "SERVER_STARTER_PORT", "SERVER_STARTER_GENERATION", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
			"DEWY_READY_FD", "DEWY_READY_ADDR", "NOTIFY_SOCKET", "GORACE", RunMainEnv:
			continue
		}
		env = append(env, kv)
	}
	return env
}
