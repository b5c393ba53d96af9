package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/engine/supervisor"
)

// A reload is computed as data first (planReload), then applied in phases,
// each of which can be undone until the last:
//
//  1. bind:   hold every address no running app holds yet;
//  2. start:  start a supervisor for each new or changed app, on sockets
//     matched by address (whatever app held them before) or just bound;
//  3. wait:   until every one of them is ready;
//  4. commit: the new plan and supervisors take over;
//  5. retire: stop the old supervisors of changed and removed apps, then
//     close the sockets no app lists any more.
//
// A failure before commit stops what this reload started and closes only
// the sockets it bound: everything keeps running as it was. A changed app
// is therefore never down during a reload, even when its addresses change
// or move to another app: for a while both supervisors serve.

// change is what a reload does to one app.
type change int

const (
	keep    change = iota // unchanged: left running, untouched
	add                   // new app: started
	replace               // changed: a new supervisor starts beside the old one, which is retired once the new one is ready
	remove                // gone from the file: stopped
)

func (c change) String() string {
	return [...]string{"keep", "add", "replace", "remove"}[c]
}

// appStep is what a reload does to one app.
type appStep struct {
	name   string
	change change
	def    plan.App // the new definition (zero for remove)
}

// reloadPlan is a whole reload, decided before anything changes.
type reloadPlan struct {
	next  *plan.Plan
	steps []appStep // sorted by name
	// bind are the addresses the new plan lists that no running app holds.
	bind []plan.ListenAddr
	// unused are the keys of held sockets no app of the new plan lists.
	unused []string
	// agentLive and agentRestart name the agent settings that changed and
	// are applied now, or need a restart of dewy.
	agentLive, agentRestart []string
}

// sameApp compares two definitions, ignoring where they were written.
func sameApp(a, b plan.App) bool {
	a.Origin, b.Origin = "", ""
	return reflect.DeepEqual(a, b)
}

// planReload compares the running apps (their definitions and the keys of
// the sockets they hold) with next. It is a pure function.
func planReload(running map[string]plan.App, held map[string]bool, cur, next *plan.Plan) reloadPlan {
	rp := reloadPlan{next: next}
	for _, a := range next.Apps {
		prev, ok := running[a.Name]
		switch {
		case !ok:
			rp.steps = append(rp.steps, appStep{name: a.Name, change: add, def: a})
		case sameApp(prev, a):
			rp.steps = append(rp.steps, appStep{name: a.Name, change: keep, def: a})
		default:
			rp.steps = append(rp.steps, appStep{name: a.Name, change: replace, def: a})
		}
	}
	for name := range running {
		if _, ok := next.App(name); !ok {
			rp.steps = append(rp.steps, appStep{name: name, change: remove})
		}
	}
	sort.Slice(rp.steps, func(i, j int) bool { return rp.steps[i].name < rp.steps[j].name })

	wanted := map[string]bool{}
	for _, a := range next.Apps {
		for _, la := range a.Listen {
			k := sockets.Key(la)
			if !held[k] && !wanted[k] {
				rp.bind = append(rp.bind, la)
			}
			wanted[k] = true
		}
	}
	for k := range held {
		if !wanted[k] {
			rp.unused = append(rp.unused, k)
		}
	}
	sort.Strings(rp.unused)

	if cur != nil {
		ca, na := cur.Agent, next.Agent
		if ca.LogLevel != na.LogLevel {
			rp.agentLive = append(rp.agentLive, "log_level")
		}
		if ca.LogFormat != na.LogFormat {
			rp.agentLive = append(rp.agentLive, "log_format")
		}
		if ca.StateDir != na.StateDir {
			rp.agentRestart = append(rp.agentRestart, "state_dir")
		}
		if ca.AdminSocket != na.AdminSocket {
			rp.agentRestart = append(rp.agentRestart, "admin_socket")
		}
	}
	return rp
}

func (rp reloadPlan) count(c change) int {
	n := 0
	for _, st := range rp.steps {
		if st.change == c {
			n++
		}
	}
	return n
}

// reloadRun is the state of one reload being applied.
type reloadRun struct {
	rp  reloadPlan
	cur *plan.Plan
	// held maps every socket the engine holds, and those bound by this
	// reload, by key.
	held map[string]*sockets.Socket
	// bound are the sockets this reload bound (closed on abort).
	bound []*sockets.Socket
	// prev are the running apps when the reload began.
	prev map[string]*appRun
	// started are the supervisors this reload started, by app.
	started map[string]*appRun
}

