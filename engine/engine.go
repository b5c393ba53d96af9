package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/engine/deploy"
	"github.com/dewyhq/dewy/engine/event"
	"github.com/dewyhq/dewy/engine/ids"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/proc"
	"github.com/dewyhq/dewy/engine/sdnotify"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/engine/supervisor"
)

// Options are everything the engine needs from the outside world.
type Options struct {
	Plan *plan.Plan
	// Signals delivers the signals the caller registered (every signal of
	// Plan's table, registered before Run so none is lost at start-up).
	Signals <-chan os.Signal
	// Register adds signals to those delivered on Signals. The engine calls
	// it after a reload with the new table; it never unregisters a signal,
	// so a signal whose block was removed is logged instead of killing dewy.
	Register func(...os.Signal)
	// ApplyAgent applies the agent settings that can change while dewy
	// runs (log level and format) after a reload; nil ignores them.
	ApplyAgent func(plan.Agent) error
	// Reload re-reads and compiles the config file. It returns an error
	// (already explaining the diagnostics) when the file is not valid.
	Reload func(ctx context.Context) (*plan.Plan, error)
	Logger zerolog.Logger
	// Shim is the executable that sets LISTEN_PID and execs each app
	// (dewy's own, os.Executable()); empty starts apps directly.
	Shim string
	// Environ is the base environment of the apps (dewy's own).
	Environ []string
	// Notify reaches systemd when dewy runs as Type=notify; nil otherwise.
	Notify *sdnotify.Notifier
	// Events, when set, is the bus the engine publishes to; otherwise it
	// makes its own. Subscribe before Run to see every event.
	Events *event.Bus
	// IDs makes the ULIDs of events; nil makes a new source.
	IDs *ids.Source
	// Pid is dewy's pid, for the "received signal" log line.
	Pid int
	// Subreaper makes dewy the reaper of its apps' escaped grandchildren.
	Subreaper bool
	// ChildSignals delivers SIGCHLD, so orphans are reaped as they exit
	// rather than found by a periodic scan (see proc.SpawnerOptions).
	ChildSignals <-chan os.Signal
	// Scope names this agent across its restarts (see
	// proc.ContainmentOptions): with it, every process a generation starts
	// is contained (a cgroup, or an environment token) and stopped with
	// it, and what an earlier, dead instance of the agent left is stopped
	// before any socket is bound. Empty: only process groups.
	Scope string
	// NoCgroup keeps containment to the environment token.
	NoCgroup bool
	// Observer, when set, hears restarts, readiness waits, deploys and
	// polls: the metrics.
	Observer Observer
	// Banner names this agent in its "started" event: "dewy v1.2.0 with
	// /etc/dewy.hcl".
	Banner string
	// Applied, when set, is called with the new plan once a reload has
	// been applied (never for one that failed). It must not block.
	Applied func(*plan.Plan)
	// Up, when set, is called once every app's first generation has
	// settled, right after "dewy is up" is logged (cmd/dewy writes its pid
	// file there). It must not block.
	Up func()
}

// Observer hears what the supervisors and deployers do, for the metrics.
type Observer interface {
	supervisor.Observer
	deploy.Observer
}

// Engine runs a plan. Create it with New and call Run once.
type Engine struct {
	o     Options
	log   zerolog.Logger
	bus   *event.Bus
	ids   *ids.Source
	spawn *proc.Spawner

	// calls carries work to the loop goroutine, which owns the state below.
	calls    chan func()
	shutdown chan string
	loopDone chan struct{}

	// Owned by the loop goroutine.
	plan     *plan.Plan
	apps     map[string]*appRun
	running  map[syscall.Signal]bool
	pending  map[syscall.Signal]bool
	shutting bool

	// appsWG counts running supervisors; actionsWG running actions.
	appsWG    sync.WaitGroup
	actionsWG sync.WaitGroup
	// schedCtx is the scheduler's: deploys and polls run under it and stop
	// when shutdown begins.
	schedCtx    context.Context
	schedCancel context.CancelFunc
	appsCtx     context.Context
	// reloadMu serialises reloads (only one reload applies at a time).
	reloadMu sync.Mutex
	// stopping: STOPPING=1 went to systemd; no READY=1 after it.
	stopping atomic.Bool
	// deployMu guards deployers and deployLocks.
	deployMu sync.Mutex
	// deployers keep the apps with a registry on their newest release; a
	// reload replaces those whose definition changed (see deploys.go).
	deployers map[string]*deployRun
	// deployLocks serialise each app's deploys across its Deployers.
	deployLocks map[string]*sync.Mutex
	// Fixed at start for the deployers: the state folder (a new
	// state_dir takes a restart of dewy) and the host's name.
	stateDir, host string
	// shared is the fleet's shared cache (nil: local), opened for the
	// cache URL sharedURL; changed only by Run and reloads.
	shared    *cache.Shared
	sharedURL string
}

