package sockdiag

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
	"golang.org/x/sys/unix"
)

// The test binary doubles as an app generation for TestWhichProcess: with
// SOCKDIAG_TEST_ACCEPTOR set it accepts one connection on the listener it
// inherited as fd 3 and holds it until the other end closes.
func TestMain(m *testing.M) {
	if os.Getenv("SOCKDIAG_TEST_ACCEPTOR") != "" {
		acceptor()
		return
	}
	os.Exit(m.Run())
}

func acceptor() {
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := l.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_, _ = io.Copy(io.Discard, c)
	os.Exit(0)
}

func listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func dial(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// viaProc is TCPServerInode through the /proc/net fallback only.
func viaProc(c net.Conn) (uint64, error) {
	la := c.LocalAddr().(*net.TCPAddr).AddrPort()
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	server := netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port())
	peer := netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	s, err := procLookup([]string{"/proc/net/tcp", "/proc/net/tcp6"}, server, peer)
	if err != nil {
		return 0, err
	}
	return s.result(server, peer)
}

// expect checks that both the netlink lookup and the /proc fallback give
// want (an inode) or wantErr.
func expect(t *testing.T, what string, c net.Conn, want uint64, wantErr error) {
	t.Helper()
	for _, m := range []struct {
		name string
		fn   func(net.Conn) (uint64, error)
	}{{"sock_diag", TCPServerInode}, {"/proc/net", viaProc}} {
		got, err := m.fn(c)
		if wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Errorf("%s: %s: got %d, %v; want %v", what, m.name, got, err, wantErr)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%s: %s: got %d, %v; want inode %d", what, m.name, got, err, want)
		}
	}
}

func TestTCPServerInode(t *testing.T) {
	tests := []struct {
		name                string
		lnet, laddr, dialTo string // dialTo: network, host; the listener's port is added
		dnet                string
	}{
		{name: "ipv4", lnet: "tcp4", laddr: "127.0.0.1:0", dnet: "tcp4", dialTo: "127.0.0.1"},
		{name: "ipv4-any", lnet: "tcp4", laddr: "0.0.0.0:0", dnet: "tcp4", dialTo: "127.0.0.1"},
		{name: "ipv6", lnet: "tcp6", laddr: "[::1]:0", dnet: "tcp6", dialTo: "::1"},
		{name: "dual-stack-v4-client", lnet: "tcp", laddr: "[::]:0", dnet: "tcp4", dialTo: "127.0.0.1"},
		{name: "dual-stack-v6-client", lnet: "tcp", laddr: "[::]:0", dnet: "tcp6", dialTo: "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := listen(t, tt.lnet, tt.laddr)
			port := l.Addr().(*net.TCPAddr).Port
			c := dial(t, tt.dnet, net.JoinHostPort(tt.dialTo, fmt.Sprint(port)))

			expect(t, "before Accept", c, 0, ErrNotAccepted)

			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			want := testutil.SocketInode(t, s.(*net.TCPConn))
			expect(t, "accepted", c, want, nil)

			// The same through the address pair, v4-mapped or not.
			la := c.LocalAddr().(*net.TCPAddr).AddrPort()
			ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			pairs := [][2]netip.AddrPort{{la, ra}}
			if la.Addr().Unmap().Is4() {
				m := func(ap netip.AddrPort) netip.AddrPort {
					return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
				}
				pairs = append(pairs, [2]netip.AddrPort{m(la), m(ra)}, [2]netip.AddrPort{la, m(ra)})
			}
			for _, p := range pairs {
				if got, err := TCPServerInodeAddr(p[0], p[1]); err != nil || got != want {
					t.Errorf("TCPServerInodeAddr(%v, %v) = %d, %v; want %d", p[0], p[1], got, err, want)
				}
			}

			// Accepted, then closed by the server: an orphan without an
			// inode (FIN_WAIT2), then TIME_WAIT once the client closes.
			s.Close()
			expect(t, "server closed", c, 0, ErrNotFound)
			c.Close()
			expect(t, "both closed", c, 0, ErrNotFound)
		})
	}
}

