package supervisor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/proc"
	"github.com/dewyhq/dewy/engine/sockets"
)

// States reported by Status.
const (
	StateStarting   = "starting"   // a generation runs but is not ready yet, and none serves
	StateNotReady   = "not-ready"  // the only generation missed its readiness timeout; it runs and is still checked
	StateWaiting    = "waiting"    // no release is deployed yet: the first deploy starts the app
	StateAssets     = "assets"     // no process: a folder of files its deployer keeps on the newest release
	StateRunning    = "running"    // the current generation is ready
	StateRestarting = "restarting" // a new generation starts beside the serving one
	StateBackoff    = "backoff"    // no worker; the next start waits for the backoff delay
	StateCrashLoop  = "crash-loop" // no worker; too many exits, waiting for the cooldown
	StateStopping   = "stopping"   // shutting down
	StateStopped    = "stopped"    // Run has returned
	StateExited     = "exited"     // no worker, and the restart policy says not to start one
)

// Kinds of the events the supervisor emits.
const (
	// EventGenerationFailed: a new generation died or was not ready in
	// time during a restart; it was killed and the old one keeps serving.
	EventGenerationFailed = "generation_failed"
	// EventCrashLoop: Burst exits within Window; restarts pause for Cooldown.
	EventCrashLoop = "crash_loop"
	// EventExited: the worker exited and the policy does not restart it.
	EventExited = "exited"
	// EventNotReady: a generation with none to replace it missed its
	// readiness timeout; it keeps running and dewy keeps checking it.
	EventNotReady = "not_ready"
	// EventStartFailed: a generation could not be started (command not
	// found, unknown user, unreadable env_file, output folder missing); it
	// is retried with backoff. Said once per distinct cause.
	EventStartFailed = "start_failed"
)

// Errors callers branch on.
var (
	// ErrStopping is returned by Restart once shutdown has begun.
	ErrStopping = errors.New("app is stopping")
	// ErrNotRunning is returned when Run has returned.
	ErrNotRunning = errors.New("supervisor is not running")
	// ErrNoWorker is returned by Signal when no worker runs.
	ErrNoWorker = errors.New("app has no running worker")
)

// Options configure a Supervisor.
type Options struct {
	App plan.App
	// Sockets are the app's held listeners; nil or empty for an app without
	// listen addresses. The supervisor never closes them.
	Sockets *sockets.Set
	// Spawner starts the generations. It must be running (starts block
	// until it takes them) and must keep running until Run has returned:
	// when it stops, the kernel SIGKILLs every child it started.
	Spawner *proc.Spawner
	Logger  zerolog.Logger
	// Emit receives events (EventCrashLoop, ...). It is called from the
	// supervisor's goroutine and must not block. Nil drops them.
	Emit func(actions.Event)
	// Now is the clock for uptimes and the crash window (nil: time.Now).
	Now func() time.Time
	// Environ is dewy's own environment, the base of every generation's,
	// as for exec.Cmd.Env: nil means os.Environ().
	Environ []string
	// Generations numbers the generations (nil: a counter of its own,
	// from 1). A supervisor that replaces another after a reload shares its
	// predecessor's counter, so that no two generations of an app ever get
	// the same SERVER_STARTER_GENERATION, even while both supervisors run.
	Generations *Counter
	// Restarts is where the restart count starts (a replacement after a
	// reload goes on from its predecessor's).
	Restarts int
	// NewID names each restart (a ULID) for its log lines; nil: none.
	NewID func() string
	// Observer, when set, hears restarts and readiness waits (metrics).
	Observer Observer
	// WaitForRelease starts no generation until the first Restart: an app
	// whose release is not deployed yet has nothing to run.
	WaitForRelease bool
	// Stdout and Stderr receive the app's output when App.Output.File is
	// empty (nil: os.Stdout and os.Stderr).
	Stdout, Stderr *os.File
}