// reload re-reads the config and applies it in phases (see the top of this
// file). A file with errors changes nothing.
func (e *Engine) reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if e.o.Reload == nil {
		return errors.New("reload: dewy was started without a config file to re-read")
	}
	next, err := e.o.Reload(ctx)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("reload abandoned: %w", errEngineStopped)
	}
	if err != nil {
		e.log.Error().Err(err).Msg("reload: the config file has errors; everything keeps running as it is")
		return fmt.Errorf("reload: %w", err)
	}
	var cur *plan.Plan
	if !e.call(func() { cur = e.plan }) {
		return errEngineStopped
	}
	// The deployers of apps this reload changes are paused first: no
	// deploy may restart a supervisor the reload is replacing. Whatever
	// the outcome, they come back for the plan then running.
	e.deployMu.Lock()
	redeploy := redeploys(next, e.deployers)
	e.deployMu.Unlock()
	if len(redeploy) > 0 {
		e.log.Info().Strs("apps", redeploy).Msg("reload: pausing the deploys of the apps whose deployer changes")
	}
	resume := e.pauseDeploys(redeploy)
	applied := cur
	defer func() {
		e.startDeployers(applied, redeploy)
		resume()
	}()
	e.sdNotify("RELOADING=1\nMONOTONIC_USEC=" + monotonicUsec())
	defer func() { e.sdNotify("READY=1\nSTATUS=" + e.statusLine()) }()

	r := &reloadRun{started: map[string]*appRun{}}
	if !e.call(func() { r.snapshot(e) }) {
		return errEngineStopped
	}
	rp := planReload(r.definitions(), r.heldKeys(), r.cur, next)
	r.rp = rp

	if err := r.bindNew(e.appsCtx); err != nil {
		return e.abortReload(r, err)
	}
	if err := r.startNew(e); err != nil {
		return e.abortReload(r, err)
	}
	if err := r.waitReady(ctx); err != nil {
		return e.abortReload(r, err)
	}
	retired, ok := r.commit(e)
	if !ok {
		return e.abortReload(r, errEngineStopped)
	}
	applied = next
	e.applyAgent(rp)
	var sigs []os.Signal
	for _, s := range next.Signals.Signals() {
		sigs = append(sigs, s)
	}
	e.o.Register(sigs...)
	r.retire(retired)
	if e.o.Applied != nil {
		e.o.Applied(next)
	}
	e.log.Info().Int("started", rp.count(add)).Int("replaced", rp.count(replace)).Int("stopped", rp.count(remove)).
		Int("unchanged", rp.count(keep)).Int("bound", len(rp.bind)).Int("closed", len(rp.unused)).Msg("reload applied")
	return nil
}

// snapshot records the running apps and every held socket; on the loop.
func (r *reloadRun) snapshot(e *Engine) {
	r.cur = e.plan
	r.prev = map[string]*appRun{}
	r.held = map[string]*sockets.Socket{}
	for n, a := range e.apps {
		r.prev[n] = a
		for _, s := range a.socks.Sockets() {
			r.held[sockets.Key(s.ListenAddr())] = s
		}
	}
}

func (r *reloadRun) definitions() map[string]plan.App {
	out := map[string]plan.App{}
	for n, a := range r.prev {
		out[n] = a.def
	}
	return out
}

func (r *reloadRun) heldKeys() map[string]bool {
	out := map[string]bool{}
	for k := range r.held {
		out[k] = true
	}
	return out
}

// bindNew is phase 1: hold every address no running app holds. On error the
// sockets it bound are closed by the abort.
func (r *reloadRun) bindNew(ctx context.Context) error {
	for _, la := range r.rp.bind {
		s, err := sockets.Listen(ctx, la)
		if err != nil {
			return err
		}
		r.bound = append(r.bound, s)
		r.held[sockets.Key(la)] = s
	}
	return nil
}

// setFor is the socket set of a new definition, in its listen order.
func (r *reloadRun) setFor(a plan.App) *sockets.Set {
	if len(a.Listen) == 0 {
		return nil
	}
	socks := make([]*sockets.Socket, len(a.Listen))
	for i, la := range a.Listen {
		socks[i] = r.held[sockets.Key(la)]
	}
	return sockets.NewSet(socks...)
}