// appRun is one running supervisor and the sockets it was given. The
// engine owns the sockets, not the run: after a reload a socket may pass
// to another app's set, and the engine closes those no app lists any more.
type appRun struct {
	def   plan.App
	sup   *supervisor.Supervisor
	socks *sockets.Set
	// gens numbers the app's generations; a replacement after a reload
	// shares it, so numbers never repeat.
	gens   *supervisor.Counter
	cancel context.CancelFunc
	// waiting: started with nothing deployed, it runs nothing until its
	// deployer's first deploy.
	waiting bool
}

// New returns an engine for o.Plan.
func New(o Options) *Engine {
	if o.IDs == nil {
		o.IDs = ids.NewSource()
	}
	if o.Events == nil {
		o.Events = event.NewBus()
	}
	if o.Pid == 0 {
		o.Pid = os.Getpid()
	}
	if o.Register == nil {
		o.Register = func(...os.Signal) {}
	}
	return &Engine{
		o:           o,
		log:         o.Logger,
		bus:         o.Events,
		ids:         o.IDs,
		calls:       make(chan func()),
		shutdown:    make(chan string, 4),
		loopDone:    make(chan struct{}),
		plan:        o.Plan,
		apps:        map[string]*appRun{},
		deployers:   map[string]*deployRun{},
		deployLocks: map[string]*sync.Mutex{},
		running:     map[syscall.Signal]bool{},
		pending:     map[syscall.Signal]bool{},
	}
}

// Run supervises the plan's apps and dispatches signals until a shutdown
// action (or ctx ending) has stopped every app. It returns nil after a
// clean shutdown, or an error when the apps could not be started.
func (e *Engine) Run(ctx context.Context) error {
	subreaper := false
	if e.o.Subreaper {
		if err := proc.SetSubreaper(); err != nil {
			e.log.Warn().Err(err).Msg("cannot become a child subreaper; escaped grandchildren of apps will be reaped by init")
		} else {
			subreaper = true
		}
	}
	contain, err := e.contain(ctx, subreaper)
	if err != nil {
		return err
	}
	// The spawner outlives every supervisor: its locked thread's death
	// SIGKILLs the children it started (PR_SET_PDEATHSIG).
	spawnCtx, stopSpawner := context.WithCancel(context.WithoutCancel(ctx))
	e.spawn = proc.NewSpawner(proc.SpawnerOptions{Shim: e.o.Shim, ReapOrphans: e.o.Subreaper, ChildSignals: e.o.ChildSignals, Containment: contain, Logger: e.log})
	spawnDone := make(chan error, 1)
	go func() { spawnDone <- e.spawn.Run(spawnCtx) }()
	defer func() {
		stopSpawner()
		<-spawnDone
	}()

	e.schedCtx, e.schedCancel = context.WithCancel(context.WithoutCancel(ctx))
	defer e.schedCancel()
	var stopApps context.CancelFunc
	e.appsCtx, stopApps = context.WithCancel(context.WithoutCancel(ctx))
	defer stopApps()

	// Bind every app's sockets before starting any app: an address that
	// cannot be held stops dewy before anything ran.
	held := map[string]*sockets.Set{}
	for _, a := range e.plan.Apps {
		if len(a.Listen) == 0 {
			continue
		}
		s, err := sockets.Bind(e.appsCtx, a.Listen)
		if err != nil {
			for _, s := range held {
				_ = s.Close()
			}
			return fmt.Errorf("app %q: %w", a.Name, err)
		}
		held[a.Name] = s
	}
	e.stateDir = e.plan.Agent.StateDir
	e.host, _ = os.Hostname()
	var names []string
	for _, a := range e.plan.Apps {
		// An app deployed from a registry with nothing deployed yet waits
		// for its first release: the first poll deploys and starts it.
		e.apps[a.Name] = e.newAppRun(a, held[a.Name], nil, 0, waitsForRelease(a))
		names = append(names, a.Name)
	}
	e.startDeployers(e.plan, names)
	e.actionsWG.Add(1)
	go func() {
		defer e.actionsWG.Done()
		e.announceReady(e.appsCtx)
	}()

	err = e.loop(ctx, stopApps)
	e.actionsWG.Wait()
	e.closeSockets()
	return err
}

