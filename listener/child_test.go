package listener

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sslistener "github.com/lestrrat-go/server-starter/listener"
)

// These tests start the test binary itself as a child with real inherited
// descriptors (exec.Cmd.ExtraFiles puts them at fd 3, 4, ...) and the
// environment of each protocol, as dewy does. The child runs
// TestHelperProcess, prints one JSON report line, then greets one connection
// on each listener it took, so the parent proves the sockets really work.

const helperEnv = "LISTENER_TEST_HELPER"

type childReport struct {
	Listeners       []string // "network addr" of each listener from Listeners()
	Ready           string   // the readiness listener, if any
	Listen          []string // result of each LISTENER_TEST_LISTEN request
	SecondListeners int      // what a second Listeners() call returned
	SecondReady     bool
	OrigLeaking     []int // inherited fd numbers still open without close-on-exec after taking
	NotCloexec      []string
	Blocking        []string
	Generation      int
	Err             string
}

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("only runs as a child of the real-socket tests")
	}
	rep, lns := runHelper(mode)
	b, _ := json.Marshal(rep)
	fmt.Printf("REPORT %s\n", b)
	for _, ln := range lns {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "accept on %s: %v\n", ln.Addr(), err)
			os.Exit(2)
		}
		fmt.Fprintf(c, "hello from %d on %s\n", os.Getpid(), ln.Addr())
		c.Close()
	}
	os.Exit(0)
}

func runHelper(mode string) (rep childReport, serve []net.Listener) {
	describe := func(ln net.Listener) string { return ln.Addr().Network() + " " + ln.Addr().String() }
	var lns []net.Listener
	switch mode {
	case "take":
		var err error
		lns, err = Listeners()
		if err != nil {
			rep.Err = err.Error()
			return rep, nil
		}
		for _, ln := range lns {
			rep.Listeners = append(rep.Listeners, describe(ln))
		}
		if rl, ok, err := Ready(); err != nil {
			rep.Err = err.Error()
		} else if ok {
			rep.Ready = describe(rl)
			lns = append(lns, rl)
		}
		again, err := Listeners()
		rep.SecondListeners = len(again)
		if err != nil {
			rep.Err = err.Error()
		}
		_, rep.SecondReady, _ = Ready()
	case "listen":
		for _, req := range strings.Split(os.Getenv("LISTENER_TEST_LISTEN"), ";") {
			network, addr, _ := strings.Cut(req, ",")
			ln, err := Listen(network, addr)
			if err != nil {
				rep.Listen = append(rep.Listen, "error: "+err.Error())
				continue
			}
			rep.Listen = append(rep.Listen, describe(ln))
			lns = append(lns, ln)
		}
	case "serverstarter":
		var err error
		lns, err = sslistener.ListenAll()
		if err != nil {
			rep.Err = err.Error()
			return rep, nil
		}
		for _, ln := range lns {
			rep.Listeners = append(rep.Listeners, describe(ln))
		}
		return rep, lns
	default:
		rep.Err = "unknown mode " + mode
		return rep, nil
	}
	for f := range strings.FieldsSeq(strings.ReplaceAll(os.Getenv("LISTENER_TEST_FDS"), ",", " ")) {
		fd, _ := strconv.Atoi(f)
		// The number may be reused (by the listeners' own duplicates); what
		// matters is that nothing there would leak into the app's children.
		if fl, err := fcntl(fd, syscall.F_GETFD, 0); err == nil && fl&syscall.FD_CLOEXEC == 0 {
			rep.OrigLeaking = append(rep.OrigLeaking, fd)
		}
	}
	for _, ln := range lns {
		rc, err := ln.(syscall.Conn).SyscallConn()
		if err != nil {
			rep.Err = err.Error()
			continue
		}
		rc.Control(func(fd uintptr) {
			if fl, _ := fcntl(int(fd), syscall.F_GETFD, 0); fl&syscall.FD_CLOEXEC == 0 {
				rep.NotCloexec = append(rep.NotCloexec, describe(ln))
			}
			if fl, _ := fcntl(int(fd), syscall.F_GETFL, 0); fl&syscall.O_NONBLOCK == 0 {
				rep.Blocking = append(rep.Blocking, describe(ln))
			}
		})
	}
	rep.Generation, _ = Generation()
	return rep, lns
}

