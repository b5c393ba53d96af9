package sockets

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/engine/plan"
)

// ErrClosed is returned by Files after Close.
var ErrClosed = errors.New("sockets: set is closed")

// Set is the ordered list of listening sockets held for one app. The order
// is the order of the addresses given to Bind, and it is the order of the
// descriptors a child receives. A nil *Set is an empty set.
//
// The methods are safe for concurrent use.
type Set struct {
	mu     sync.Mutex
	closed bool
	socks  []held
}

type held struct {
	addr plan.ListenAddr
	ln   listener
	// spec is the address as written in SERVER_STARTER_PORT.
	spec string
	// name is the LISTEN_FDNAMES entry.
	name string
}

// listener is what both *net.TCPListener and *net.UnixListener are.
type listener interface {
	net.Listener
	syscall.Conn
}

// Bind binds every address, in order, with SO_REUSEADDR for TCP. A unix
// socket path that holds a stale socket (nothing accepts on it) is removed
// first; a path that holds anything else, or a socket some process still
// serves, is an error. On error nothing stays bound. Errors name the address.
func Bind(ctx context.Context, addrs []plan.ListenAddr) (*Set, error) {
	s := &Set{}
	for _, a := range addrs {
		h, err := bindOne(ctx, a)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("listen %s: %w", describe(a), err)
		}
		s.socks = append(s.socks, h)
	}
	return s, nil
}

func describe(a plan.ListenAddr) string {
	if a.Raw != "" {
		return strconv.Quote(a.Raw)
	}
	return strconv.Quote(a.Network + ":" + a.Address)
}

func bindOne(ctx context.Context, a plan.ListenAddr) (held, error) {
	lc := net.ListenConfig{Control: reuseAddr}
	switch a.Network {
	case "tcp", "tcp4", "tcp6", "":
		network := a.Network
		if network == "" {
			network = "tcp"
		}
		// A literal IPv4 address means IPv4 only, as the user wrote it; Go's
		// "tcp" would bind 0.0.0.0 as a dual-stack [::] socket.
		if host, _, err := net.SplitHostPort(a.Address); err == nil && network == "tcp" {
			if ip, err := netip.ParseAddr(host); err == nil {
				if ip.Is4() {
					network = "tcp4"
				} else {
					network = "tcp6"
				}
			}
		}
		l, err := lc.Listen(ctx, network, a.Address)
		if err != nil {
			return held{}, err
		}
		tl := l.(*net.TCPListener)
		return held{addr: a, ln: tl, spec: tcpSpec(tl.Addr().(*net.TCPAddr)), name: fdName(a)}, nil
	case "unix":
		if a.Address == "" {
			return held{}, errors.New("empty unix socket path")
		}
		if strings.ContainsAny(a.Address, ";=") {
			// SERVER_STARTER_PORT separates entries with ';' and the path
			// from the descriptor with '='; such a path cannot be passed.
			return held{}, fmt.Errorf("unix socket path %q contains ';' or '=', which SERVER_STARTER_PORT cannot carry", a.Address)
		}
		if err := removeStale(ctx, a.Address); err != nil {
			return held{}, err
		}
		l, err := lc.Listen(ctx, "unix", a.Address)
		if err != nil {
			return held{}, err
		}
		ul := l.(*net.UnixListener)
		// The socket file is removed when the set is closed.
		ul.SetUnlinkOnClose(true)
		return held{addr: a, ln: ul, spec: a.Address, name: fdName(a)}, nil
	default:
		return held{}, fmt.Errorf("unsupported network %q (want tcp or unix)", a.Network)
	}
}

func reuseAddr(network, _ string, c syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set SO_REUSEADDR: %w", serr)
	}
	return nil
}

// removeStale removes a socket file nobody serves. It refuses to remove a
// file that is not a socket, or a socket that accepts connections.
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
	}
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	if c, err := d.DialContext(ctx, "unix", path); err == nil {
		_ = c.Close()
		return fmt.Errorf("%s: %w: another process accepts connections on it", path, syscall.EADDRINUSE)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// tcpSpec is the Server::Starter form of a bound TCP address: the port alone
// for a wildcard address (what start_server --port=8080 passes), else
// host:port, with brackets for IPv6.
func tcpSpec(a *net.TCPAddr) string {
	port := strconv.Itoa(a.Port)
	if a.IP == nil || a.IP.IsUnspecified() {
		return port
	}
	host := a.IP.String()
	if a.Zone != "" {
		host += "%" + a.Zone
	}
	return net.JoinHostPort(host, port)
}

// fdName is the LISTEN_FDNAMES entry for an address: what the config said,
// made valid for systemd (printable ASCII, no ':', at most 255 bytes).
func fdName(a plan.ListenAddr) string {
	n := a.Raw
	if n == "" {
		n = a.Address
	}
	return SanitizeFDName(n)
}

// SanitizeFDName makes s a valid LISTEN_FDNAMES entry, as systemd's
// fdname_is_valid defines it: bytes below 0x20, 0x7f and above, and ':'
// (the separator) become '_', and the result is cut to 255 bytes.
func SanitizeFDName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f || c == ':' {
			b[i] = '_'
		}
	}
	if len(b) > 255 {
		b = b[:255]
	}
	return string(b)
}

// Len is the number of held sockets.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.socks)
}

// Addrs returns the bound address of each socket, in order (useful when a
// port was 0).
func (s *Set) Addrs() []net.Addr {
	if s == nil {
		return nil
	}
	out := make([]net.Addr, len(s.socks))
	for i, h := range s.socks {
		out[i] = h.ln.Addr()
	}
	return out
}

// ListenAddrs returns the configured addresses, in order.
func (s *Set) ListenAddrs() []plan.ListenAddr {
	if s == nil {
		return nil
	}
	out := make([]plan.ListenAddr, len(s.socks))
	for i, h := range s.socks {
		out[i] = h.addr
	}
	return out
}

// Files returns a fresh duplicate of every held socket, in order, for
// exec.Cmd.ExtraFiles. The caller closes them once the child has started;
// the held sockets stay open. The duplicates share the open file
// description (and so its O_NONBLOCK flag) with the held sockets, and they
// are made without touching that flag.
func (s *Set) Files() ([]*os.File, error) {
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	out := make([]*os.File, 0, len(s.socks))
	for _, h := range s.socks {
		f, err := DupFile(h.ln, h.name)
		if err != nil {
			for _, g := range out {
				_ = g.Close()
			}
			return nil, fmt.Errorf("duplicate socket %s: %w", describe(h.addr), err)
		}
		out = append(out, f)
	}
	return out, nil
}

// DupFile duplicates the descriptor of c (a listener or connection) into a
// new close-on-exec *os.File, through SyscallConn().Control, so that the
// shared open file description stays non-blocking. Calling Fd on the
// result does not change the flag either (os.NewFile only remembers to
// restore blocking mode for descriptors it made non-blocking itself).
func DupFile(c syscall.Conn, name string) (*os.File, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// Close closes every held socket (and removes unix socket files). It is
// safe to call more than once.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, h := range s.socks {
		if err := h.ln.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", describe(h.addr), err))
		}
	}
	return errors.Join(errs...)
}
