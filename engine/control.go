package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/control"
	"github.com/dewyhq/dewy/engine/deploy"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/release"
	"github.com/dewyhq/dewy/engine/supervisor"
)

// ControlInfo is what the control API says of the agent itself.
type ControlInfo struct {
	Version string
	Config  string
	Started time.Time
}

// Control returns the engine as the control API sees it. Each request
// runs the action of the same name through the same code as a signal
// would, its cause "dewy restart" and so on.
func (e *Engine) Control(info ControlInfo) control.Agent {
	return &controlAgent{e: e, info: info}
}

type controlAgent struct {
	e    *Engine
	info ControlInfo
}

var _ control.Agent = (*controlAgent)(nil)

// appInfo is an app's definition and supervisor, and its deployer if any.
func (c *controlAgent) app(name string) (plan.App, *supervisor.Supervisor, *deploy.Deployer, error) {
	var def plan.App
	var sup *supervisor.Supervisor
	found := false
	if !c.e.call(func() {
		if a, ok := c.e.apps[name]; ok {
			def, sup, found = a.def, a.sup, true
		}
	}) {
		return def, nil, nil, errEngineStopped
	}
	if !found {
		return def, nil, nil, fmt.Errorf("app %q: %w", name, control.ErrUnknownApp)
	}
	c.e.deployMu.Lock()
	defer c.e.deployMu.Unlock()
	if r := c.e.deployers[name]; r != nil {
		return def, sup, r.d, nil
	}
	return def, sup, nil, nil
}

func (c *controlAgent) Status() control.Status {
	st := control.Status{Version: c.info.Version, PID: c.e.o.Pid, Config: c.info.Config, Started: c.info.Started, Apps: []control.AppStatus{}}
	// One snapshot of the apps and their deployers (Status is also read
	// at every metrics scrape).
	runs := map[string]*appRun{}
	c.e.call(func() { maps.Copy(runs, c.e.apps) })
	c.e.deployMu.Lock()
	deps := map[string]*deploy.Deployer{}
	for n, r := range c.e.deployers {
		deps[n] = r.d
	}
	c.e.deployMu.Unlock()
	for _, n := range slices.Sorted(maps.Keys(runs)) {
		def, d := runs[n].def, deps[n]
		s := runs[n].sup.Status()
		a := control.AppStatus{
			Name: n, State: s.State, PID: s.PID, Generation: s.Generation, Uptime: s.Uptime.Seconds(),
			Restarts: s.Restarts, CrashLoop: s.State == string(supervisor.StateCrashLoop), LastError: s.LastError,
			Registry: def.Registry,
		}
		if def.Registry != "" {
			if id, err := release.NewDir(def.Dir).Current(); err == nil && id != "" {
				a.Release, a.Version = id, release.VersionOf(id)
			}
		}
		if d != nil {
			last, next := d.Last()
			if last.ID != "" {
				a.LastDeploy = controlDeploy(last)
			}
			if !next.IsZero() {
				a.NextPoll = &next
			}
			if p, ok := d.Progress(); ok {
				a.Download = &control.Download{DeployID: p.DeployID, Version: p.Version, Bytes: p.Bytes, Total: p.Total}
			}
		}
		st.Apps = append(st.Apps, a)
	}
	return st
}

func controlDeploy(r deploy.Record) *control.Deploy {
	return &control.Deploy{ID: r.ID, Version: r.Version, Result: r.Result, Error: r.Error, Detail: r.Detail, At: r.At}
}

// run runs the action named for app, as a signal action would run.
func (c *controlAgent) run(ctx context.Context, name actions.Name, app string, trig actions.Trigger) error {
	spec := actions.Spec{Name: name}
	if app != "" {
		spec.Apps = []string{app}
	}
	// Counted among the engine's actions, as a signal's are, so Run waits
	// for it; none starts once the shutdown has begun.
	started := false
	c.e.call(func() {
		if !c.e.shutting {
			c.e.actionsWG.Add(1)
			started = true
		}
	})
	if !started {
		return fmt.Errorf("%s: %w", name, errEngineStopped)
	}
	defer c.e.actionsWG.Done()
	return actions.Build(spec).Run(ctx, &target{e: c.e}, trig)
}

func (c *controlAgent) Restart(ctx context.Context, app string) error {
	if _, _, _, err := c.app(app); err != nil {
		return err
	}
	return c.run(ctx, actions.Restart, app, actions.Trigger{Via: "dewy restart"})
}

// deployLike runs a deploy or rollback under the scheduler's context (a
// shutdown cuts it, a client that goes away does not) and returns the
// deploy's record.
func (c *controlAgent) deployLike(name actions.Name, app, version string) (control.Deploy, error) {
	_, _, d, err := c.app(app)
	if err != nil {
		return control.Deploy{}, err
	}
	if d == nil {
		return control.Deploy{}, fmt.Errorf("app %q: %w", app, control.ErrNoRegistry)
	}
	before, _ := d.Last()
	err = c.run(c.e.schedCtx, name, app, actions.Trigger{Via: "dewy " + string(name), Version: version})
	// The app's deployer may have been made anew by a reload meanwhile.
	if _, _, nd, e2 := c.app(app); e2 == nil && nd != nil {
		d = nd
	}
	last, _ := d.Last()
	out := control.Deploy{}
	if last.ID != "" && last.ID != before.ID {
		out = *controlDeploy(last)
	}
	if err == nil && out.Result == deploy.ResultFailed {
		err = errors.New(out.Error)
	}
	return out, err
}

func (c *controlAgent) Deploy(_ context.Context, app, version string) (control.Deploy, error) {
	return c.deployLike(actions.Deploy, app, version)
}

func (c *controlAgent) Rollback(_ context.Context, app string) (control.Deploy, error) {
	return c.deployLike(actions.Rollback, app, "")
}

func (c *controlAgent) Releases(app string) ([]control.Release, error) {
	_, _, d, err := c.app(app)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("app %q: %w", app, control.ErrNoRegistry)
	}
	ids, cur, failed, err := d.Releases()
	if err != nil {
		return nil, err
	}
	out := make([]control.Release, 0, len(ids))
	for _, id := range ids {
		v := release.VersionOf(id)
		out = append(out, control.Release{ID: id, Version: v, Current: id == cur, Failed: failed[v]})
	}
	return out, nil
}

func (c *controlAgent) Signal(app, name string) error {
	if _, _, _, err := c.app(app); err != nil {
		return err
	}
	sig, canonical, status, _ := plan.ParseSignal(name)
	if status == plan.SignalUnknown || sig == 0 {
		return fmt.Errorf("%q is not a signal name (HUP, USR1, TERM, ...): %w", name, control.ErrBadRequest)
	}
	if err := (&target{e: c.e}).Signal([]string{app}, sig); err != nil {
		return err
	}
	c.e.log.Info().Str("app", app).Str("signal", "SIG"+strings.TrimPrefix(canonical, "SIG")).Msg("signal sent to the app by dewy signal")
	return nil
}

func (c *controlAgent) Reload(context.Context) error {
	return c.run(c.e.schedCtx, actions.Reload, "", actions.Trigger{Via: "dewy reload"})
}