// Observer hears what the metrics count. Its methods are called from the
// supervisor's goroutine and must not block.
type Observer interface {
	// Restarted: a new generation took over; reason is signal, api,
	// deploy, crash, reload or other.
	Restarted(app, reason string)
	// Ready: a generation became ready wait after it started.
	Ready(app string, wait time.Duration)
}

// restartReason classes a restart's cause for the metrics.
func restartReason(cause string) string {
	switch {
	case strings.HasPrefix(cause, "SIG"):
		return "signal"
	case strings.HasPrefix(cause, "dewy "):
		return "api"
	case strings.HasPrefix(cause, "deploy "), strings.HasPrefix(cause, "rollback "):
		return "deploy"
	default:
		return "other"
	}
}

func (s *Supervisor) newID() string {
	if s.opts.NewID == nil {
		return ""
	}
	return s.opts.NewID()
}

func (s *Supervisor) observeRestart(reason string) {
	if o := s.opts.Observer; o != nil {
		o.Restarted(s.app.Name, reason)
	}
}

func (s *Supervisor) observeReady(g *generation) {
	if o := s.opts.Observer; o != nil {
		o.Ready(s.app.Name, s.now().Sub(g.started))
	}
}

// Supervisor is the actor that runs one app: its generations, graceful
// restarts, crash restarts and shutdown. One goroutine, Run's, owns all of
// its state; the other methods send it requests. Create it with New and
// call Run once.
type Supervisor struct {
	opts   Options
	app    plan.App
	ready  plan.Ready
	stop   plan.Stop
	policy plan.RestartPolicy
	log    zerolog.Logger
	now    func() time.Time
	gens   *Counter

	reqs     chan any
	events   chan any
	killCh   chan struct{}
	killOnce sync.Once
	done     chan struct{}
	started  atomic.Bool
	snap     atomic.Pointer[snapshot]
	// output is the app's output file once a start opened it.
	output atomic.Pointer[proc.Log]

	// Owned by Run's goroutine.
	runCtx     context.Context
	stopCtx    context.Context
	stopCancel context.CancelFunc
	wg         sync.WaitGroup
	live       map[*generation]struct{}
	current    *generation
	op         *restartOp
	pending    *restartOp
	startedAny bool
	hinted     bool // the address hint was logged since a generation was last ready
	lastGen    int
	// lastErr is why the last start failed; "" after a start.
	lastErr  string
	restarts int
	state    string
	exits    []time.Time
	attempt  int
	timer    *time.Timer
	timerC   <-chan time.Time
	shutting bool
	stops    int // stop goroutines whose stopDoneEvent has not arrived
}

// generation is one started instance of the app.
type generation struct {
	n         int
	pid       int
	proc      *proc.Process
	log       zerolog.Logger
	started   time.Time
	readyLn   interface{ Close() error }
	readyAddr string
	notify    *notifySocket
	ctx       context.Context
	cancel    context.CancelFunc

	// Owned by Run's goroutine.
	ready    bool
	notReady bool // missed its readiness timeout and was kept (keepNotReady)
	exited   bool
	stopping bool
	stopDone bool
}

type restartPhase int

const (
	phaseReady  restartPhase = iota // waiting for the candidate to be ready
	phaseAbort                      // candidate failed and was killed; waiting for its exit
	phaseRetire                     // candidate promoted; waiting for the old one to exit
)

// restartOp is one graceful restart and everyone waiting for its result.
type restartOp struct {
	// id names the restart in its log lines (restart_id).
	id      string
	cause   string
	waiters []chan error
	cand    *generation
	old     *generation
	phase   restartPhase
	err     error
}

type restartReq struct {
	cause string
	reply chan error
}

type signalReq struct {
	sig   syscall.Signal
	reply chan error
}

type exitEvent struct{ g *generation }

type stopDoneEvent struct {
	g   *generation
	err error
}

type readyEvent struct {
	g   *generation
	err error
}

type snapshot struct {
	lastErr    string
	state      string
	pid        int
	generation int
	since      time.Time
	restarts   int
}

