package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Readiness results callers branch on.
var (
	// errExited: the generation died before it was ready.
	errExited = errors.New("exited before it was ready")
	// errNotReady: the generation was not ready within the timeout.
	errNotReady = errors.New("not ready")
)

// readyURL is the URL an HTTP readiness check probes for a generation: a
// bare path is served on the generation's own readiness listener.
func readyURL(check, readyAddr string) string {
	if strings.HasPrefix(check, "/") && readyAddr != "" {
		return "http://" + readyAddr + check
	}
	return check
}

// waitReady blocks until g is ready per the app's Ready settings, g exits,
// or ctx ends; with a timeout above 0 it gives up after that long. It does
// not decide whether g is still alive afterwards: the supervisor loop
// checks that when the result arrives.
func (s *Supervisor) waitReady(ctx context.Context, g *generation, timeout time.Duration) error {
	r := s.ready
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	exited := g.proc.Exited()
	timedOut := func(last error) error {
		if last != nil {
			return fmt.Errorf("%w within %s (last check: %v)", errNotReady, timeout, last)
		}
		return fmt.Errorf("%w within %s", errNotReady, timeout)
	}
	switch {
	case r.Notify:
		return g.notify.waitReady(ctx, g, timeout)
	case r.HTTP != "" || r.TCP != "":
		target, err := s.resolveProbe(g)
		if err != nil {
			return err
		}
		var last error
		quick := 0
		for {
			err := s.probe(ctx, g, target)
			if err == nil {
				return nil
			}
			if ctx.Err() == context.DeadlineExceeded && last != nil {
				// Cut off by the overall timeout: report the last answer.
				return timedOut(last)
			}
			last = err
			if errors.Is(err, errOtherProcess) && quick < quickRetries {
				// Another process (the old generation) took this connection:
				// the kernel picks per connection, so try again at once.
				quick++
				g.log.Debug().Err(err).Str("check", target.String()).Msg("readiness answer not counted; retrying at once")
				select {
				case <-exited:
					return errExited
				default:
				}
				continue
			}
			quick = 0
			g.log.Debug().Err(last).Str("check", target.String()).Msg("not ready yet")
			t := time.NewTimer(r.Interval)
			select {
			case <-t.C:
			case <-exited:
				t.Stop()
				return errExited
			case <-ctx.Done():
				t.Stop()
				if ctx.Err() == context.DeadlineExceeded {
					return timedOut(last)
				}
				return ctx.Err()
			}
		}
	default:
		t := time.NewTimer(r.Delay)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-exited:
			return errExited
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return timedOut(nil)
			}
			return ctx.Err()
		}
	}
}

// quickRetries is how many times in a row a probe answered by another
// process is retried without waiting for the interval.
const quickRetries = 3

func attemptTimeout(interval time.Duration) time.Duration {
	if d := 4 * interval; d > time.Second {
		return d
	}
	return time.Second
}

// notifySocket is one generation's NOTIFY_SOCKET: an abstract unixgram
// socket (no file to clean up or to protect) that accepts READY=1 only
// from the generation's own pid, checked with SCM_CREDENTIALS. Anyone on
// the host may send to it; the kernel-verified sender pid is what counts.
type notifySocket struct {
	conn *net.UnixConn
	addr string
}

func openNotify(gen int) (*notifySocket, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	// '@' marks the abstract namespace, as in systemd's NOTIFY_SOCKET.
	name := fmt.Sprintf("@dewy/%d/%d/%s", os.Getpid(), gen, hex.EncodeToString(rnd[:]))
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	rc, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("notify socket: SO_PASSCRED: %w", err)
	}
	return &notifySocket{conn: conn, addr: name}, nil
}

func (n *notifySocket) close() {
	if n != nil {
		_ = n.conn.Close()
	}
}

// waitReady reads datagrams until READY=1 arrives from g's pid (nil), the
// timeout passes, or ctx ends. Messages from any other sender are logged
// and ignored: systemd's NotifyAccess=main, checked by credentials rather
// than trusted from a MAINPID= field.
func (n *notifySocket) waitReady(ctx context.Context, g *generation, timeout time.Duration) error {
	stop := context.AfterFunc(ctx, func() { _ = n.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		msg, pid, err := n.read()
		if err != nil {
			select {
			case <-g.proc.Exited():
				return errExited
			default:
			}
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("%w within %s: no READY=1 from pid %d on NOTIFY_SOCKET", errNotReady, timeout, g.pid)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("notify socket: %w", err)
		}
		if pid != g.pid {
			g.log.Warn().Int("sender_pid", pid).Str("message", firstLine(msg)).
				Msg("ignored a NOTIFY_SOCKET message not sent by the generation's own process")
			continue
		}
		if logNotify(g.log, msg) {
			return nil
		}
	}
}

// drain reads and logs messages until the socket is closed, so that an
// app sending STATUS= updates never blocks on a full socket buffer.
func (n *notifySocket) drain(g *generation) {
	_ = n.conn.SetReadDeadline(time.Time{})
	for {
		msg, pid, err := n.read()
		if err != nil {
			return
		}
		if pid != g.pid {
			continue
		}
		logNotify(g.log, msg)
	}
}

// logNotify logs the interesting assignments and says whether READY=1 was
// among them.
func logNotify(log zerolog.Logger, msg string) bool {
	ready := false
	for _, line := range strings.Split(msg, "\n") {
		switch {
		case line == "READY=1":
			ready = true
		case strings.HasPrefix(line, "STATUS="):
			log.Debug().Str("status", strings.TrimPrefix(line, "STATUS=")).Msg("app status")
		case line == "STOPPING=1" || line == "RELOADING=1":
			log.Debug().Str("notify", line).Msg("app notification")
		}
	}
	return ready
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// read returns one datagram and the sender's pid from SCM_CREDENTIALS (0
// when none came, which never matches a generation).
func (n *notifySocket) read() (string, int, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred)*4)
	nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return "", 0, err
	}
	pid := 0
	if msgs, err := unix.ParseSocketControlMessage(oob[:noob]); err == nil {
		for i := range msgs {
			if cred, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
				pid = int(cred.Pid)
			}
		}
	}
	return string(buf[:nb]), pid, nil
}
