package sockets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	starter "github.com/lestrrat-go/server-starter/listener"
	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/listener"
)

func hasIPv6(t *testing.T) bool {
	t.Helper()
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// testAddrs binds IPv4 loopback, IPv4 wildcard, IPv6 loopback (when the
// host has it) and a unix socket.
func testAddrs(t *testing.T) []plan.ListenAddr {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "app.sock")
	addrs := []plan.ListenAddr{
		{Network: "tcp", Address: "127.0.0.1:0", Raw: "127.0.0.1:0"},
		{Network: "tcp", Address: "0.0.0.0:0", Raw: "0.0.0.0:0"},
	}
	if hasIPv6(t) {
		addrs = append(addrs, plan.ListenAddr{Network: "tcp", Address: "[::1]:0", Raw: "[::1]:0"})
	} else {
		t.Log("no IPv6 loopback on this host; the IPv6 case is skipped")
	}
	return append(addrs, plan.ListenAddr{Network: "unix", Address: sock, Raw: "unix:" + sock})
}

func bindT(t *testing.T, addrs []plan.ListenAddr) *Set {
	t.Helper()
	s, err := Bind(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func nonblocking(t *testing.T, c syscall.Conn) bool {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fl int
	var ferr error
	if err := rc.Control(func(fd uintptr) { fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
	return fl&unix.O_NONBLOCK != 0
}

func heldNonblocking(t *testing.T, h *Socket) bool {
	t.Helper()
	fl, err := unix.FcntlInt(uintptr(h.fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fl&unix.O_NONBLOCK != 0
}

func fileNonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	return nonblocking(t, f)
}

// TestHeldSocketsStayNonBlocking hands duplicates to a real child through
// exec.Cmd.ExtraFiles (os/exec calls Fd on them) and checks that the open
// file description every generation shares is still O_NONBLOCK.
func TestHeldSocketsStayNonBlocking(t *testing.T) {
	s := bindT(t, testAddrs(t))
	for i := 0; i < 2; i++ { // twice: a second generation must see the same
		files, err := s.Files()
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != s.Len() {
			t.Fatalf("Files returned %d, want %d", len(files), s.Len())
		}
		cmd := exec.Command("/bin/sh", "-c", "exit 0")
		cmd.ExtraFiles = files
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !fileNonblocking(t, f) {
				t.Errorf("duplicate %s is in blocking mode after exec", f.Name())
			}
			_ = f.Close()
		}
	}
	for i, h := range s.socks {
		if !heldNonblocking(t, h) {
			t.Errorf("held socket %d (%s) lost O_NONBLOCK", i, h.addr.Raw)
		}
	}

	// The trap itself, for the record: File().Fd() on a listener of its own
	// puts the shared description into blocking mode.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Fd()
	t.Logf("for comparison, (*net.TCPListener).File().Fd() leaves the listener non-blocking=%v", nonblocking(t, l.(*net.TCPListener)))
	_ = f.Close()
}

// TestBindErrorsNameTheAddress: a port in use, a bad network, a path that
// is not a socket, and a unix path SERVER_STARTER_PORT cannot carry.
func TestBindErrorsNameTheAddress(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		addr plan.ListenAddr
		want string
	}{
		{plan.ListenAddr{Network: "tcp", Address: busy.Addr().String(), Raw: busy.Addr().String()}, "address already in use"},
		{plan.ListenAddr{Network: "udp", Address: "127.0.0.1:0", Raw: "udp:127.0.0.1:0"}, "unsupported network"},
		{plan.ListenAddr{Network: "unix", Address: regular, Raw: "unix:" + regular}, "is not a socket"},
		{plan.ListenAddr{Network: "unix", Address: dir + "/a=b.sock", Raw: "unix:" + dir + "/a=b.sock"}, "SERVER_STARTER_PORT"},
	}
	for _, c := range cases {
		// The first address binds, the second fails: nothing may stay bound.
		ok := plan.ListenAddr{Network: "tcp", Address: "127.0.0.1:0", Raw: "127.0.0.1:0"}
		s, err := Bind(context.Background(), []plan.ListenAddr{ok, c.addr})
		if err == nil {
			_ = s.Close()
			t.Errorf("%s: Bind succeeded, want an error", c.addr.Raw)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(c.addr.Raw)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q should name the address and say %q", c.addr.Raw, err, c.want)
		}
	}
	if _, err := os.Stat(regular); err != nil {
		t.Errorf("Bind removed a regular file: %v", err)
	}
}

func TestUnixStaleSocketRemovedLiveOneRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stale.sock")
	// A stale socket: bound, then closed without unlinking.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("setup: stale socket missing: %v", err)
	}
	s := bindT(t, []plan.ListenAddr{{Network: "unix", Address: path, Raw: "unix:" + path}})
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the rebound socket does not accept: %v", err)
	}
	_ = c.Close()

	// The path is now live (held by s): a second Bind must refuse it.
	if s2, err := Bind(context.Background(), []plan.ListenAddr{{Network: "unix", Address: path, Raw: "unix:" + path}}); err == nil {
		_ = s2.Close()
		t.Fatal("Bind took over a socket another listener serves")
	} else if !strings.Contains(err.Error(), "another process accepts") {
		t.Errorf("error %q should say the socket is in use", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("Close left the socket file behind: %v", err)
	}
	if _, err := s.Files(); !errors.Is(err, ErrClosed) {
		t.Errorf("Files after Close: %v, want ErrClosed", err)
	}
}

// placeAt dups each file to consecutive descriptor numbers starting at a free
// high number, as a child would see them, and returns the first number.
func placeAt(t *testing.T, files []*os.File) int {
	t.Helper()
	first := 300
	for ; first < 1000; first++ {
		free := true
		for i := range files {
			if _, err := unix.FcntlInt(uintptr(first+i), unix.F_GETFD, 0); err == nil {
				free = false
				break
			}
		}
		if free {
			break
		}
	}
	for i, f := range files {
		rc, _ := f.SyscallConn()
		var derr error
		_ = rc.Control(func(fd uintptr) { derr = unix.Dup3(int(fd), first+i, unix.O_CLOEXEC) })
		if derr != nil {
			t.Fatal(derr)
		}
		n := first + i
		t.Cleanup(func() { _ = unix.Close(n) })
	}
	return first
}

// TestServerStarterRoundTrip feeds Env's SERVER_STARTER_PORT to the parser of
// github.com/lestrrat-go/server-starter/listener, then accepts a real
// connection through every listener it returns: tcp v4 (host:port and the
// port-only wildcard form), v6 and unix.
func TestServerStarterRoundTrip(t *testing.T) {
	s := bindT(t, testAddrs(t))
	files, err := s.Files()
	if err != nil {
		t.Fatal(err)
	}
	first := placeAt(t, files)
	for _, f := range files {
		_ = f.Close()
	}
	env := s.Env(first)
	var port string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, listener.EnvServerStarterPort+"="); ok {
			port = v
		}
	}
	if port == "" {
		t.Fatalf("Env has no %s: %q", listener.EnvServerStarterPort, env)
	}
	t.Setenv(listener.EnvServerStarterPort, port)
	ports, err := starter.Ports()
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != s.Len() {
		t.Fatalf("parser found %d entries in %q, want %d", len(ports), port, s.Len())
	}
	if got := starter.List(ports).String(); got != port {
		t.Errorf("parser's String() = %q, want the same text back %q", got, port)
	}
	for i, p := range ports {
		if int(p.Fd()) != first+i {
			t.Errorf("entry %d: fd %d, want %d", i, p.Fd(), first+i)
		}
	}
	// The wildcard entry is the port alone, which the parser types as TCP.
	if tl, ok := ports[1].(starter.TCPListener); !ok || tl.Addr != "0.0.0.0" {
		t.Errorf("wildcard entry parsed as %#v, want a TCPListener on 0.0.0.0", ports[1])
	}
	lns, err := starter.ListenAll()
	if err != nil {
		t.Fatal(err)
	}
	addrs := s.Addrs()
	for i, l := range lns {
		network, addr := addrs[i].Network(), addrs[i].String()
		if ta, ok := addrs[i].(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			addr = fmt.Sprintf("127.0.0.1:%d", ta.Port)
		}
		roundTrip(t, l, network, addr)
		_ = l.Close()
	}
	// Listening through the parser's listeners must not have flipped the
	// shared descriptions either.
	for i, h := range s.socks {
		if !heldNonblocking(t, h) {
			t.Errorf("held socket %d lost O_NONBLOCK", i)
		}
	}
}