// Counter hands out an app's generation numbers, 1, 2, 3, ..., never the
// same one twice. It is safe for concurrent use; its zero value starts at 1.
type Counter struct{ n atomic.Int64 }

// Next returns the next generation number.
func (c *Counter) Next() int { return int(c.n.Add(1)) }

// Last returns the number handed out last (0 before the first).
func (c *Counter) Last() int { return int(c.n.Load()) }

// New returns a supervisor for o.App. Zero values in the app's Ready, Stop
// and Restart settings take the defaults documented in the package comment.
func New(o Options) *Supervisor {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Generations == nil {
		o.Generations = &Counter{}
	}
	o.App = o.App.Complete()
	s := &Supervisor{
		opts:     o,
		app:      o.App,
		ready:    o.App.Ready,
		stop:     o.App.Stop,
		policy:   o.App.Restart,
		log:      o.Logger.With().Str("app", o.App.Name).Logger(),
		now:      o.Now,
		gens:     o.Generations,
		restarts: o.Restarts,
		reqs:     make(chan any),
		events:   make(chan any),
		killCh:   make(chan struct{}),
		done:     make(chan struct{}),
		live:     map[*generation]struct{}{},
		state:    StateStarting,
	}
	s.snap.Store(&snapshot{state: StateStarting})
	return s
}

// Run starts generation 1 and supervises the app until ctx ends or Kill is
// called. Then it stops every live generation at once (the stop signal to
// its process group, SIGKILL after the stop timeout; SIGKILL at once after
// Kill) and returns only when every child has been reaped and every
// goroutine it started has finished. It returns nil after a shutdown, or
// an error if it could not begin (Run was called twice).
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return fmt.Errorf("app %q: Supervisor.Run called twice", s.app.Name)
	}
	defer close(s.done)
	// The output file is opened by the first start that can (see
	// openOutput): a missing folder is a start failure, retried.
	defer func() {
		if l := s.output.Load(); l != nil {
			_ = l.Close()
		}
	}()
	s.runCtx = ctx
	s.stopCtx, s.stopCancel = context.WithCancel(context.WithoutCancel(ctx))
	defer s.stopCancel()

	switch {
	case ctx.Err() != nil:
	case len(s.app.Command) == 0:
		// An assets-only app: nothing to run, ever; restarts are no-ops.
		s.setState(StateAssets)
	case s.opts.WaitForRelease:
		s.setState(StateWaiting)
	default:
		select {
		case <-s.killCh:
		default:
			s.startWorker("start")
		}
	}
	ctxDone, killCh := ctx.Done(), s.killCh
	for !s.shutting || len(s.live) > 0 || s.stops > 0 {
		select {
		case <-ctxDone:
			ctxDone = nil
			s.beginShutdown("context ended")
		case <-killCh:
			killCh = nil
			s.kill()
		case ev := <-s.events:
			switch ev := ev.(type) {
			case exitEvent:
				s.onExit(ev.g)
			case readyEvent:
				s.onReady(ev.g, ev.err)
			case stopDoneEvent:
				s.onStopDone(ev.g, ev.err)
			}
		case r := <-s.reqs:
			s.onRequest(r)
		case <-s.timerC:
			s.timerC = nil
			s.onTimer()
		}
		s.publish()
	}
	s.stopCancel()
	s.wg.Wait()
	s.setState(StateStopped)
	s.log.Info().Msg("app stopped")
	return nil
}

// Restart gracefully restarts the app and blocks until that restart
// succeeded (the new generation is ready and the old one has exited) or
// failed (the new one died or was not ready in time; the old one keeps
// serving). A call made while a restart runs joins the one pending restart
// that follows it. With no worker running (backoff, crash-loop, exited) it
// starts one at once. When ctx ends the call returns ctx.Err(), but the
// restart it asked for still happens.
func (s *Supervisor) Restart(ctx context.Context, cause string) error {
	reply := make(chan error, 1)
	select {
	case s.reqs <- restartReq{cause: cause, reply: reply}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrNotRunning
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		select {
		case err := <-reply:
			return err
		default:
			return ErrStopping
		}
	}
}

