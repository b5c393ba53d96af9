package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/engine/event"
)

// Defaults of Options.
const (
	DefaultQueueSize   = 64
	DefaultSendTimeout = 10 * time.Second
	// DefaultBusBuffer is the room of the Dispatcher's subscription: the
	// Dispatcher only routes, so it keeps up unless events burst.
	DefaultBusBuffer = 256
	// ErrorsInARow is how many failures of one app a notifier hears in a
	// row before the rest are held back until things work again.
	ErrorsInARow = 3
)

// Target is one configured notifier: its block's name, the Notifier, and
// how its messages are shaped and filtered.
type Target struct {
	// Name is the notifier block's label ("ops"): what Routes name.
	Name     string
	Notifier Notifier
	Title    string
	URL      string
	// Quiet keeps only failures, deploys, rollbacks and the stop.
	Quiet bool
}

// Routes say who hears what: each app's notifiers (App.Notifiers), and
// the agent's, which hear dewy's own events and every app's.
type Routes struct {
	Apps  map[string][]string
	Agent []string
}

// Options configure a Dispatcher.
type Options struct {
	Targets []Target
	Routes  Routes
	// Host is this machine's name, shown in every message.
	Host   string
	Logger zerolog.Logger
	// QueueSize bounds each notifier's queue (DefaultQueueSize).
	QueueSize int
	// SendTimeout bounds each send (DefaultSendTimeout).
	SendTimeout time.Duration
	// BusBuffer is the room of the bus subscription (DefaultBusBuffer).
	BusBuffer int
}

// Stats count one notifier's messages since start.
type Stats struct {
	// Sent got through; Failed did not (the send failed or timed out);
	// Dropped were never tried: the queue was full, or the shutdown's
	// deadline came first.
	Sent, Failed, Dropped uint64
	// Held are messages the quiet filter or the errors-in-a-row rule
	// kept back on purpose.
	Held uint64
}

// Dispatcher routes the bus's events to the notifiers. Call Run once, in
// its own goroutine; Close ends it. It subscribes in New, so no event
// published after New is missed.
type Dispatcher struct {
	o       Options
	sub     *event.Subscription
	routes  atomic.Pointer[Routes]
	workers map[string]*worker
	order   []*worker
	log     zerolog.Logger

	// abortCtx ends in-flight sends (Close's deadline, Run's ctx).
	abortCtx context.Context
	abort    context.CancelFunc

	mu      sync.Mutex
	running bool // Run has started
	closed  bool // Close was called
	closing chan struct{}
	done    chan struct{}

	// errs counts each notifier's failures in a row, by app ("" for
	// dewy's own); owned by Run's goroutine.
	errs map[string]map[string]int
}

// worker sends one notifier's queue.
type worker struct {
	t Target
	q chan Message

	sent, failed, dropped, held atomic.Uint64
	// full is set once the queue overflowed, until a message gets
	// through (so an overflow is logged once per episode).
	full atomic.Bool
	// Owned by the worker's goroutine: the kinds of failure logged since
	// the last message got through.
	logged map[string]bool
}

// New makes a Dispatcher over bus and subscribes to it.
func New(bus *event.Bus, o Options) *Dispatcher {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = DefaultSendTimeout
	}
	if o.BusBuffer <= 0 {
		o.BusBuffer = DefaultBusBuffer
	}
	d := &Dispatcher{
		o: o, workers: map[string]*worker{}, log: o.Logger.With().Str("component", "notify").Logger(),
		closing: make(chan struct{}), done: make(chan struct{}), errs: map[string]map[string]int{},
	}
	d.abortCtx, d.abort = context.WithCancel(context.Background())
	for _, t := range o.Targets {
		w := &worker{t: t, q: make(chan Message, o.QueueSize), logged: map[string]bool{}}
		d.workers[t.Name] = w
		d.order = append(d.order, w)
	}
	d.SetRoutes(o.Routes)
	d.sub = bus.Subscribe(o.BusBuffer)
	return d
}

