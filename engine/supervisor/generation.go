package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/dewyhq/dewy/engine/proc"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/listener"
)

// quickExit is how soon after its start an exit looks like a start-up
// failure (for the "address already in use" hint).
const quickExit = 5 * time.Second

// startGeneration starts the next generation with the held sockets, its
// own readiness listener or notify socket, and its environment; it starts
// the goroutines that report its exit and its readiness.
// startGeneration starts a generation; restartID ("" for none) is the
// restart it belongs to, carried in its log lines.
func (s *Supervisor) startGeneration(restartID string) (*generation, error) {
	n := s.gens.Next()
	s.lastGen = n
	g := &generation{n: n}
	fail := func(err error) (*generation, error) {
		if g.readyLn != nil {
			_ = g.readyLn.Close()
		}
		g.notify.close()
		return nil, fmt.Errorf("generation %d: %w", n, err)
	}
	env, err := baseEnv(s.opts.Environ, s.app.EnvFile, s.app.Env)
	if err != nil {
		return fail(err)
	}
	if err := s.openOutput(); err != nil {
		return fail(err)
	}
	files, err := s.opts.Sockets.Files()
	if err != nil {
		return fail(err)
	}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	var extra []string
	if strings.HasPrefix(s.ready.HTTP, "/") && !s.ready.Notify {
		// The generation's own readiness listener: only it serves this
		// address, so the probe cannot be answered by the old generation.
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return fail(fmt.Errorf("readiness listener: %w", err))
		}
		g.readyLn, g.readyAddr = ln, ln.Addr().String()
		f, err := sockets.DupFile(ln.(*net.TCPListener), listener.ReadyName)
		if err != nil {
			return fail(fmt.Errorf("readiness listener: %w", err))
		}
		files = append(files, f)
		extra = append(extra, listener.ReadyName)
		env.set(listener.EnvReadyFD, strconv.Itoa(3+len(files)-1))
		env.set(listener.EnvReadyAddr, g.readyAddr)
	}
	if s.ready.Notify {
		if g.notify, err = openNotify(n); err != nil {
			return fail(err)
		}
		env.set(listener.EnvNotifySocket, g.notify.addr)
	}
	env.setPairs(s.opts.Sockets.Env(3, extra...))
	env.set(listener.EnvServerStarterGeneration, strconv.Itoa(n))
	env.set(listener.EnvApp, s.app.Name)
	env.set(listener.EnvGeneration, strconv.Itoa(n))

	spec := proc.Spec{
		Args:       s.app.Command,
		Dir:        s.app.Dir,
		Env:        env.list(),
		User:       s.app.User,
		Group:      s.app.Group,
		ExtraFiles: files,
		Member:     proc.Member{App: s.app.Name, Generation: n},
	}
	if l := s.output.Load(); l != nil {
		spec.Log = l
	} else {
		spec.Stdout, spec.Stderr = s.opts.Stdout, s.opts.Stderr
	}
	p, err := s.opts.Spawner.Start(s.runCtx, spec)
	if err != nil {
		return fail(err)
	}
	g.proc, g.pid, g.started = p, p.Pid(), s.now()
	lc := s.log.With().Int("generation", n).Int("pid", g.pid)
	if restartID != "" {
		lc = lc.Str("restart_id", restartID)
	}
	g.log = lc.Logger()
	g.ctx, g.cancel = context.WithCancel(s.runCtx)
	s.live[g] = struct{}{}

	s.wg.Add(1)
	go func() { // reports the exit; Run receives every one before returning
		defer s.wg.Done()
		<-p.Exited()
		s.events <- exitEvent{g}
		<-p.Done()
	}()
	s.watchReady(g, s.ready.Timeout)
	return g, nil
}

// openOutput opens the app's output file, unless it is open already or
// the app has none.
func (s *Supervisor) openOutput() error {
	if s.app.Output.File == "" || s.output.Load() != nil {
		return nil
	}
	log := s.log
	l, err := proc.OpenLog(s.app.Output, func(err error) {
		log.Error().Err(err).Msg("app output: rotation failed; nothing is lost")
	})
	if err != nil {
		return err
	}
	s.output.Store(l)
	return nil
}

