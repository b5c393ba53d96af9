package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/deploy"
	"github.com/dewyhq/dewy/engine/supervisor"
)

// target is what actions act on: it implements actions.Target by asking
// the loop goroutine for the supervisors and calling them outside it, so a
// long restart never blocks signal handling.
type target struct{ e *Engine }

var _ actions.Target = (*target)(nil)

func (t *target) Logger() *zerolog.Logger { return &t.e.log }

func (t *target) Apps() []actions.AppInfo {
	var out []actions.AppInfo
	t.e.call(func() {
		for _, a := range t.e.plan.Apps {
			out = append(out, actions.AppInfo{Name: a.Name, Listeners: len(a.Listen), HasRegistry: a.Registry != ""})
		}
	})
	return out
}

// sups resolves app names to their supervisors.
func (t *target) sups(names []string) (map[string]*supervisor.Supervisor, error) {
	out := map[string]*supervisor.Supervisor{}
	var errs []error
	if !t.e.call(func() {
		for _, n := range names {
			a, ok := t.e.apps[n]
			if !ok {
				errs = append(errs, fmt.Errorf("app %q: %w", n, actions.ErrUnknownApp))
				continue
			}
			out[n] = a.sup
		}
	}) {
		return nil, errEngineStopped
	}
	return out, errors.Join(errs...)
}

// Restart restarts the apps concurrently, each gracefully.
func (t *target) Restart(ctx context.Context, apps []string, cause string) error {
	sups, err := t.sups(apps)
	var mu sync.Mutex
	errs := []error{err}
	var wg sync.WaitGroup
	for _, s := range sups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The supervisor's errors already name the app.
			if err := s.Restart(ctx, cause); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *target) Signal(apps []string, sig syscall.Signal) error {
	sups, err := t.sups(apps)
	errs := []error{err}
	for name, s := range sups {
		if err := s.Signal(sig); err != nil {
			errs = append(errs, fmt.Errorf("app %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func (t *target) Status(apps []string) []actions.AppStatus {
	sups, _ := t.sups(apps)
	var out []actions.AppStatus
	for _, s := range sups {
		out = append(out, s.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (t *target) ReopenLogs(apps []string) error {
	sups, err := t.sups(apps)
	errs := []error{err}
	for _, s := range sups {
		errs = append(errs, s.ReopenLogs())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t.e.log.Info().Strs("apps", apps).Msg("log files reopened")
	return nil
}

func (t *target) Shutdown(cause string) {
	select {
	case t.e.shutdown <- cause:
	default:
		// Four shutdown requests are already queued; one more adds nothing.
	}
}

func (t *target) Reload(ctx context.Context) error { return t.e.reload(ctx) }

// Deploy checks the apps' registries now and deploys what is newer, or
// the version the trigger pins.
func (t *target) Deploy(ctx context.Context, apps []string, trig actions.Trigger) error {
	return t.e.eachDeployer(apps, func(d *deploy.Deployer) error {
		if trig.Version != "" {
			return d.DeployVersion(ctx, trig.Cause(), trig.Version)
		}
		return d.Deploy(ctx, trig.Cause())
	})
}

// Rollback switches the apps back to their previous kept release.
func (t *target) Rollback(ctx context.Context, apps []string, trig actions.Trigger) error {
	return t.e.eachDeployer(apps, func(d *deploy.Deployer) error { return d.Rollback(ctx, trig.Cause()) })
}

func (t *target) Emit(ev actions.Event) { t.e.emit(ev) }

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