// leftoverTimeout is how long processes an earlier instance left get to
// stop on SIGTERM before SIGKILL.
const leftoverTimeout = 10 * time.Second

// contain prepares the containment of generations and stops what an
// earlier, dead instance of this agent left running (it may hold the
// agent's ports), before anything is bound.
func (e *Engine) contain(ctx context.Context, subreaper bool) (*proc.Containment, error) {
	if e.o.Scope == "" {
		return nil, nil
	}
	c, err := proc.NewContainment(proc.ContainmentOptions{Scope: e.o.Scope, NoCgroup: e.o.NoCgroup, Subreaper: subreaper, Logger: e.log})
	if err != nil {
		return nil, err
	}
	e.log.Debug().Str("containment", c.Mode()).Msg("every process of a generation is stopped with it")
	found, err := c.SweepLeftovers(ctx, leftoverTimeout)
	if len(found) > 0 {
		pids := make([]int, len(found))
		for i, l := range found {
			pids[i] = l.PID
		}
		e.log.Warn().Ints("pids", pids).Str("token", found[0].Token).Msg("stopped processes an earlier dewy of this config left running")
	}
	if err != nil {
		return nil, fmt.Errorf("stop processes an earlier dewy left: %w", err)
	}
	return c, nil
}

// newAppRun starts one supervisor on socks under e.appsCtx, counted in
// appsWG. gens and restarts carry a replaced app's generation counter and
// restart count over (nil and 0 for a new app). It must run on the loop
// goroutine (or before the loop starts), never after shutdown began.
func (e *Engine) newAppRun(a plan.App, socks *sockets.Set, gens *supervisor.Counter, restarts int, waitForRelease bool) *appRun {
	if gens == nil {
		gens = &supervisor.Counter{}
	}
	// The supervisor adds the "app" field to its logger itself.
	sup := supervisor.New(supervisor.Options{
		App: a, Sockets: socks, Spawner: e.spawn, Logger: e.log,
		Emit: e.emit, Environ: e.o.Environ, Generations: gens, Restarts: restarts,
		WaitForRelease: waitForRelease, Observer: e.supObserver(),
		NewID: func() string { return e.ids.New().String() },
	})
	ctx, cancel := context.WithCancel(e.appsCtx)
	r := &appRun{def: a, sup: sup, socks: socks, gens: gens, cancel: cancel, waiting: waitForRelease}
	e.appsWG.Add(1)
	go func() {
		defer e.appsWG.Done()
		if err := sup.Run(ctx); err != nil {
			e.log.Error().Err(err).Str("app", a.Name).Msg("supervisor failed")
		}
	}()
	return r
}

// supObserver is the Observer as the supervisors take it: a nil
// interface when there is none.
func (e *Engine) supObserver() supervisor.Observer {
	if e.o.Observer == nil {
		return nil
	}
	return e.o.Observer
}

// closeSockets closes every held socket (shared ones once).
func (e *Engine) closeSockets() {
	for _, a := range e.apps {
		_ = a.socks.Close()
	}
}

// emit logs an event and publishes it with a fresh ULID. The log line is
// written here, synchronously, so the log shows events in the order they
// happened (the stop event before the apps stop); subscribers (the
// notifiers, later) receive them from the bus.
func (e *Engine) emit(ev actions.Event) {
	id := e.ids.New()
	l := e.log.Info()
	if ev.Failure {
		l = e.log.Warn()
	}
	l = l.Str("event", ev.Kind).Str("id", id.String()).Strs("apps", ev.Apps)
	if ev.Version != "" {
		l = l.Str("version", ev.Version)
	}
	if ev.DeployID != "" {
		l = l.Str("deploy_id", ev.DeployID)
	}
	l.Msg(ev.Message)
	e.bus.Publish(event.Event{ID: id, Time: ulidTime(id), Event: ev})
}

// call runs fn on the loop goroutine and waits for it. It returns false
// when the loop has ended.
func (e *Engine) call(fn func()) bool {
	done := make(chan struct{})
	select {
	case e.calls <- func() { fn(); close(done) }:
		<-done
		return true
	case <-e.loopDone:
		return false
	}
}

// errEngineStopped is returned by target calls after the loop ended.
var errEngineStopped = errors.New("dewy is shutting down")