// watchReady waits for g's readiness (bounded by timeout, unless it is 0)
// in a goroutine that reports the result as a readyEvent, and then drains
// g's notify socket. The goroutine ends with g (g.ctx).
func (s *Supervisor) watchReady(g *generation, timeout time.Duration) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.waitReady(g.ctx, g, timeout)
		select {
		case s.events <- readyEvent{g, err}:
		case <-g.ctx.Done():
			return
		}
		if err == nil && g.notify != nil {
			g.notify.drain(g)
		}
	}()
}

// onExit handles the reaping of g's leader.
func (s *Supervisor) onExit(g *generation) {
	g.exited = true
	g.cancel()
	if g.readyLn != nil {
		_ = g.readyLn.Close()
	}
	g.notify.close()
	delete(s.live, g)
	if !g.stopping {
		// Sweep what the worker left in its group.
		_ = g.proc.Kill()
	}
	lifetime := s.now().Sub(g.started)
	how := g.proc.ExitDescription()
	ev := g.log.Info()
	if !g.stopping && !s.shutting {
		ev = g.log.Warn()
	}
	ev.Str("exit", how).Dur("lifetime", lifetime.Round(time.Millisecond)).Msg("generation exited")

	op := s.op
	switch {
	case op != nil && op.cand == g && op.phase == phaseRetire:
		// The new generation died while the old one drains: the restart
		// failed, and the app comes back per its restart policy.
		op.err = fmt.Errorf("generation %d exited (%s) while generation %d was stopping", g.n, how, op.old.n)
		s.current = nil
		if !s.shutting {
			s.onCrash(g, lifetime)
		}
		s.finishOp(op.err)
	case op != nil && op.cand == g && s.current != g:
		if op.phase == phaseReady {
			op.err = fmt.Errorf("generation %d %w (%s)", g.n, errExited, how)
			s.addressHint(g, lifetime)
		}
		s.finishOp(op.err)
	case op != nil && op.old == g:
		if op.phase == phaseRetire {
			s.maybeRetired(g)
			return
		}
		// The old generation died on its own while its successor starts:
		// no crash restart, the successor is on its way.
		op.old = nil
		if s.current == g {
			s.current = nil
		}
		s.recordExit()
		s.addressHint(g, lifetime)
	case g == s.current:
		s.current = nil
		if !s.shutting {
			s.onCrash(g, lifetime)
		}
	}
}

// onReady handles a readiness result.
func (s *Supervisor) onReady(g *generation, err error) {
	if g.exited || errors.Is(err, errExited) {
		return // its exit event is on the way, or was handled
	}
	if err == nil && !g.proc.Alive() {
		return // ready only while alive: its exit event is on the way
	}
	if err != nil && g.stopping {
		// The wait was cut short by a graceful stop (shutdown): the stop
		// signal already went out and may let the generation finish the
		// requests it accepted while starting; no SIGKILL on top.
		return
	}
	op := s.op
	switch {
	case op != nil && op.cand == g && op.phase == phaseReady:
		if err != nil {
			op.err = fmt.Errorf("generation %d: %w", g.n, err)
			if old := op.old; old == nil || old.exited || old.stopping {
				// Nothing else serves: a generation that replaces none is
				// never killed for not being ready.
				s.current = g
				s.keepNotReady(g, err)
				s.finishOp(op.err)
				return
			}
			op.phase = phaseAbort
			g.log.Error().Err(err).Int("old_generation", op.old.n).Msg("new generation not ready; killing it, the old one keeps serving")
			g.stopping = true
			if kerr := g.proc.Kill(); kerr != nil {
				g.log.Error().Err(kerr).Msg("kill")
			}
			return
		}
		g.ready = true
		s.hinted = false
		old := op.old
		// The first generation an app ever runs (a deploy starting an
		// app that waited for its first release) is no restart.
		if s.startedAny || old != nil {
			s.restarts++
			s.observeRestart(restartReason(op.cause))
		}
		s.startedAny = true
		s.current = g
		g.log.Info().Msg("new generation ready")
		s.observeReady(g)
		s.setState(StateRunning)
		if old != nil && !old.exited {
			op.phase = phaseRetire
			if !old.stopping {
				s.stopGeneration(old)
			}
			return
		}
		s.finishOp(nil)
	case g == s.current && !g.ready:
		if err != nil {
			s.keepNotReady(g, err)
			return
		}
		g.ready = true
		s.hinted = false
		s.observeReady(g)
		if g.notReady {
			g.log.Info().Dur("after", s.now().Sub(g.started).Round(time.Millisecond)).Msg("generation ready")
		} else {
			g.log.Info().Msg("generation ready")
		}
		if s.op == nil {
			s.setState(StateRunning)
		}
	}
}