func roundTrip(t *testing.T, l net.Listener, network, addr string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte("hi"))
		_ = c.Close()
		done <- err
	}()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hi" {
		t.Fatalf("%s %s: read %q, %v", network, addr, b, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s %s: accept never returned", network, addr)
	}
}

// TestSystemdEnv checks LISTEN_FDS / LISTEN_FDNAMES as sd_listen_fds_with_names
// reads them: one valid name per descriptor, extra descriptors after the
// held ones and absent from SERVER_STARTER_PORT.
func TestSystemdEnv(t *testing.T) {
	dir := t.TempDir()
	s := bindT(t, []plan.ListenAddr{
		{Network: "tcp", Address: "127.0.0.1:0", Raw: "127.0.0.1:0"},
		{Network: "unix", Address: dir + "/x.sock", Raw: "unix:" + dir + "/x.sock"},
	})
	env := map[string]string{}
	for _, kv := range s.Env(3, "dewy-ready") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env[listener.EnvListenFDs] != "3" {
		t.Errorf("LISTEN_FDS=%q, want 3", env[listener.EnvListenFDs])
	}
	names := strings.Split(env[listener.EnvListenFDNames], ":")
	want := []string{"127.0.0.1_0", "unix_" + dir + "/x.sock", "dewy-ready"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("LISTEN_FDNAMES=%q, want %q", names, want)
	}
	ssp := env[listener.EnvServerStarterPort]
	if strings.Count(ssp, ";") != 1 || !strings.HasSuffix(ssp, dir+"/x.sock=4") {
		t.Errorf("SERVER_STARTER_PORT=%q: want the two held sockets at 3 and 4 only", ssp)
	}
	if got := (*Set)(nil).Env(3); got != nil {
		t.Errorf("empty set: Env = %q, want nil", got)
	}
	if got := (*Set)(nil).Env(3, "dewy-ready"); len(got) != 2 {
		t.Errorf("empty set with one extra: Env = %q, want LISTEN_FDS and LISTEN_FDNAMES only", got)
	}
	long := strings.Repeat("a", 300) + ":\x01\x7fé"
	got := SanitizeFDName(long)
	if len(got) != 255 || strings.ContainsAny(got, ":\x01\x7f") {
		t.Errorf("SanitizeFDName: %d bytes %q", len(got), got[:20])
	}
	if g := SanitizeFDName("unix:/run/a b.sock"); g != "unix_/run/a b.sock" {
		t.Errorf("SanitizeFDName = %q", g)
	}
}