// SetRoutes replaces who hears what (after a reload); it is safe to call
// from any goroutine. Names without a Target are logged and skipped: the
// notifiers themselves are made once, at start.
func (d *Dispatcher) SetRoutes(r Routes) {
	r = Routes{Apps: r.Apps, Agent: slices.Clone(r.Agent)}
	var unknown []string
	for _, n := range r.Agent {
		if d.workers[n] == nil && !slices.Contains(unknown, n) {
			unknown = append(unknown, n)
		}
	}
	for _, ns := range r.Apps {
		for _, n := range ns {
			if d.workers[n] == nil && !slices.Contains(unknown, n) {
				unknown = append(unknown, n)
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		d.log.Warn().Strs("notifiers", unknown).Msg("notifiers new since dewy started are not used until dewy restarts")
	}
	d.routes.Store(&r)
}

// Stats returns each notifier's counters, by its block's name. Safe to
// call from any goroutine (the metrics read it).
func (d *Dispatcher) Stats() map[string]Stats {
	out := make(map[string]Stats, len(d.workers))
	for n, w := range d.workers {
		out[n] = Stats{Sent: w.sent.Load(), Failed: w.failed.Load(), Dropped: w.dropped.Load(), Held: w.held.Load()}
	}
	return out
}

// Run routes events until Close (after which it hands on what the bus
// already delivered and waits for the queues to be sent, or for Close's
// deadline) or until ctx ends (which abandons what is queued). It returns
// once every notifier's goroutine has ended.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return nil
	}
	d.running = true
	d.mu.Unlock()
	d.run(ctx)
	return nil
}

func (d *Dispatcher) run(ctx context.Context) {
	defer close(d.done)

	var wg sync.WaitGroup
	for _, w := range d.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.send(w)
		}()
	}
	defer func() {
		d.sub.Cancel()
		for _, w := range d.order {
			close(w.q)
		}
		wg.Wait()
		d.abort()
	}()
	for {
		select {
		case e, ok := <-d.sub.C:
			if !ok {
				return
			}
			d.route(e)
		case <-d.closing:
			// Route what the bus delivered before Close (the stop event).
			for {
				select {
				case e, ok := <-d.sub.C:
					if !ok {
						return
					}
					d.route(e)
				default:
					return
				}
			}
		case <-ctx.Done():
			d.abort()
			return
		}
	}
}

// Close ends Run (or does its last part when Run never started): the
// events already published are routed and the queued
// messages (the stop message among them) are sent, until ctx ends; then
// what is still under way is cut and what is still queued dropped. It
// returns once Run has returned, with an error saying how many messages
// were left when ctx ended first.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	first := !d.closed
	d.closed = true
	running := d.running
	d.running = true
	d.mu.Unlock()
	if first {
		close(d.closing)
	}
	if !running {
		// Run has not started (and now never will): deliver here.
		go d.run(context.Background())
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
	}
	left := 0
	for _, w := range d.order {
		left += len(w.q)
	}
	d.abort()
	<-d.done
	d.log.Warn().Int("queued", left).Msg("notifications still under way when dewy had to exit were not sent")
	return fmt.Errorf("notify: %d queued message(s) not sent before the deadline", left)
}

// keptWhenQuiet says whether a quiet notifier hears an event.
func keptWhenQuiet(m Message) bool {
	return m.Failure || m.Kind == KindDeployed || m.Kind == KindRolledBack || m.Kind == KindStopped
}

// worksAgain are the events that end a run of errors: the app (or dewy)
// works again. Other non-failures do not: a download that fails at every
// poll emits deploy_started before each deploy_failed.
func worksAgain(kind string) bool {
	return kind == KindDeployed || kind == KindRestarted || kind == KindRolledBack || kind == KindStarted
}

