package listener

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults for [ServeOptions].
const (
	// DefaultFirstRequestGrace is how long connections accepted just before
	// the drain get to deliver their first request. A client that connected
	// has almost always sent its request already; the bound only matters for
	// connections opened speculatively and never used.
	DefaultFirstRequestGrace = 2 * time.Second
	// DefaultShutdownTimeout bounds the wait for in-flight requests. It is
	// below dewy's default stop timeout (30s), after which dewy sends SIGKILL.
	DefaultShutdownTimeout = 25 * time.Second
)

// ServeOptions tunes the drain of [ServeWithOptions]. The zero value uses the
// defaults.
type ServeOptions struct {
	// FirstRequestGrace bounds how long, once the listeners are closed,
	// Serve waits for every accepted connection to start its first request
	// before it calls http.Server.Shutdown. Zero means
	// DefaultFirstRequestGrace; negative means no wait (stock behaviour).
	FirstRequestGrace time.Duration
	// ShutdownTimeout bounds http.Server.Shutdown; when it passes, the
	// remaining connections are closed with http.Server.Close. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Serve is [ServeWithOptions] with the default options.
func Serve(ctx context.Context, srv *http.Server, lns ...net.Listener) error {
	return ServeWithOptions(ctx, srv, ServeOptions{}, lns...)
}

// ServeWithOptions serves srv on every listener until ctx is done, then
// drains without losing a request that was already accepted:
//
//  1. it closes the listeners, so this process accepts nothing more (the
//     sockets stay open in dewy and the new generation, which go on
//     accepting), and waits until every Serve loop has returned, so the set of
//     accepted connections is final;
//  2. it turns keep-alives off, so each response from here on says
//     "Connection: close" and no client sends a second request into the drain;
//  3. it waits, at most opts.FirstRequestGrace, until every accepted
//     connection has left http.StateNew, that is has begun its first request,
//     and closes those still silent then;
//  4. only then it calls srv.Shutdown, bounded by opts.ShutdownTimeout, and
//     srv.Close after that.
//
// Why step 3: http.Server.Shutdown marks the server as shutting down first,
// and net/http checks that mark right after reading a request: a connection
// that finishes reading its first request after it is closed without an
// answer (the fix for golang/go#65802 traded a request handled on a closed
// connection for one dropped before handling). During a restart the old
// generation has always just accepted a few connections whose request is
// still on its way; measured on dewy, a stock drain dropped 14–32 requests
// per 20 restarts. The client cannot tell such a drop from a crash, and will
// not retry a non-idempotent request. TestStockShutdownDropsFirstRequest
// shows the loss on the running Go version.
//
// What remains: a keep-alive connection that is idle when the drain starts is
// closed by step 2, and if its client sent a new request at that very moment,
// the client sees the connection close (Go's and most clients retry an
// idempotent request on a fresh connection in that case). Hijacked
// connections (WebSockets) are not waited for: close them yourself once
// Serve returns, as examples/apps/websocket does. HTTP/2 connections get only
// what Shutdown gives them.
//
// ServeWithOptions sets srv.ConnState to a hook that tracks connections and
// then calls the hook that was there before; do not change it while serving.
// It returns nil after a clean drain, the first error of a listener that
// failed before ctx was done (the others are drained), or the Shutdown error
// when the timeout forced connections closed.
func ServeWithOptions(ctx context.Context, srv *http.Server, opts ServeOptions, lns ...net.Listener) error {
	if len(lns) == 0 {
		return errors.New("listener: Serve: no listeners")
	}
	if opts.FirstRequestGrace == 0 {
		opts.FirstRequestGrace = DefaultFirstRequestGrace
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}

	tr := &connTracker{next: srv.ConnState, fresh: map[net.Conn]struct{}{}, changed: make(chan struct{})}
	srv.ConnState = tr.hook

	var (
		closing  sync.Mutex
		closed   bool
		serving  sync.WaitGroup
		firstErr error
		early    = make(chan struct{})
		once     sync.Once
	)
	for _, ln := range lns {
		serving.Add(1)
		go func() {
			defer serving.Done()
			err := srv.Serve(ln)
			closing.Lock()
			defer closing.Unlock()
			if closed {
				return
			}
			// A listener failed, or someone else shut srv down: drain the rest.
			if firstErr == nil && !errors.Is(err, http.ErrServerClosed) {
				firstErr = fmt.Errorf("listener: serve %s: %w", ln.Addr(), err)
			}
			once.Do(func() { close(early) })
		}()
	}

	select {
	case <-ctx.Done():
	case <-early:
	}

	// 1. Stop accepting; after Wait, no connection can be added.
	closing.Lock()
	closed = true
	closing.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	serving.Wait()

	// 2. Answer what is in flight with "Connection: close".
	srv.SetKeepAlivesEnabled(false)

	// 3. Let accepted connections deliver their first request. Those that
	// stay silent (speculative pre-connections) are closed: they have no
	// request to lose, and Shutdown would wait 5 s for each of them.
	if opts.FirstRequestGrace > 0 {
		tr.waitNoneFresh(opts.FirstRequestGrace)
		tr.closeFresh()
	}

	// 4. Wait for the handlers, bounded.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("listener: shutdown after %s: %w", opts.ShutdownTimeout, err)
	}
	closing.Lock()
	defer closing.Unlock()
	if firstErr != nil {
		return firstErr
	}
	return err
}

// connTracker knows which accepted connections have not begun a request.
type connTracker struct {
	next func(net.Conn, http.ConnState)

	mu      sync.Mutex
	fresh   map[net.Conn]struct{}
	changed chan struct{} // closed and replaced whenever fresh shrinks
}

func (t *connTracker) hook(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	if st == http.StateNew {
		t.fresh[c] = struct{}{}
	} else if _, ok := t.fresh[c]; ok {
		delete(t.fresh, c)
		close(t.changed)
		t.changed = make(chan struct{})
	}
	t.mu.Unlock()
	if t.next != nil {
		t.next(c, st)
	}
}

// closeFresh closes the connections still in StateNew once the grace is
// over. One whose first request arrives at this very moment loses it, as it
// would under a stock Shutdown; the grace makes that moment unlikely.
func (t *connTracker) closeFresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.fresh {
		c.Close()
		delete(t.fresh, c)
	}
}

// waitNoneFresh returns when no tracked connection is in StateNew, or after d.
func (t *connTracker) waitNoneFresh(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		t.mu.Lock()
		n, ch := len(t.fresh), t.changed
		t.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			return
		}
	}
}
