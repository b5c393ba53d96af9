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
var ErrClosed = errors.New("sockets: socket is closed")

// Socket is one held listening socket. dewy never accepts on it, so it is
// kept as a plain descriptor outside Go's network poller: a new client
// connection wakes only the generations that accept, never dewy.
//
// The methods are safe for concurrent use.
type Socket struct {
	addr plan.ListenAddr
	// bound is the address the kernel bound (the real port for port 0).
	bound net.Addr
	// v6only is IPV6_V6ONLY of a TCP socket bound to an IPv6 address.
	v6only bool
	// spec is the address as written in SERVER_STARTER_PORT.
	spec string
	// name is the LISTEN_FDNAMES entry.
	name string

	mu     sync.Mutex
	fd     int
	closed bool
}

// Set is the ordered list of listening sockets held for one app. The order
// is the order of the addresses given to Bind (or of the sockets given to
// NewSet), and it is the order of the descriptors a child receives. A nil
// *Set is an empty set. Two sets may share a Socket: after a reload an
// address passes from one app's set to another's without being closed.
type Set struct {
	socks []*Socket
}

// NewSet returns a set of already held sockets, in order.
func NewSet(socks ...*Socket) *Set { return &Set{socks: socks} }

// Bind binds every address, in order, with SO_REUSEADDR for TCP. A unix
// socket path that holds a stale socket (nothing accepts on it) is removed
// first; a path that holds anything else, or a socket some process still
// serves, is an error. On error nothing stays bound. Errors name the address.
func Bind(ctx context.Context, addrs []plan.ListenAddr) (*Set, error) {
	s := &Set{}
	for _, a := range addrs {
		h, err := Listen(ctx, a)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.socks = append(s.socks, h)
	}
	return s, nil
}

// Listen binds and holds one address. The error names the address.
func Listen(ctx context.Context, a plan.ListenAddr) (*Socket, error) {
	h, err := bindOne(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", describe(a), err)
	}
	return h, nil
}

// Key identifies an address across plans: a reload hands the socket held
// for a key to whichever app lists that key next.
func Key(a plan.ListenAddr) string {
	n := a.Network
	if n == "" {
		n = "tcp"
	}
	return n + " " + a.Address
}

func describe(a plan.ListenAddr) string {
	if a.Raw != "" {
		return strconv.Quote(a.Raw)
	}
	return strconv.Quote(a.Network + ":" + a.Address)
}

// bindOne binds with Go's net package (for its address resolution and
// dual-stack rules), takes a duplicate of the descriptor, and closes the Go
// listener, which also takes it out of the network poller.
func bindOne(ctx context.Context, a plan.ListenAddr) (*Socket, error) {
	lc := net.ListenConfig{Control: reuseAddr}
	var (
		l    net.Listener
		err  error
		spec string
	)
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
		if l, err = lc.Listen(ctx, network, a.Address); err != nil {
			return nil, err
		}
		spec = tcpSpec(l.Addr().(*net.TCPAddr))
	case "unix":
		if a.Address == "" {
			return nil, errors.New("empty unix socket path")
		}
		if strings.ContainsAny(a.Address, ";=") {
			// SERVER_STARTER_PORT separates entries with ';' and the path
			// from the descriptor with '='; such a path cannot be passed.
			return nil, fmt.Errorf("unix socket path %q contains ';' or '=', which SERVER_STARTER_PORT cannot carry", a.Address)
		}
		if err := removeStale(ctx, a.Address); err != nil {
			return nil, err
		}
		if l, err = lc.Listen(ctx, "unix", a.Address); err != nil {
			return nil, err
		}
		// The socket file is removed by Socket.Close, not by this listener.
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		spec = a.Address
	default:
		return nil, fmt.Errorf("unsupported network %q (want tcp or unix)", a.Network)
	}
	h := &Socket{addr: a, bound: l.Addr(), spec: spec, name: fdName(a), fd: -1}
	rc, err := l.(syscall.Conn).SyscallConn()
	if err == nil {
		var derr error
		err = rc.Control(func(fd uintptr) {
			h.fd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
			if derr == nil && a.Network != "unix" {
				if ta, ok := h.bound.(*net.TCPAddr); ok && ta.IP.To4() == nil {
					v, gerr := unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
					h.v6only = gerr == nil && v == 1
				}
			}
		})
		if err == nil {
			err = derr
		}
	}
	_ = l.Close()
	if err != nil {
		if a.Network == "unix" {
			_ = os.Remove(a.Address)
		}
		return nil, fmt.Errorf("hold descriptor: %w", err)
	}
	return h, nil
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

// ListenAddr is the configured address.
func (h *Socket) ListenAddr() plan.ListenAddr { return h.addr }

// Addr is the bound address (useful when a port was 0).
func (h *Socket) Addr() net.Addr { return h.bound }

// Reaches reports whether a TCP connection to dst lands on this socket: dst
// has the socket's port and either its exact IP or, for a wildcard socket,
// any IP of the socket's family (both families for a dual-stack [::]).
// v4-mapped IPv6 addresses count as IPv4.
func (h *Socket) Reaches(dst netip.AddrPort) bool {
	ta, ok := h.bound.(*net.TCPAddr)
	if !ok || ta.Port != int(dst.Port()) {
		return false
	}
	ip := dst.Addr().Unmap()
	held, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	held = held.Unmap()
	switch {
	case !held.IsUnspecified():
		return held == ip
	case held.Is4():
		return ip.Is4()
	case h.v6only:
		return ip.Is6()
	default:
		return true
	}
}

// file returns a close-on-exec duplicate of the held descriptor.
func (h *Socket) file() (*os.File, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	nfd, err := unix.FcntlInt(uintptr(h.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), h.name), nil
}

// Close closes the socket (and removes a unix socket's file). It is safe
// to call more than once.
func (h *Socket) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	if err := unix.Close(h.fd); err != nil {
		errs = append(errs, fmt.Errorf("close %s: %w", describe(h.addr), err))
	}
	if h.addr.Network == "unix" {
		if err := os.Remove(h.addr.Address); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %s: %w", h.addr.Address, err))
		}
	}
	return errors.Join(errs...)
}

// Len is the number of held sockets.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.socks)
}

// Sockets returns the held sockets, in order.
func (s *Set) Sockets() []*Socket {
	if s == nil {
		return nil
	}
	return append([]*Socket(nil), s.socks...)
}

// Addrs returns the bound address of each socket, in order (useful when a
// port was 0).
func (s *Set) Addrs() []net.Addr {
	if s == nil {
		return nil
	}
	out := make([]net.Addr, len(s.socks))
	for i, h := range s.socks {
		out[i] = h.bound
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

// Reaches reports whether a TCP connection to dst lands on one of the set's
// sockets (see Socket.Reaches).
func (s *Set) Reaches(dst netip.AddrPort) bool {
	if s == nil {
		return false
	}
	for _, h := range s.socks {
		if h.Reaches(dst) {
			return true
		}
	}
	return false
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
	out := make([]*os.File, 0, len(s.socks))
	for _, h := range s.socks {
		f, err := h.file()
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

// Close closes every socket of the set (and removes unix socket files). It
// is safe to call more than once. A socket shared with another set is
// closed for that set too: after a reload the engine closes only the
// sockets no app lists any more.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	for _, h := range s.socks {
		errs = append(errs, h.Close())
	}
	return errors.Join(errs...)
}