// A reset server end vanishes at once. The kernel's exact lookup then
// falls back to the listener, as it would for an incoming packet: that
// answer must not pass for the server end.
func TestTCPServerReset(t *testing.T) {
	l := listen(t, "tcp4", "127.0.0.1:0")
	c := dial(t, "tcp4", l.Addr().String())
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	s.Close()

	la := c.LocalAddr().(*net.TCPAddr).AddrPort()
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	if raw, err := diagTCP(ra, la); err != nil || raw.state != tcpListen {
		t.Logf("raw answer: %+v, %v (the listener was expected)", raw, err)
	}
	expect(t, "server reset", c, 0, ErrNotFound)
}

// A client that gives up before the server accepts leaves the server end
// in CLOSE_WAIT, still waiting to be accepted.
func TestTCPClientClosedFirst(t *testing.T) {
	l := listen(t, "tcp4", "127.0.0.1:0")
	c := dial(t, "tcp4", l.Addr().String())
	c.Close()
	expect(t, "client closed before Accept", c, 0, ErrNotAccepted)
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	expect(t, "accepted after the client closed", c, testutil.SocketInode(t, s.(*net.TCPConn)), nil)
}

func TestTCPNoSuchConnection(t *testing.T) {
	// Nothing listens on port 1 of 127.0.0.2 (not bound by anything here).
	_, err := TCPServerInodeAddr(netip.MustParseAddrPort("127.0.0.2:2"), netip.MustParseAddrPort("127.0.0.2:1"))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("got %v, want ErrNotFound", err)
	}
	if _, err := TCPServerInodeAddr(netip.MustParseAddrPort("127.0.0.1:2"), netip.MustParseAddrPort("[::1]:1")); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("mixed families: got %v, want a plain error", err)
	}
	if _, err := TCPServerInode(nil); err == nil {
		t.Error("nil connection: no error")
	}
}

func TestUnixServerInode(t *testing.T) {
	for _, network := range []string{"unix", "unixpacket"} {
		t.Run(network, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			l := listen(t, network, path)
			c := dial(t, network, path).(*net.UnixConn)

			if got, err := UnixServerInode(c); !errors.Is(err, ErrNotAccepted) {
				t.Errorf("before Accept: got %d, %v; want ErrNotAccepted", got, err)
			}
			s, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			want := testutil.SocketInode(t, s.(*net.UnixConn))
			if got, err := UnixServerInode(c); err != nil || got != want {
				t.Errorf("accepted: got %d, %v; want %d", got, err, want)
			}
			s.Close()
			if got, err := UnixServerInode(c); !errors.Is(err, ErrNotFound) {
				t.Errorf("server closed: got %d, %v; want ErrNotFound", got, err)
			}
		})
	}
}

func TestUnixSocketpairAndErrors(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "pair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.UnixConn)
	}
	a, b := conn(fds[0]), conn(fds[1])
	if got, err := UnixServerInode(a); err != nil || got != testutil.SocketInode(t, b) {
		t.Errorf("socketpair: got %d, %v; want %d", got, err, testutil.SocketInode(t, b))
	}

	g, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "g"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := UnixServerInode(g); err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotAccepted) {
		t.Errorf("datagram socket: got %v, want a plain error", err)
	}

	a.Close()
	if _, err := UnixServerInode(a); err == nil {
		t.Error("closed connection: no error")
	}
}

