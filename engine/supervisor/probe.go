package supervisor

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/sockdiag"
	"github.com/dewyhq/dewy/listener"
)

// Errors of one probe attempt that say who answered, not whether the app
// is healthy. errOtherProcess is retried at once: which process accepts a
// connection on a shared socket is the kernel's choice, per connection.
var (
	errOtherProcess = errors.New("answered by a process outside the generation")
	errNotAccepted  = errors.New("connected, but no process accepted the connection")
)

// probeTarget is one resolved readiness probe.
type probeTarget struct {
	// addr is the host:port dialled.
	addr string
	// url is set for an HTTP probe; empty for a TCP probe.
	url *url.URL
	// readySocket: addr is the generation's own dewy-ready listener.
	readySocket bool
}

func (t probeTarget) String() string {
	if t.url != nil {
		return t.url.String()
	}
	return t.addr
}

// resolveProbe turns the app's Ready settings into the target probed for g.
func (s *Supervisor) resolveProbe(g *generation) (probeTarget, error) {
	if s.ready.TCP != "" {
		return probeTarget{addr: s.ready.TCP}, nil
	}
	u, err := url.Parse(readyURL(s.ready.HTTP, g.readyAddr))
	if err != nil {
		return probeTarget{}, fmt.Errorf("readiness URL: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	return probeTarget{addr: addr, url: u, readySocket: addr == g.readyAddr}, nil
}

// probe makes one attempt on t for g. When the connection lands on a socket
// dewy holds for the app (which every generation accepts on), the answer
// counts only if the process that accepted it belongs to g's process
// group: the server side of that very connection is found by its 4-tuple
// (sockdiag) and its inode among the group's descriptors (procfs).
func (s *Supervisor) probe(ctx context.Context, g *generation, t probeTarget) error {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout(s.ready.Interval))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	held := s.opts.Sockets.Reaches(remoteAddrPort(conn))
	if t.url == nil {
		if !held {
			return nil // accepted (by the kernel, at least): a plain TCP probe
		}
		return s.proveAccepted(ctx, conn, g, true)
	}
	if err := httpProbe(conn, t.url); err != nil {
		if isTimeout(err) && t.readySocket {
			// Say which contract was missed when nobody took the connection.
			if _, derr := sockdiag.TCPServerInode(conn); errors.Is(derr, sockdiag.ErrNotAccepted) {
				return fmt.Errorf("%w on DEWY_READY_FD (%s): the app must serve its readiness handler on the socket named %q in LISTEN_FDNAMES", errNotAccepted, g.readyAddr, listener.ReadyName)
			}
		}
		return err
	}
	if !held {
		return nil
	}
	return s.proveAccepted(ctx, conn, g, false)
}

// proveAccepted checks that a process of g's group holds the server side of
// conn. With wait, it first waits (until ctx ends) for someone to accept
// the connection, which a TCP probe has no answer to tell.
func (s *Supervisor) proveAccepted(ctx context.Context, conn net.Conn, g *generation, wait bool) error {
	pause := time.Millisecond
	for {
		ino, err := sockdiag.TCPServerInode(conn)
		if errors.Is(err, sockdiag.ErrNotAccepted) && wait {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
				pause = min(2*pause, 20*time.Millisecond)
				continue
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w on the held address %s", errNotAccepted, conn.RemoteAddr())
			}
		}
		if err != nil {
			return fmt.Errorf("find the process that answered on the held address %s: %w", conn.RemoteAddr(), err)
		}
		pid, err := procfs.SocketOwner(g.pid, ino)
		if err != nil {
			return fmt.Errorf("find the process that answered on the held address %s: %w", conn.RemoteAddr(), err)
		}
		if pid == 0 {
			return fmt.Errorf("%w on the held address %s (its process group %d does not hold the connection)", errOtherProcess, conn.RemoteAddr(), g.pid)
		}
		return nil
	}
}

// httpProbe sends one GET on conn and wants a 2xx answer. The request keeps
// the connection open (no "Connection: close"), so that the server side of
// it still exists when its owner is looked up.
func httpProbe(conn net.Conn, u *url.URL) error {
	var rw io.ReadWriter = conn
	if u.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname()})
		if err := tc.Handshake(); err != nil {
			return err
		}
		rw = tc
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "dewy-readiness")
	if err := req.Write(rw); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(rw), req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

func remoteAddrPort(c net.Conn) netip.AddrPort {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