// keepNotReady handles a generation that missed its readiness timeout with
// no other generation to fall back to: it keeps running (killing it would
// leave nothing at all to serve), is reported as not ready, and is checked
// again, without a deadline, until it is ready or exits.
func (s *Supervisor) keepNotReady(g *generation, err error) {
	g.notReady = true
	s.setState(StateNotReady)
	g.log.Error().Err(err).Msg("generation not ready; it keeps running, as nothing else could serve, and dewy keeps checking")
	s.emit(EventNotReady, fmt.Sprintf("generation %d is not ready (%v); it keeps running and dewy keeps checking", g.n, err))
	s.watchReady(g, 0)
}

// onRestart starts a restart, or joins the pending one.
func (s *Supervisor) onRestart(r restartReq) {
	if len(s.app.Command) == 0 {
		r.reply <- nil // an assets-only app has nothing to restart
		return
	}
	if s.shutting {
		r.reply <- fmt.Errorf("app %q: %w", s.app.Name, ErrStopping)
		return
	}
	if s.op == nil {
		s.op = &restartOp{id: s.newID(), cause: r.cause, waiters: []chan error{r.reply}}
		s.beginOp()
		return
	}
	if s.pending == nil {
		s.pending = &restartOp{id: s.newID(), cause: r.cause}
		s.log.Debug().Str("cause", r.cause).Msg("restart queued behind the one in progress")
	}
	s.pending.waiters = append(s.pending.waiters, r.reply)
}

// beginOp starts s.op's new generation. A manual restart clears backoff
// and crash-loop.
func (s *Supervisor) beginOp() {
	op := s.op
	s.cancelTimer()
	if s.state == StateCrashLoop || s.state == StateBackoff {
		s.exits, s.attempt = nil, 0
	}
	old := s.current
	if old != nil && old.exited {
		old = nil
	}
	g, err := s.startGeneration(op.id)
	if err != nil {
		if old != nil {
			s.log.Error().Err(err).Str("cause", op.cause).Str("restart_id", op.id).Msg("restart: the new generation failed to start; the old one keeps serving")
		} else {
			s.log.Error().Err(err).Str("cause", op.cause).Str("restart_id", op.id).Msg("restart: the app failed to start")
		}
		s.finishOp(err)
		return
	}
	op.cand, op.old, op.phase = g, old, phaseReady
	ev := g.log.Info().Str("cause", op.cause)
	if old != nil {
		ev.Int("old_generation", old.n).Int("old_pid", old.pid).Msg("restart: new generation started beside the old one; waiting until it is ready")
		s.setState(StateRestarting)
	} else {
		ev.Msg("restart: no worker was running; new generation started")
		s.setState(StateStarting)
	}
}

// finishOp replies to the current restart's callers and starts the pending
// restart, if any.
func (s *Supervisor) finishOp(err error) {
	op := s.op
	s.op = nil
	if err != nil {
		err = fmt.Errorf("app %q: restart (%s): %w", s.app.Name, op.cause, err)
		s.log.Error().Err(err).Msg("restart failed")
		s.emit(EventGenerationFailed, err.Error())
	} else {
		s.log.Info().Str("cause", op.cause).Str("restart_id", op.id).Int("waiters", len(op.waiters)).Msg("restart complete")
	}
	// Publish the state before answering, so that a caller's Status after
	// Restart returned sees the outcome.
	if g := s.current; g != nil && !g.exited {
		switch {
		case g.ready:
			s.setState(StateRunning)
		case g.notReady:
			s.setState(StateNotReady)
		default:
			s.setState(StateStarting)
		}
	}
	for _, w := range op.waiters {
		w <- err
	}
	if s.pending != nil && !s.shutting {
		s.op, s.pending = s.pending, nil
		s.beginOp()
		return
	}
	if s.current == nil && !s.shutting && s.timerC == nil {
		// The restart was to start a missing worker and it failed.
		if s.policy.Policy == "never" {
			s.setState(StateExited)
		} else {
			s.scheduleRestart("the restart that was to start it failed")
		}
	}
}