// startNew is phase 2: a supervisor for every new or changed app, beside
// the running ones. A replacement shares its predecessor's generation
// counter and goes on from its restart count.
func (r *reloadRun) startNew(e *Engine) error {
	var err error
	if !e.call(func() {
		if e.shutting {
			err = errEngineStopped
			return
		}
		for _, st := range r.rp.steps {
			switch st.change {
			case add:
				r.started[st.name] = e.newAppRun(st.def, r.setFor(st.def), nil, 0, waitsForRelease(st.def))
			case replace:
				prev := r.prev[st.name]
				r.started[st.name] = e.newAppRun(st.def, r.setFor(st.def), prev.gens, prev.sup.Status().Restarts+1, waitsForRelease(st.def))
			}
		}
	}) {
		return errEngineStopped
	}
	return err
}

// waitReady is phase 3: every started supervisor's first generation must
// be ready (one waiting for its first release has none yet).
func (r *reloadRun) waitReady(ctx context.Context) error {
	for _, name := range sortedKeys(r.started) {
		a := r.started[name]
		if a.waiting {
			continue
		}
		wait, cancel := context.WithTimeout(ctx, a.def.Ready.Timeout+5*time.Second)
		ok := waitSettled(wait, a.sup)
		cancel()
		if !ok {
			return fmt.Errorf("app %q: the new definition did not become ready (state %s)", name, a.sup.Status().State)
		}
	}
	return nil
}

// commit is phase 4: the new plan and supervisors take over, on the loop.
// It returns the supervisors to retire.
func (r *reloadRun) commit(e *Engine) ([]*appRun, bool) {
	var retired []*appRun
	ok := e.call(func() {
		if e.shutting {
			return
		}
		for _, st := range r.rp.steps {
			switch st.change {
			case add:
				e.apps[st.name] = r.started[st.name]
			case replace:
				retired = append(retired, e.apps[st.name])
				e.apps[st.name] = r.started[st.name]
			case remove:
				retired = append(retired, e.apps[st.name])
				delete(e.apps, st.name)
			}
		}
		e.plan = r.rp.next
		r.started = nil // the engine owns them now
	})
	return retired, ok && r.started == nil
}

// retire is phase 5: the old supervisors stop their generations gracefully;
// then the sockets no app lists are closed.
func (r *reloadRun) retire(retired []*appRun) {
	for _, a := range retired {
		a.cancel()
	}
	for _, a := range retired {
		<-a.sup.Done()
	}
	for _, k := range r.rp.unused {
		_ = r.held[k].Close()
	}
}

// abortReload undoes phases 1 to 3: it stops the supervisors this reload
// started and closes the sockets it bound. What ran before keeps running.
func (e *Engine) abortReload(r *reloadRun, why error) error {
	for _, a := range r.started {
		a.cancel()
	}
	for _, a := range r.started {
		<-a.sup.Done()
	}
	for _, s := range r.bound {
		_ = s.Close()
	}
	e.log.Error().Err(why).Msg("reload: not applied; the previous configuration keeps running")
	return fmt.Errorf("reload: %w", why)
}

// applyAgent applies the agent settings that can change live and names
// the others.
func (e *Engine) applyAgent(rp reloadPlan) {
	if len(rp.agentLive) > 0 && e.o.ApplyAgent != nil {
		if err := e.o.ApplyAgent(rp.next.Agent); err != nil {
			e.log.Error().Err(err).Strs("settings", rp.agentLive).Msg("reload: could not apply agent settings")
		} else {
			e.log.Info().Strs("settings", rp.agentLive).Msg("reload: agent settings applied")
		}
	}
	if len(rp.agentRestart) > 0 {
		e.log.Warn().Strs("settings", rp.agentRestart).Msg("reload: these agent settings changed but take effect only when dewy restarts")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sdNotify sends a state to systemd. Once STOPPING=1 went out, READY=1 is
// never sent again (a reload that ends during shutdown must not say it).
func (e *Engine) sdNotify(state string) {
	if e.stopping.Load() {
		return
	}
	if len(state) >= 8 && state[:8] == "STOPPING" {
		e.stopping.Store(true)
	}
	if err := e.o.Notify.Send(state); err != nil {
		e.log.Warn().Err(err).Msg("sd_notify")
	}
}

func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

// statusLine counts the apps whose current generation is ready:
// "1/2 apps running".
func (e *Engine) statusLine() string {
	var sups []*supervisor.Supervisor
	e.call(func() {
		for _, a := range e.apps {
			sups = append(sups, a.sup)
		}
	})
	running := 0
	for _, s := range sups {
		if st := s.Status().State; st == supervisor.StateRunning || st == supervisor.StateAssets {
			running++
		}
	}
	return fmt.Sprintf("%d/%d apps running", running, len(sups))
}
