package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/supervisor"
)

// The agent's own events.
const (
	// EventStarted: every app's first generation settled ("dewy v1.2.0
	// with /etc/dewy.hcl started: 2/2 apps running").
	EventStarted = "started"
	// EventStopped: the shutdown began ("stopped by SIGTERM").
	EventStopped = "stopped"
)

// loop is the engine's one owner goroutine: it receives signals and turns
// them into actions, runs calls from actions against the engine's state,
// and carries out the shutdown sequence. It returns once every app has
// stopped after a shutdown.
func (e *Engine) loop(ctx context.Context, stopApps context.CancelFunc) error {
	defer close(e.loopDone)
	actionDone := make(chan syscall.Signal)
	var appsDone chan struct{}
	ctxDone := ctx.Done()
	for {
		select {
		case sig, ok := <-e.o.Signals:
			if !ok {
				e.o.Signals = nil
				continue
			}
			s, isSys := sig.(syscall.Signal)
			e.log.Debug().Int("pid", e.o.Pid).Str("signal", signalName(sig)).Msg("received signal")
			if !isSys {
				continue
			}
			e.dispatch(ctx, s, actionDone)
		case s := <-actionDone:
			e.running[s] = false
			if e.pending[s] {
				e.pending[s] = false
				e.dispatch(ctx, s, actionDone)
			}
		case fn := <-e.calls:
			fn()
		case <-ctxDone:
			ctxDone = nil
			e.beginShutdown("context ended", stopApps, &appsDone)
		case cause := <-e.shutdown:
			if e.shutting {
				e.log.Warn().Str("cause", cause).Msg("second shutdown signal: killing every app's process group now")
				for _, a := range e.apps {
					a.sup.Kill()
				}
				continue
			}
			e.beginShutdown(cause, stopApps, &appsDone)
		case <-appsDone:
			e.log.Info().Msg("all apps stopped; dewy exits")
			return nil
		}
	}
}

// dispatch looks sig up in the signal table and runs its action, unless an
// action for the same signal is still running: then it is marked pending,
// so any number of signals during one run cause exactly one more run
// (coalesced, never dropped, never stacked).
func (e *Engine) dispatch(ctx context.Context, sig syscall.Signal, done chan<- syscall.Signal) {
	entry, ok := e.plan.Signals.Lookup(sig)
	if !ok {
		name := signalName(sig)
		e.log.Warn().Str("signal", name).Msg("no action for " + name + "; ignored")
		return
	}
	if e.shutting && entry.Action.Name != actions.Shutdown {
		e.log.Info().Str("signal", signalName(sig)).Str("action", string(entry.Action.Name)).Msg("shutting down; action not run")
		return
	}
	if e.running[sig] {
		if !e.pending[sig] {
			e.log.Debug().Str("signal", signalName(sig)).Msg("action still running; one more run queued")
		}
		e.pending[sig] = true
		return
	}
	e.running[sig] = true
	act := actions.Build(entry.Action)
	t := &target{e: e}
	e.actionsWG.Add(1)
	go func() {
		defer e.actionsWG.Done()
		err := act.Run(e.schedCtxFor(ctx, entry.Action.Name), t, actions.Trigger{Signal: sig})
		switch {
		case err == nil:
		case errors.Is(err, supervisor.ErrStopping), errors.Is(err, errEngineStopped):
			e.log.Info().Err(err).Str("signal", signalName(sig)).Str("action", entry.Action.String()).Msg("action cut short by the shutdown")
		default:
			e.log.Error().Err(err).Str("signal", signalName(sig)).Str("action", entry.Action.String()).Msg("action failed")
		}
		select {
		case done <- sig:
		case <-e.loopDone:
		}
	}()
}

// schedCtxFor gives deploys, rollbacks and reloads the scheduler's
// context, so shutdown stops them (a TERM during the load of a huge file
// wins at once); other actions run until they finish.
func (e *Engine) schedCtxFor(ctx context.Context, name actions.Name) context.Context {
	if name == actions.Deploy || name == actions.Rollback || name == actions.Reload {
		return e.schedCtx
	}
	return context.WithoutCancel(ctx)
}

// beginShutdown runs the seed's sequence: stop the scheduler (no new
// deploy starts), emit the stop event, tell systemd, stop every app
// gracefully and concurrently. The loop returns when they have stopped.
func (e *Engine) beginShutdown(cause string, stopApps context.CancelFunc, appsDone *chan struct{}) {
	e.shutting = true
	e.schedCancel()
	e.log.Info().Str("cause", cause).Msg("shutting down: scheduler stopped, stopping apps")
	var names []string
	for n := range e.apps {
		names = append(names, n)
	}
	e.emit(actions.Event{Kind: EventStopped, Message: "stopped by " + cause, Apps: sortStrings(names)})
	e.sdNotify("STOPPING=1")
	stopApps()
	done := make(chan struct{})
	*appsDone = done
	e.actionsWG.Add(1)
	go func() {
		defer e.actionsWG.Done()
		e.appsWG.Wait()
		close(done)
	}()
}

// announceReady tells systemd READY=1 once every app's first generation is
// running or has failed its first start (a broken app must not hold the
// whole host's start-up hostage; it is reported by its supervisor).
func (e *Engine) announceReady(ctx context.Context) {
	var sups []*supervisor.Supervisor
	if !e.call(func() {
		for _, a := range e.apps {
			sups = append(sups, a.sup)
		}
	}) {
		return
	}
	var wg sync.WaitGroup
	for _, s := range sups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitSettled(ctx, s)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	status := e.statusLine()
	e.sdNotify("READY=1\nSTATUS=" + status)
	e.log.Info().Str("apps", status).Msg("dewy is up")
	banner := e.o.Banner
	if banner == "" {
		banner = "dewy"
	}
	var names []string
	e.call(func() {
		for n := range e.apps {
			names = append(names, n)
		}
	})
	e.emit(actions.Event{Kind: EventStarted, Message: fmt.Sprintf("%s started: %s", banner, status), Apps: sortStrings(names)})
	if e.o.Up != nil {
		e.o.Up()
	}
}

// waitSettled returns when the supervisor's first start has settled:
// running, or no longer trying right now. It polls Status a few times a
// second only until then.
func waitSettled(ctx context.Context, s *supervisor.Supervisor) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		switch s.Status().State {
		case supervisor.StateRunning, supervisor.StateAssets:
			return true
		case supervisor.StateBackoff, supervisor.StateCrashLoop, supervisor.StateExited, supervisor.StateStopped, supervisor.StateNotReady, supervisor.StateWaiting:
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-s.Done():
			return false
		case <-t.C:
		}
	}
}

func signalName(s os.Signal) string {
	if ss, ok := s.(syscall.Signal); ok {
		return plan.SignalName(ss)
	}
	return s.String()
}

func ulidTime(id ulid.ULID) time.Time { return ulid.Time(id.Time()) }
