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
//  1. it turns keep-alives off, so each response from here on says
//     "Connection: close" and no client sends a second request into the
//     drain (idle keep-alive connections are closed);
//  2. it closes the listeners, so this process accepts nothing more (the
//     sockets stay open in dewy and the new generation, which go on
//     accepting), and waits until every Serve loop has returned, so the set of
//     accepted connections is final;
//  3. it waits, at most opts.FirstRequestGrace, until every accepted
//     connection has left http.StateNew, that is has begun its first request,
//     and closes those still silent then;
//  4. it waits, at most opts.ShutdownTimeout, until every connection has
//     closed (each closes after its response), then calls srv.Close.
//     srv.Shutdown is not used: a request it sees finish reading after its
//     shutting-down mark is dropped unanswered, the very loss below.
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
// closed by step 1, and if its client sent a new request at that very moment,
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

	tr := &connTracker{next: srv.ConnState, fresh: map[net.Conn]struct{}{}, open: map[net.Conn]struct{}{}, changed: make(chan struct{})}
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

	// 1. From now on every response says "Connection: close" (and idle
	// keep-alive connections are closed), before the listeners close: a
	// request that reaches this generation after it stopped accepting is
	// answered as the last one on its connection.
	srv.SetKeepAlivesEnabled(false)

	// 2. Stop accepting; after Wait, no connection can be added.
	closing.Lock()
	closed = true
	closing.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	serving.Wait()

	// 3. Let accepted connections deliver their first request. Those that
	// stay silent (speculative pre-connections) are closed: they have no
	// request to lose, and step 4 would wait for them until its timeout.
	if opts.FirstRequestGrace > 0 {
		tr.waitNoneFresh(opts.FirstRequestGrace)
		tr.closeFresh()
	}

	// 4. Wait, bounded, until every connection has closed: with keep-alives
	// off, each closes right after its response. srv.Shutdown is not used
	// for this: it marks the server as shutting down, and net/http drops a
	// request it finishes reading after that mark, unanswered (the race
	// this drain exists to avoid, see above).
	var err error
	if !tr.waitAllClosed(opts.ShutdownTimeout) {
		err = fmt.Errorf("listener: connections still open %s after the drain began: %w", opts.ShutdownTimeout, context.DeadlineExceeded)
	}
	// Nothing is left to lose: release what net/http still holds.
	srv.Close()
	closing.Lock()
	defer closing.Unlock()
	if firstErr != nil {
		return firstErr
	}
	return err
}

// connTracker knows which accepted connections are open, and which of
// them have not begun a request.
type connTracker struct {
	next func(net.Conn, http.ConnState)

	mu      sync.Mutex
	fresh   map[net.Conn]struct{}
	open    map[net.Conn]struct{}
	changed chan struct{} // closed and replaced whenever fresh or open shrinks
}

func (t *connTracker) hook(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	shrunk := false
	switch st {
	case http.StateNew:
		t.fresh[c] = struct{}{}
		t.open[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		_, wasFresh := t.fresh[c]
		_, wasOpen := t.open[c]
		delete(t.fresh, c)
		delete(t.open, c)
		shrunk = wasFresh || wasOpen
	default:
		if _, ok := t.fresh[c]; ok {
			delete(t.fresh, c)
			shrunk = true
		}
	}
	if shrunk {
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
	t.waitUntil(d, func() bool { return len(t.fresh) == 0 })
}

// waitAllClosed reports whether every tracked connection closed within d.
func (t *connTracker) waitAllClosed(d time.Duration) bool {
	return t.waitUntil(d, func() bool { return len(t.open) == 0 })
}

// waitUntil waits until done (called with t.mu held) holds, or d passes.
func (t *connTracker) waitUntil(d time.Duration, done func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		t.mu.Lock()
		ok, ch := done(), t.changed
		t.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		}
	}
}
