package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/engine/plan"
)

// change is what a reload does to one app.
type change int

const (
	keep    change = iota // unchanged: left running, untouched
	add                   // new app: started
	replace               // changed, same listen addresses: new supervisor on the same sockets, old one retired once the new one is ready
	rebind                // changed listen addresses: stopped, then started on new sockets
	remove                // gone from the file: stopped
)

// sameApp compares two definitions, ignoring where they were written.
func sameApp(a, b plan.App) bool {
	a.Origin, b.Origin = "", ""
	return reflect.DeepEqual(a, b)
}

func sameListen(a, b plan.App) bool { return reflect.DeepEqual(a.Listen, b.Listen) }

// reload re-reads the config and applies it: new apps start, removed ones
// stop, changed ones are replaced gracefully, unchanged ones are left
// alone. A file with errors changes nothing. If a new or changed app does
// not become ready, every new supervisor is stopped and the old
// configuration keeps running.
func (e *Engine) reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if e.o.Reload == nil {
		return errors.New("reload: dewy was started without a config file to re-read")
	}
	next, err := e.o.Reload(ctx)
	if err != nil {
		e.log.Error().Err(err).Msg("reload: the config file has errors; everything keeps running as it is")
		return fmt.Errorf("reload: %w", err)
	}
	e.sdNotify("RELOADING=1\nMONOTONIC_USEC=" + monotonicUsec())
	defer e.sdNotify("READY=1")

	// Plan the changes against a snapshot of the running apps.
	var old map[string]*appRun
	if !e.call(func() {
		old = map[string]*appRun{}
		for n, a := range e.apps {
			old[n] = a
		}
	}) {
		return errEngineStopped
	}
	changes := map[string]change{}
	for _, a := range next.Apps {
		cur, ok := old[a.Name]
		switch {
		case !ok:
			changes[a.Name] = add
		case sameApp(cur.def, a):
			changes[a.Name] = keep
		case sameListen(cur.def, a):
			changes[a.Name] = replace
		default:
			changes[a.Name] = rebind
		}
	}
	for n := range old {
		if _, ok := next.App(n); !ok {
			changes[n] = remove
		}
	}

	// Start the new and replacement supervisors beside the old ones.
	started := map[string]*appRun{}
	var startErr error
	if !e.call(func() {
		if e.shutting {
			startErr = errEngineStopped
			return
		}
		for _, a := range next.Apps {
			var r *appRun
			var err error
			switch changes[a.Name] {
			case add:
				r, err = e.bindAndStart(a)
			case replace:
				// Shares the running app's sockets; ownership passes at commit.
				// Generations go on counting from the old supervisor's.
				r = e.newAppRun(a, old[a.Name].socks, false, old[a.Name].sup.Status().Generation+1)
			default:
				continue
			}
			if err != nil {
				startErr = err
				return
			}
			started[a.Name] = r
		}
	}) {
		return errEngineStopped
	}
	abort := func(why error) error {
		for _, r := range started {
			r.cancel()
		}
		for _, r := range started {
			<-r.sup.Done()
			if r.ownsSockets {
				_ = r.socks.Close()
			}
		}
		e.log.Error().Err(why).Msg("reload: not applied; the previous configuration keeps running")
		return fmt.Errorf("reload: %w", why)
	}
	if startErr != nil {
		return abort(startErr)
	}
	for name, r := range started {
		wait, cancel := context.WithTimeout(ctx, r.def.Ready.Timeout+5*time.Second)
		ok := waitSettled(wait, r.sup)
		cancel()
		if !ok {
			return abort(fmt.Errorf("app %q: the new definition did not become ready (state %s)", name, r.sup.Status().State))
		}
	}

	// Commit: the new plan and supervisors take over.
	var retired []*appRun
	var rebinds []plan.App
	if !e.call(func() {
		if e.shutting {
			startErr = errEngineStopped
			return
		}
		for name, c := range changes {
			switch c {
			case add:
				e.apps[name] = started[name]
			case replace:
				prev := e.apps[name]
				r := started[name]
				// The sockets pass to the replacement; it closes them.
				r.ownsSockets, prev.ownsSockets = prev.ownsSockets, false
				e.apps[name] = r
				retired = append(retired, prev)
			case remove:
				retired = append(retired, e.apps[name])
				delete(e.apps, name)
			case rebind:
				retired = append(retired, e.apps[name])
				delete(e.apps, name)
				a, _ := next.App(name)
				rebinds = append(rebinds, a)
			}
		}
		e.plan = next
	}) || startErr != nil {
		return abort(errEngineStopped)
	}
	var sigs []os.Signal
	for _, s := range next.Signals.Signals() {
		sigs = append(sigs, s)
	}
	e.o.Register(sigs...)

	// Retire the old supervisors: each stops its generation gracefully.
	for _, r := range retired {
		r.cancel()
	}
	for _, r := range retired {
		<-r.sup.Done()
		if r.ownsSockets {
			_ = r.socks.Close()
		}
	}
	// Apps whose listen addresses changed start only now, on new sockets:
	// the old sockets had to be closed first, so these are not zero-downtime.
	var errs []error
	for _, a := range rebinds {
		e.log.Warn().Str("app", a.Name).Msg("reload: listen addresses changed; the app was stopped and is started on its new sockets (not a zero-downtime restart)")
		if !e.call(func() {
			if e.shutting {
				return
			}
			r, err := e.bindAndStart(a)
			if err != nil {
				errs = append(errs, err)
				return
			}
			e.apps[a.Name] = r
		}) {
			break
		}
	}
	counts := map[change]int{}
	for _, c := range changes {
		counts[c]++
	}
	e.log.Info().Int("started", counts[add]).Int("replaced", counts[replace]+counts[rebind]).Int("stopped", counts[remove]).Int("unchanged", counts[keep]).Msg("reload applied")
	return errors.Join(errs...)
}

func (e *Engine) sdNotify(state string) {
	if err := e.o.Notify.Send(state); err != nil {
		e.log.Warn().Err(err).Msg("sd_notify")
	}
}

func monotonicUsec() string {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return strconv.FormatInt(ts.Nano()/1000, 10)
}