// TestWhichProcess is the point of the package: two processes (two app
// generations, each its own process group) share one listener and both
// wait in Accept; the probe's connection is taken by one of them, and
// the server end's inode tells which.
func TestWhichProcess(t *testing.T) {
	for _, network := range []string{"tcp4", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "s")
			}
			l := listen(t, network, addr)
			lf, err := l.(interface{ File() (*os.File, error) }).File()
			if err != nil {
				t.Fatal(err)
			}
			defer lf.Close()

			var gens []*exec.Cmd
			for range 2 {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), "SOCKDIAG_TEST_ACCEPTOR=1")
				cmd.ExtraFiles = []*os.File{lf}
				cmd.Stderr = os.Stderr
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				})
				gens = append(gens, cmd)
			}

			c := dial(t, network, l.Addr().String())
			lookup := func() (uint64, error) {
				if uc, ok := c.(*net.UnixConn); ok {
					return UnixServerInode(uc)
				}
				return TCPServerInode(c)
			}
			var ino uint64
			deadline := time.Now().Add(10 * time.Second)
			for {
				ino, err = lookup()
				if !errors.Is(err, ErrNotAccepted) || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("server end: %v", err)
			}

			// The socket was accepted, but the accepting process may not
			// have its descriptor in its table for an instant longer.
			owners := 0
			for time.Now().Before(deadline) && owners == 0 {
				for _, g := range gens {
					pid, err := procfs.SocketOwner(g.Process.Pid, ino)
					if err != nil {
						t.Fatal(err)
					}
					if pid != 0 && pid != g.Process.Pid {
						t.Errorf("owner in group %d: pid %d", g.Process.Pid, pid)
					}
					if pid != 0 {
						owners++
					}
				}
				time.Sleep(time.Millisecond)
			}
			if owners != 1 {
				t.Errorf("%d generations hold socket %d, want exactly 1", owners, ino)
			}
			if pid, err := procfs.SocketOwner(syscall.Getpgrp(), ino); err != nil || pid != 0 {
				t.Errorf("our own group holds the accepted socket: pid %d, %v", pid, err)
			}
		})
	}
}

// crowd opens n held connections and leaves n more in TIME_WAIT, all to
// l, for the lookups to find their way among.
func crowd(b *testing.B, l net.Listener, n int) {
	b.Helper()
	var held []net.Conn
	b.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range 2 * n {
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		if i < n {
			held = append(held, c, s)
			continue
		}
		c.Close() // the client end goes to TIME_WAIT
		s.Close()
	}
}

func benchmarkLookup(b *testing.B, fn func(net.Conn) (uint64, error)) {
	for _, n := range []int{0, 2000} {
		b.Run(fmt.Sprintf("established=%d,timewait=%d", 2*n, n), func(b *testing.B) {
			l := listen(b, "tcp4", "127.0.0.1:0")
			crowd(b, l, n)
			c := dial(b, "tcp4", l.Addr().String())
			s, err := l.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			want := testutil.SocketInode(b, s.(*net.TCPConn))
			for b.Loop() {
				if got, err := fn(c); err != nil || got != want {
					b.Fatalf("got %d, %v; want %d", got, err, want)
				}
			}
		})
	}
}

// BenchmarkTCPServerInode shows the sock_diag lookup does not grow with
// the number of sockets around; BenchmarkProcNetFallback, for contrast,
// the linear /proc/net/tcp fallback.
func BenchmarkTCPServerInode(b *testing.B)  { benchmarkLookup(b, TCPServerInode) }
func BenchmarkProcNetFallback(b *testing.B) { benchmarkLookup(b, viaProc) }

// Every lookup closes its netlink socket, on every path.
func TestNoDescriptorLeak(t *testing.T) {
	l := listen(t, "tcp4", "127.0.0.1:0")
	c := dial(t, "tcp4", l.Addr().String())
	path := filepath.Join(t.TempDir(), "s")
	listen(t, "unix", path)
	uc := dial(t, "unix", path).(*net.UnixConn)
	before := procfs.FDCount(os.Getpid())
	for range 100 {
		_, _ = TCPServerInode(c) // not accepted
		_, _ = UnixServerInode(uc)
		_, _ = TCPServerInodeAddr(netip.MustParseAddrPort("127.0.0.2:2"), netip.MustParseAddrPort("127.0.0.2:1")) // not found
	}
	if after := procfs.FDCount(os.Getpid()); after != before {
		t.Errorf("descriptors: %d before, %d after", before, after)
	}
}