func fcntl(fd, cmd, arg int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

// held is a socket the test holds, as dewy would.
type held struct {
	ln   net.Listener
	name string // its SERVER_STARTER_PORT address
}

func (h held) describe() string { return h.ln.Addr().Network() + " " + h.ln.Addr().String() }

// holdSockets binds a v4, a v6 (when the host has ::1), a path and an
// abstract unix socket.
func holdSockets(t *testing.T) []held {
	t.Helper()
	var hs []held
	add := func(network, addr string, name func(net.Listener) string) {
		ln, err := net.Listen(network, addr)
		if err != nil {
			if addr == "[::1]:0" {
				t.Logf("no IPv6 loopback here, skipping the v6 socket: %v", err)
				return
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		hs = append(hs, held{ln: ln, name: name(ln)})
	}
	addr := func(ln net.Listener) string { return ln.Addr().String() }
	add("tcp", "127.0.0.1:0", addr)
	add("tcp", "[::1]:0", addr)
	add("unix", filepath.Join(t.TempDir(), "app.sock"), addr)
	add("unix", fmt.Sprintf("@dewy-listener-test-%d-%s", os.Getpid(), t.Name()), func(ln net.Listener) string { return ln.Addr().String() })
	return hs
}

// dupFile duplicates a held socket for ExtraFiles through SyscallConn, not
// (*TCPListener).File, whose Fd would flip the shared description to blocking.
func dupFile(t *testing.T, ln net.Listener) *os.File {
	t.Helper()
	f := os.NewFile(uintptr(dupFD(t, ln)), "held")
	t.Cleanup(func() { f.Close() })
	return f
}

// dupFD is a raw close-on-exec duplicate, for tests that let the package
// take (and close) the descriptor in this very process.
func dupFD(t *testing.T, ln net.Listener) int {
	t.Helper()
	rc, err := ln.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var nfd int
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = syscall.Dup(int(fd))
		if derr == nil {
			syscall.CloseOnExec(nfd)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if derr != nil {
		t.Fatal(derr)
	}
	return nfd
}

type child struct {
	cmd    *exec.Cmd
	report childReport
	stderr *strings.Builder
}

// startChild runs the helper with files at fd 3.. and env. With shim, it
// goes through /bin/sh, which sets LISTEN_PID to its own pid and execs the
// helper, so LISTEN_PID is the helper's pid: dewy's shim does the same.
func startChild(t *testing.T, mode string, files []*os.File, env []string, shim bool) *child {
	t.Helper()
	args := []string{os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false"}
	var cmd *exec.Cmd
	if shim {
		if _, err := os.Stat("/bin/sh"); err != nil {
			t.Skip("no /bin/sh for the LISTEN_PID shim")
		}
		cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$@"`, "sh"}, args...)...)
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	var fds []string
	for i := range files {
		fds = append(fds, strconv.Itoa(3+i))
	}
	cmd.Env = append(cleanEnv(), helperEnv+"="+mode, "LISTENER_TEST_FDS="+strings.Join(fds, ","),
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")) // no 1 s sleep at exit under -race
	cmd.Env = append(cmd.Env, env...)
	cmd.ExtraFiles = files
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stderr: &strings.Builder{}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := readReport(stdout)
	if err != nil {
		t.Fatalf("child report: %v (stderr: %s)", err, c.stderr)
	}
	if err := json.Unmarshal([]byte(line), &c.report); err != nil {
		t.Fatalf("child report %q: %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	return c
}

func readReport(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "REPORT "); ok {
			return rest, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", io.ErrUnexpectedEOF
}

// cleanEnv is the test's environment without any socket-passing variable.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case EnvServerStarterPort, EnvServerStarterGeneration, EnvListenFDs, EnvListenPID, EnvListenFDNames,
			EnvReadyFD, EnvReadyAddr, EnvNotifySocket, "GORACE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// greet connects to addr and returns the child's greeting.
func greet(t *testing.T, network, addr string) string {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read greeting from %s %s: %v", network, addr, err)
	}
	return strings.TrimSpace(line)
}

func (c *child) wait(t *testing.T) {
	t.Helper()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v (stderr: %s)", err, c.stderr)
	}
}

// checkTaken checks what every "take" child must report.
func checkTaken(t *testing.T, rep childReport, want []string, wantReady string) {
	t.Helper()
	if rep.Err != "" {
		t.Fatalf("child error: %s", rep.Err)
	}
	if !reflect.DeepEqual(rep.Listeners, want) {
		t.Errorf("Listeners() = %q, want %q", rep.Listeners, want)
	}
	if rep.Ready != wantReady {
		t.Errorf("Ready() = %q, want %q", rep.Ready, wantReady)
	}
	if rep.SecondListeners != 0 || rep.SecondReady {
		t.Errorf("second calls returned %d listeners and ready=%v: each fd must be used once", rep.SecondListeners, rep.SecondReady)
	}
	if len(rep.OrigLeaking) != 0 {
		t.Errorf("inherited fds %v still open without close-on-exec after taking", rep.OrigLeaking)
	}
	if len(rep.NotCloexec) != 0 || len(rep.Blocking) != 0 {
		t.Errorf("listeners without close-on-exec %q, blocking %q", rep.NotCloexec, rep.Blocking)
	}
}

// checkNonblocking fails if a held socket's shared description was flipped
// to blocking: a running Go generation would then hang in accept(2).
func checkNonblocking(t *testing.T, hs []held) {
	t.Helper()
	for _, h := range hs {
		rc, _ := h.ln.(syscall.Conn).SyscallConn()
		rc.Control(func(fd uintptr) {
			if fl, _ := fcntl(int(fd), syscall.F_GETFL, 0); fl&syscall.O_NONBLOCK == 0 {
				t.Errorf("held socket %s became blocking", h.describe())
			}
		})
	}
}

func TestChildServerStarter(t *testing.T) {
	hs := holdSockets(t)
	var files []*os.File
	var entries, want []string
	for i, h := range hs {
		files = append(files, dupFile(t, h.ln))
		entries = append(entries, fmt.Sprintf("%s=%d", h.name, 3+i))
		want = append(want, h.describe())
	}
	c := startChild(t, "take", files, []string{
		"SERVER_STARTER_PORT=" + strings.Join(entries, ";"),
		"SERVER_STARTER_GENERATION=3",
	}, false)
	checkTaken(t, c.report, want, "")
	if c.report.Generation != 3 {
		t.Errorf("Generation() = %d, want 3", c.report.Generation)
	}
	for _, h := range hs {
		if g := greet(t, h.ln.Addr().Network(), h.ln.Addr().String()); !strings.Contains(g, "hello from") {
			t.Errorf("greeting on %s = %q", h.describe(), g)
		}
	}
	c.wait(t)
	checkNonblocking(t, hs)
}

// TestChildDewy passes what dewy passes: both protocols at once, plus the
// per-generation readiness socket as the last LISTEN_FDS descriptor.
func TestChildDewy(t *testing.T) {
	hs := holdSockets(t)
	readyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer readyLn.Close()
	var files []*os.File
	var entries, names, want []string
	for i, h := range hs {
		files = append(files, dupFile(t, h.ln))
		entries = append(entries, fmt.Sprintf("%s=%d", h.name, 3+i))
		names = append(names, fmt.Sprintf("listen%d", i))
		want = append(want, h.describe())
	}
	readyFD := 3 + len(files)
	files = append(files, dupFile(t, readyLn))
	names = append(names, ReadyName)
	c := startChild(t, "take", files, []string{
		"SERVER_STARTER_PORT=" + strings.Join(entries, ";"),
		"SERVER_STARTER_GENERATION=1",
		"LISTEN_FDS=" + strconv.Itoa(len(files)),
		"LISTEN_FDNAMES=" + strings.Join(names, ":"),
		"DEWY_READY_FD=" + strconv.Itoa(readyFD),
		"DEWY_READY_ADDR=" + readyLn.Addr().String(),
	}, true)
	checkTaken(t, c.report, want, "tcp "+readyLn.Addr().String())
	for _, h := range hs {
		greet(t, h.ln.Addr().Network(), h.ln.Addr().String())
	}
	greet(t, "tcp", readyLn.Addr().String())
	c.wait(t)
	checkNonblocking(t, hs)
}

// TestChildSystemdOnly is plain systemd socket activation, no Server::Starter.
func TestChildSystemdOnly(t *testing.T) {
	hs := holdSockets(t)
	var files []*os.File
	var want []string
	for _, h := range hs {
		files = append(files, dupFile(t, h.ln))
		want = append(want, h.describe())
	}
	c := startChild(t, "take", files, []string{"LISTEN_FDS=" + strconv.Itoa(len(files))}, true)
	checkTaken(t, c.report, want, "")
	for _, h := range hs {
		greet(t, h.ln.Addr().Network(), h.ln.Addr().String())
	}
	c.wait(t)
}

// TestChildStaleListenPID: LISTEN_FDS meant for another process (an
// ancestor) is ignored, and SERVER_STARTER_PORT is used instead.
func TestChildStaleListenPID(t *testing.T) {
	hs := holdSockets(t)[:1]
	files := []*os.File{dupFile(t, hs[0].ln)}
	c := startChild(t, "take", files, []string{
		"LISTEN_FDS=1", "LISTEN_PID=1", "LISTEN_FDNAMES=" + ReadyName,
		"SERVER_STARTER_PORT=" + hs[0].name + "=3",
	}, false)
	checkTaken(t, c.report, []string{hs[0].describe()}, "")
	greet(t, "tcp", hs[0].ln.Addr().String())
	c.wait(t)
}

// TestChildListen: Listen picks the inherited socket for an equivalent
// address, never uses a descriptor twice, and binds what was not inherited.
func TestChildListen(t *testing.T) {
	hs := holdSockets(t)
	v4, sock := hs[0], hs[len(hs)-2] // 127.0.0.1:port and the path socket
	port := v4.ln.Addr().(*net.TCPAddr).Port
	files := []*os.File{dupFile(t, v4.ln), dupFile(t, sock.ln)}
	c := startChild(t, "listen", files, []string{
		fmt.Sprintf("SERVER_STARTER_PORT=%s=3;%s=4", v4.name, sock.name),
		fmt.Sprintf("LISTENER_TEST_LISTEN=tcp,localhost:%d;unix,%s;tcp4,127.0.0.1:%d;tcp,127.0.0.1:0", port, sock.name, port),
	}, false)
	got := c.report.Listen
	if len(got) != 4 {
		t.Fatalf("Listen results = %q, want 4", got)
	}
	if got[0] != v4.describe() || got[1] != sock.describe() {
		t.Errorf("Listen of inherited addresses = %q, want %q and %q", got[:2], v4.describe(), sock.describe())
	}
	if !strings.Contains(got[2], "address already in use") {
		t.Errorf("Listen of an address whose fd is taken = %q, want it to bind again and fail (address already in use)", got[2])
	}
	if !strings.HasPrefix(got[3], "tcp 127.0.0.1:") || got[3] == v4.describe() {
		t.Errorf("Listen(tcp, 127.0.0.1:0) = %q, want a fresh port", got[3])
	}
	greet(t, "tcp", v4.ln.Addr().String())
	greet(t, "unix", sock.name)
	greet(t, "tcp", strings.TrimPrefix(got[3], "tcp "))
	c.wait(t)
}

// TestServerStarterLibraryAgrees: github.com/lestrrat-go/server-starter's
// listener package, given the same SERVER_STARTER_PORT and descriptors,
// finds the same sockets, in the same order, as Listeners.
func TestServerStarterLibraryAgrees(t *testing.T) {
	hs := holdSockets(t)
	var entries []string
	for i, h := range hs {
		entries = append(entries, fmt.Sprintf("%s=%d", h.name, 3+i))
	}
	env := []string{"SERVER_STARTER_PORT=" + strings.Join(entries, ";")}
	run := func(mode string) []string {
		var files []*os.File
		for _, h := range hs {
			files = append(files, dupFile(t, h.ln))
		}
		c := startChild(t, mode, files, env, false)
		if c.report.Err != "" {
			t.Fatalf("%s child: %s", mode, c.report.Err)
		}
		for _, h := range hs {
			greet(t, h.ln.Addr().Network(), h.ln.Addr().String())
		}
		c.wait(t)
		return c.report.Listeners
	}
	ours, theirs := run("take"), run("serverstarter")
	if !reflect.DeepEqual(ours, theirs) || len(ours) != len(hs) {
		t.Errorf("Listeners() found %q, server-starter found %q", ours, theirs)
	}
}

// TestServerStarterParseAgrees compares the parse alone, on the values that
// Server::Starter and dewy write: the same descriptors, the same addresses.
func TestServerStarterParseAgrees(t *testing.T) {
	for _, v := range []string{
		"8080=3",
		"127.0.0.1:8080=3",
		"0.0.0.0:8080=3;[::1]:8081=4;/run/api.sock=5",
		"9090=7;/tmp/x.sock=8;@abstract=9",
		"localhost:80=3;[::]:443=4",
	} {
		t.Run(v, func(t *testing.T) {
			t.Setenv(sslistener.ServerStarterEnvVarName, v)
			theirs, err := sslistener.Ports()
			if err != nil {
				t.Fatalf("server-starter: %v", err)
			}
			ours, err := parseServerStarterPort(v)
			if err != nil {
				t.Fatalf("ours: %v", err)
			}
			if len(ours) != len(theirs) {
				t.Fatalf("ours %+v, server-starter %v", ours, theirs)
			}
			for i, l := range theirs {
				fd := strconv.Itoa(int(l.Fd()))
				addr := strings.TrimSuffix(l.String(), "="+fd)
				if ours[i].fd != int(l.Fd()) || ours[i].name != addr {
					t.Errorf("entry %d: ours %s=%d, server-starter %s=%s", i, ours[i].name, ours[i].fd, addr, fd)
				}
			}
		})
	}
}

// TestTakeChecksBeforeTaking uses real descriptors in this process: a pipe
// named as a socket is refused with the fd, variable and entry in the
// message, and the good listener beside it is left untaken.
func TestTakeChecksBeforeTaking(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	good := dupFD(t, ln)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	rfd := int(r.Fd())
	env := map[string]string{EnvServerStarterPort: fmt.Sprintf("%s=%d;pipe=%d", ln.Addr(), good, rfd)}
	s := newState(envOf(env), os.Getpid)
	defer func() {
		if !s.taken[good] {
			syscall.Close(good)
		}
	}()
	_, err = s.listeners()
	if !errors.Is(err, ErrNotListening) || !strings.Contains(err.Error(), fmt.Sprintf(`fd %d (SERVER_STARTER_PORT entry "pipe")`, rfd)) {
		t.Fatalf("Listeners() error = %v, want ErrNotListening naming fd %d", err, rfd)
	}
	if _, err := fcntl(good, syscall.F_GETFD, 0); err != nil || s.taken[good] {
		t.Fatalf("the good fd was taken or closed after a failed Listeners(): %v", err)
	}

	// Once the pipe is gone from the environment, Listen takes the good one.
	env[EnvServerStarterPort] = fmt.Sprintf("%s=%d", ln.Addr(), good)
	got, err := s.listen("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Addr().String() != ln.Addr().String() {
		t.Errorf("Listen() = %s, want the inherited %s", got.Addr(), ln.Addr())
	}
}

func TestTakeRefusesNonListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cf, err := conn.(*net.TCPConn).File() // a connected socket; blocking does not matter here
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	for _, tc := range []struct{ value, want string }{
		{fmt.Sprintf("conn=%d", cf.Fd()), "socket is not listening"},
		{"gone=1000", "descriptor is not open"},
	} {
		s := newState(envOf(map[string]string{EnvServerStarterPort: tc.value}), os.Getpid)
		if _, err := s.listeners(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Listeners() with %s: error = %v, want %q", tc.value, err, tc.want)
		}
	}
}

// TestListenFallback: outside dewy, Listen binds the address itself and
// Listeners and Ready find nothing.
func TestListenFallback(t *testing.T) {
	s := newState(envOf(nil), os.Getpid)
	lns, err := s.listeners()
	if err != nil || len(lns) != 0 {
		t.Fatalf("Listeners() = %v, %v; want none", lns, err)
	}
	if _, ok, err := s.ready(); ok || err != nil {
		t.Fatalf("Ready() = %v, %v; want none", ok, err)
	}
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"unix", filepath.Join(t.TempDir(), "alone.sock")},
	} {
		ln, err := s.listen(tc.network, tc.addr)
		if err != nil {
			t.Fatalf("Listen(%s, %s): %v", tc.network, tc.addr, err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				io.WriteString(c, "alone\n")
				c.Close()
			}
		}()
		if g := greet(t, tc.network, ln.Addr().String()); g != "alone" {
			t.Errorf("greeting = %q", g)
		}
		ln.Close()
	}
	// A broken environment is reported, not papered over by binding.
	bad := newState(envOf(map[string]string{EnvServerStarterPort: "oops"}), os.Getpid)
	if _, err := bad.listen("tcp", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), `SERVER_STARTER_PORT="oops"`) {
		t.Errorf("Listen with a broken SERVER_STARTER_PORT: error = %v", err)
	}
}