// Signal sends sig to the current worker's process group.
func (s *Supervisor) Signal(sig syscall.Signal) error {
	reply := make(chan error, 1)
	select {
	case s.reqs <- signalReq{sig: sig, reply: reply}:
	case <-s.done:
		return ErrNotRunning
	}
	return <-reply
}

// Status returns the app's state. It never blocks.
func (s *Supervisor) Status() actions.AppStatus {
	sn := s.snap.Load()
	st := actions.AppStatus{
		Name:       s.app.Name,
		State:      sn.state,
		PID:        sn.pid,
		Generation: sn.generation,
		Restarts:   sn.restarts,
		LastError:  sn.lastErr,
	}
	if sn.pid > 0 {
		st.Uptime = s.now().Sub(sn.since)
	}
	return st
}

// ReopenLogs reopens the app's output file (after logrotate moved it). It
// does nothing for an app whose output is dewy's own.
func (s *Supervisor) ReopenLogs() error {
	l := s.output.Load()
	if l == nil {
		return nil
	}
	if err := l.Reopen(); err != nil {
		return fmt.Errorf("app %q: %w", s.app.Name, err)
	}
	return nil
}

// Kill is the second shutdown signal: it SIGKILLs every generation's
// process group now, and Run returns as soon as they are reaped. It may be
// called at any time, more than once.
func (s *Supervisor) Kill() {
	s.killOnce.Do(func() { close(s.killCh) })
}

// Done is closed when Run has returned.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

func (s *Supervisor) setState(st string) {
	s.state = st
	s.publish()
}

func (s *Supervisor) publish() {
	sn := &snapshot{state: s.state, restarts: s.restarts, generation: s.lastGen, lastErr: s.lastErr}
	if g := s.current; g != nil && !g.exited {
		sn.pid, sn.generation, sn.since = g.pid, g.n, g.started
	}
	s.snap.Store(sn)
}

func (s *Supervisor) emit(kind, msg string) {
	if s.opts.Emit != nil {
		failure := kind == EventCrashLoop || kind == EventNotReady || kind == EventStartFailed || kind == EventGenerationFailed
		s.opts.Emit(actions.Event{Kind: kind, Message: fmt.Sprintf("%s: %s", s.app.Name, msg), Apps: []string{s.app.Name}, Failure: failure})
	}
}

func (s *Supervisor) onRequest(r any) {
	switch r := r.(type) {
	case restartReq:
		s.onRestart(r)
	case signalReq:
		g := s.current
		if g == nil || g.exited {
			r.reply <- fmt.Errorf("app %q: %w", s.app.Name, ErrNoWorker)
			return
		}
		if err := g.proc.Signal(r.sig); err != nil {
			r.reply <- fmt.Errorf("app %q: %w", s.app.Name, err)
			return
		}
		g.log.Debug().Str("signal", actions.SignalString(r.sig)).Msg("signal sent to the worker's process group")
		r.reply <- nil
	}
}

// beginShutdown stops every live generation concurrently and fails the
// restarts that wait.
func (s *Supervisor) beginShutdown(why string) {
	if s.shutting {
		return
	}
	s.shutting = true
	s.log.Info().Str("reason", why).Int("generations", len(s.live)).Msg("stopping the app")
	s.setState(StateStopping)
	s.cancelTimer()
	for _, op := range []*restartOp{s.op, s.pending} {
		if op != nil {
			for _, w := range op.waiters {
				w <- fmt.Errorf("app %q: %w", s.app.Name, ErrStopping)
			}
		}
	}
	s.op, s.pending = nil, nil
	for g := range s.live {
		if !g.stopping {
			s.stopGeneration(g)
		}
	}
}

