package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// state is what this process has taken of its inheritance. The environment is
// read again on every call (it is cheap and never stale); the taken set is
// what makes each descriptor back at most one listener.
type state struct {
	getenv func(string) string
	getpid func() int

	mu     sync.Mutex
	taken  map[int]bool
	marked bool
}

func newState(getenv func(string) string, getpid func() int) *state {
	return &state{getenv: getenv, getpid: getpid, taken: map[int]bool{}}
}

// std is the process's own state, used by the package-level functions.
var std = newState(os.Getenv, os.Getpid)

// Listeners returns the listening sockets this process inherited, in the
// order the environment lists them, excluding dewy's readiness socket (see
// [Ready]). It uses LISTEN_FDS when LISTEN_PID is this process, otherwise
// SERVER_STARTER_PORT. It returns an empty slice and no error when nothing was
// inherited, so an app can fall back to [Listen] with its own address.
//
// Each descriptor is taken once: a later call, or [Listen], never returns it
// again. Taking checks that the descriptor is a listening stream socket, then
// moves it to a close-on-exec duplicate, so children the app starts itself do
// not inherit dewy's sockets. If any descriptor fails the checks, none is
// taken and the error names its fd, variable and entry.
func Listeners() ([]net.Listener, error) { return std.listeners() }

// Listen returns the inherited listener for addr if there is one, and
// otherwise binds network/addr itself with [net.Listen], so the same app also
// runs alone, outside dewy. An inherited socket matches when it is bound to
// the same port and the same host ("", "0.0.0.0" and "::" all mean every
// interface; "localhost" means loopback), or when its SERVER_STARTER_PORT
// address or LISTEN_FDNAMES name is exactly addr. For "unix", the path must
// be equal. A broken environment is an error, not a reason to bind.
func Listen(network, addr string) (net.Listener, error) { return std.listen(network, addr) }

// Ready returns dewy's per-generation readiness listener, when dewy passed one
// (LISTEN_FDNAMES names it "dewy-ready"; DEWY_READY_FD holds its number).
// Serve the app's health handler on it: dewy probes http://$DEWY_READY_ADDR/
// to learn that this generation, not the old one that shares the main
// sockets, is ready. ok is false when there is none or it was already taken.
func Ready() (ln net.Listener, ok bool, err error) { return std.ready() }

// Generation returns SERVER_STARTER_GENERATION, or dewy's DEWY_GENERATION
// when only that is set: 1 for the first worker a supervisor starts, then one
// more for each restart. ok is false when neither is set.
func Generation() (n int, ok bool) {
	if n, ok := parseGeneration(os.Getenv(EnvServerStarterGeneration)); ok {
		return n, true
	}
	return parseGeneration(os.Getenv(EnvGeneration))
}

// inherited parses the environment and, the first time, marks every
// described descriptor close-on-exec, including those the app never takes.
func (s *state) inherited() (inheritance, error) {
	in, err := parseEnv(s.getenv, s.getpid())
	if err != nil {
		return in, err
	}
	if !s.marked {
		s.marked = true
		for _, sp := range in.specs {
			if sp.fd >= 3 && isSocket(sp.fd) {
				syscall.CloseOnExec(sp.fd)
			}
		}
	}
	return in, nil
}

func (s *state) listeners() ([]net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.inherited()
	if err != nil {
		return nil, err
	}
	var todo []spec
	for _, sp := range in.specs {
		if !sp.ready && !s.taken[sp.fd] {
			todo = append(todo, sp)
		}
	}
	// Check all before taking any, so an error leaves every descriptor usable.
	for _, sp := range todo {
		if err := checkListening(sp.fd); err != nil {
			return nil, describe(sp, err)
		}
	}
	lns := make([]net.Listener, 0, len(todo))
	for _, sp := range todo {
		ln, err := s.take(sp)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func (s *state) listen(network, addr string) (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.inherited()
	if err != nil {
		return nil, err
	}
	for _, sp := range in.specs {
		if sp.ready || s.taken[sp.fd] {
			continue
		}
		la, err := localAddr(sp.fd)
		if err != nil || !matches(network, addr, sp.name, la) {
			continue
		}
		if err := checkListening(sp.fd); err != nil {
			return nil, describe(sp, err)
		}
		return s.take(sp)
	}
	return net.Listen(network, addr)
}

func (s *state) ready() (net.Listener, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.inherited()
	if err != nil {
		return nil, false, err
	}
	for _, sp := range in.specs {
		if !sp.ready || s.taken[sp.fd] {
			continue
		}
		if err := checkListening(sp.fd); err != nil {
			return nil, false, describe(sp, err)
		}
		ln, err := s.take(sp)
		return ln, err == nil, err
	}
	return nil, false, nil
}

// take turns an inherited descriptor into a net.Listener and closes the
// original. The caller holds s.mu and has run checkListening.
//
// The socket is put in non-blocking mode *before* os.NewFile sees it: NewFile
// then leaves the flag alone, and the Fd call inside net.FileListener does not
// flip it to blocking. O_NONBLOCK lives on the open file description that dewy
// and every running generation share, so a flip would make a sibling Go
// generation block in accept(2) and never drain.
func (s *state) take(sp spec) (net.Listener, error) {
	s.taken[sp.fd] = true
	syscall.CloseOnExec(sp.fd)
	if err := syscall.SetNonblock(sp.fd, true); err != nil {
		return nil, describe(sp, fmt.Errorf("set non-blocking: %w", err))
	}
	f := os.NewFile(uintptr(sp.fd), sp.name)
	if f == nil {
		return nil, describe(sp, syscall.EBADF)
	}
	// FileListener keeps a close-on-exec duplicate; the original goes.
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		return nil, describe(sp, err)
	}
	return ln, nil
}

func describe(sp spec, err error) error {
	return fmt.Errorf("listener: fd %d (%s entry %q): %w", sp.fd, sp.source, sp.name, err)
}

// ErrNotListening is returned (wrapped) when an inherited descriptor is open
// but is not a listening stream socket, such as a connected socket, a UDP
// socket, a pipe or a regular file.
var ErrNotListening = errors.New("not a listening stream socket")

func isSocket(fd int) bool {
	_, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	return err == nil
}

func checkListening(fd int) error {
	typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE)
	switch {
	case errors.Is(err, syscall.EBADF):
		return fmt.Errorf("descriptor is not open (did the supervisor pass it?): %w", err)
	case errors.Is(err, syscall.ENOTSOCK):
		return fmt.Errorf("%w: not a socket", ErrNotListening)
	case err != nil:
		return fmt.Errorf("getsockopt SO_TYPE: %w", err)
	case typ != syscall.SOCK_STREAM && typ != syscall.SOCK_SEQPACKET:
		return fmt.Errorf("%w: socket type %d", ErrNotListening, typ)
	}
	acc, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
	if err != nil {
		return fmt.Errorf("getsockopt SO_ACCEPTCONN: %w", err)
	}
	if acc == 0 {
		return fmt.Errorf("%w: socket is not listening", ErrNotListening)
	}
	return nil
}

// localAddr is getsockname(2) as a net.Addr, without taking the descriptor.
func localAddr(fd int) (net.Addr, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}, nil
	case *syscall.SockaddrInet6:
		a := &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a, nil
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}, nil
	}
	return nil, fmt.Errorf("unsupported address family %T", sa)
}