// onCrash applies the restart policy to a current worker that exited on
// its own.
func (s *Supervisor) onCrash(g *generation, lifetime time.Duration) {
	st := g.proc.State()
	success := st != nil && st.Success()
	if !success {
		s.addressHint(g, lifetime)
	}
	switch s.policy.Policy {
	case "never":
		s.toExited(g)
		return
	case "on-failure":
		if success {
			s.toExited(g)
			return
		}
	}
	if lifetime >= s.policy.Window {
		s.attempt = 0 // it ran a whole window: it was healthy
	}
	s.scheduleRestart(fmt.Sprintf("exited after %s", lifetime.Round(time.Millisecond)))
}

func (s *Supervisor) toExited(g *generation) {
	s.cancelTimer()
	s.setState(StateExited)
	msg := fmt.Sprintf("generation %d exited (%s); restart policy %q does not start it again", g.n, g.proc.ExitDescription(), s.policy.Policy)
	g.log.Warn().Msg(msg)
	s.emit(EventExited, msg)
}

func (s *Supervisor) recordExit() {
	now := s.now()
	keep := s.exits[:0]
	for _, t := range s.exits {
		if now.Sub(t) < s.policy.Window {
			keep = append(keep, t)
		}
	}
	s.exits = append(keep, now)
}

// scheduleRestart records an exit (or a failure to start) and sets the
// timer for the next start: the backoff delay, or the crash-loop cooldown
// after Burst exits within Window. why says what happened, for the log.
func (s *Supervisor) scheduleRestart(why string) {
	s.recordExit()
	if s.policy.Burst > 0 && len(s.exits) >= s.policy.Burst {
		s.exits = nil
		s.setState(StateCrashLoop)
		msg := fmt.Sprintf("crash loop: %d exits within %s; next start in %s", s.policy.Burst, s.policy.Window, s.policy.Cooldown)
		s.log.Error().Int("exits", s.policy.Burst).Dur("window", s.policy.Window).Dur("cooldown", s.policy.Cooldown).Msg("crash loop; restarts paused")
		s.emit(EventCrashLoop, msg)
		s.setTimer(s.policy.Cooldown)
		return
	}
	d := s.backoff(s.attempt)
	s.attempt++
	s.setState(StateBackoff)
	s.log.Warn().Dur("backoff", d).Int("attempt", s.attempt).Str("why", why).Msg("app not running; starting it again after backoff")
	s.setTimer(d)
}

// addressHint explains the usual reason an app with listen addresses dies
// right after it starts: it binds them itself, and dewy already holds them.
// It applies only to a generation that failed (a non-zero exit, not a
// signal) soon after its start without ever being ready, and it is said
// once until a generation is ready again, not at every retry.
func (s *Supervisor) addressHint(g *generation, lifetime time.Duration) {
	if s.opts.Sockets.Len() == 0 || g.ready || lifetime >= quickExit || s.hinted {
		return
	}
	st := g.proc.State()
	if st == nil || st.Success() || st.ExitCode() < 0 {
		return // succeeded, or was killed by a signal
	}
	s.hinted = true
	var raw []string
	for _, a := range s.opts.Sockets.ListenAddrs() {
		if a.Raw != "" {
			raw = append(raw, a.Raw)
		} else {
			raw = append(raw, a.Address)
		}
	}
	g.log.Error().Strs("listen", raw).Dur("lifetime", lifetime.Round(time.Millisecond)).
		Msg("the app failed soon after it started while dewy holds its listen addresses; " +
			"if it said \"address already in use\", it binds them itself: it must take the sockets dewy passes, " +
			"described in SERVER_STARTER_PORT (Server::Starter) or LISTEN_FDS and LISTEN_FDNAMES (systemd socket activation)")
}