// route hands an event to each notifier that hears it; it never blocks.
func (d *Dispatcher) route(e event.Event) {
	r := d.routes.Load()
	var names []string
	add := func(ns []string) {
		for _, n := range ns {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	add(r.Agent)
	for _, a := range e.Apps {
		add(r.Apps[a])
	}
	base := NewMessage(e, d.o.Host)
	keys := e.Apps
	if len(keys) == 0 {
		keys = []string{""}
	}
	for _, n := range names {
		w := d.workers[n]
		if w == nil {
			continue
		}
		m := base
		m.Title, m.URL = w.t.Title, w.t.URL
		if w.t.Quiet && !keptWhenQuiet(m) {
			w.held.Add(1)
			continue
		}
		errs := d.errs[n]
		if errs == nil {
			errs = map[string]int{}
			d.errs[n] = errs
		}
		switch {
		case m.Failure:
			var send bool
			var reached []string
			for _, k := range keys {
				errs[k]++
				if errs[k] <= ErrorsInARow {
					send = true
				}
				if errs[k] == ErrorsInARow {
					reached = append(reached, k)
				}
			}
			if !send {
				w.held.Add(1)
				continue
			}
			d.enqueue(w, m)
			if len(reached) > 0 {
				d.enqueue(w, suppressedMessage(m, reached))
			}
		case worksAgain(m.Kind):
			for _, k := range keys {
				delete(errs, k)
			}
			d.enqueue(w, m)
		default:
			// While every app of the event is held back, so are its other
			// events (deploy_started, exited ...): they belong to the
			// failing loop. dewy's own stop always goes out.
			held := m.Kind != KindStopped
			for _, k := range keys {
				if errs[k] < ErrorsInARow {
					held = false
				}
			}
			if held {
				w.held.Add(1)
				continue
			}
			d.enqueue(w, m)
		}
	}
}

// suppressedMessage says that the errors of apps are held back from now.
func suppressedMessage(m Message, apps []string) Message {
	s := m
	s.Kind, s.Failure, s.Hook = KindSuppressed, true, nil
	s.Apps = nil
	prefix := ""
	for _, a := range apps {
		if a != "" {
			s.Apps = append(s.Apps, a)
		}
	}
	if len(s.Apps) > 0 {
		prefix = strings.Join(s.Apps, ", ") + ": "
	}
	s.Text = fmt.Sprintf("%s%d errors in a row; further errors are suppressed until things work again", prefix, ErrorsInARow)
	return s
}

// enqueue puts m on w's queue, or drops and counts it when the queue is
// full (logged once until a message of w gets through again).
func (d *Dispatcher) enqueue(w *worker, m Message) {
	select {
	case w.q <- m:
	default:
		w.dropped.Add(1)
		if !w.full.Swap(true) {
			d.log.Warn().Str("notifier", w.t.Name).Str("to", w.t.Notifier.Name()).Int("queue", cap(w.q)).
				Msg("notification queue full (the notifier is slower than the events); messages are dropped until it catches up")
		}
	}
}

// send is one notifier's goroutine: it sends its queue in order, each
// message within SendTimeout, until the queue is closed. Once aborted it
// only counts what is left as dropped.
func (d *Dispatcher) send(w *worker) {
	for m := range w.q {
		if d.abortCtx.Err() != nil {
			w.dropped.Add(1)
			continue
		}
		ctx, cancel := context.WithTimeout(d.abortCtx, d.o.SendTimeout)
		start := time.Now()
		err := w.t.Notifier.Send(ctx, m)
		cancel()
		if err == nil {
			w.sent.Add(1)
			w.full.Store(false)
			if len(w.logged) > 0 {
				d.log.Info().Str("notifier", w.t.Name).Str("to", w.t.Notifier.Name()).Msg("notifications get through again")
				clear(w.logged)
			}
			d.log.Debug().Str("notifier", w.t.Name).Str("event", m.Kind).Str("id", m.EventID).Dur("took", time.Since(start)).Msg("notification sent")
			continue
		}
		w.failed.Add(1)
		kind := FailureKind(err)
		if d.abortCtx.Err() != nil {
			kind = "cut at exit"
		}
		l := d.log.Debug()
		if !w.logged[kind] {
			w.logged[kind] = true
			l = d.log.Warn()
		}
		l.Str("notifier", w.t.Name).Str("to", w.t.Notifier.Name()).Str("failure", kind).Str("event", m.Kind).Str("error", err.Error()).
			Msg("cannot send a notification; further failures of this kind are logged at debug until one gets through")
	}
}