// kill SIGKILLs everything: graceful stops in progress end at once.
func (s *Supervisor) kill() {
	s.beginShutdown("kill")
	s.log.Warn().Int("generations", len(s.live)).Msg("killing the app's process groups now")
	s.stopCancel()
	for g := range s.live {
		if err := g.proc.Kill(); err != nil {
			g.log.Error().Err(err).Msg("kill")
		}
	}
}

// stopGeneration sends g its stop signal and SIGKILL after the stop timeout,
// from a goroutine whose result arrives as a stopDoneEvent (g's exit
// arrives as an exitEvent, in either order). Run receives both.
func (s *Supervisor) stopGeneration(g *generation) {
	g.stopping = true
	g.log.Info().Str("signal", actions.SignalString(s.stop.Signal)).Dur("timeout", s.stop.Timeout).Msg("stopping generation")
	s.stops++
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.events <- stopDoneEvent{g, g.proc.Stop(s.stopCtx, s.stop.Signal, s.stop.Timeout)}
	}()
}

func (s *Supervisor) onStopDone(g *generation, err error) {
	s.stops--
	g.stopDone = true
	switch {
	case errors.Is(err, proc.ErrKilled):
		g.log.Warn().Err(err).Msg("generation did not stop in time and was killed")
	case err != nil && s.stopCtx.Err() == nil:
		g.log.Error().Err(err).Msg("stop generation")
	case err == nil:
		g.log.Debug().Msg("generation stopped")
	}
	s.maybeRetired(g)
}

// maybeRetired finishes a restart once the generation it replaces has
// exited and its stop (which waits for the rest of its process group) is
// over.
func (s *Supervisor) maybeRetired(g *generation) {
	if op := s.op; op != nil && op.old == g && op.phase == phaseRetire && g.exited && g.stopDone {
		s.finishOp(nil)
	}
}

func (s *Supervisor) cancelTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer, s.timerC = nil, nil
	}
}

func (s *Supervisor) setTimer(d time.Duration) {
	s.cancelTimer()
	s.timer = time.NewTimer(d)
	s.timerC = s.timer.C
}

// onTimer starts a worker after a backoff or a crash-loop cooldown.
func (s *Supervisor) onTimer() {
	s.timer = nil
	if s.shutting || s.op != nil || s.current != nil {
		return
	}
	s.startWorker("restart after exit")
}

// startWorker starts a generation as the current worker, when none runs
// and no restart is in flight. A failure to start counts as an exit.
func (s *Supervisor) startWorker(why string) {
	g, err := s.startGeneration("")
	if err != nil {
		// A start failure is a crash like any other: retried with backoff,
		// shown in Status. The same cause again is not logged again at
		// error: the backoff line says the app is still down.
		cause := err.Error()
		if inner := errors.Unwrap(err); inner != nil {
			cause = inner.Error() // without "generation N: ", which changes
		}
		if cause != s.lastErr {
			s.log.Error().Err(err).Msg("app failed to start")
			s.emit(EventStartFailed, "failed to start: "+cause)
		} else {
			s.log.Debug().Err(err).Msg("still cannot start the app: same cause")
		}
		s.lastErr = cause
		s.scheduleRestart("failed to start: " + cause)
		return
	}
	s.lastErr = ""
	switch {
	case s.startedAny:
		s.restarts++
		s.observeRestart("crash")
	case s.opts.Restarts > 0:
		// The first generation of a supervisor a reload made.
		s.observeRestart("reload")
	}
	s.startedAny = true
	s.current = g
	g.log.Info().Str("reason", why).Msg("generation started")
	s.setState(StateStarting)
}

// backoff is the delay before restart attempt n (0-based): Initial doubled
// n times, capped at Max, then spread by ±Jitter.
func (s *Supervisor) backoff(n int) time.Duration {
	d := s.policy.Initial
	for i := 0; i < n && d < s.policy.Max; i++ {
		d *= 2
	}
	if d > s.policy.Max {
		d = s.policy.Max
	}
	if j := s.policy.Jitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
	}
	return d
}
