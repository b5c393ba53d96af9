package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/engine/deploy"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/release"
	"github.com/dewyhq/dewy/registry"
	"github.com/dewyhq/dewy/registry/file"
	"github.com/dewyhq/dewy/registry/ghr"
	grpcreg "github.com/dewyhq/dewy/registry/grpc"
	"github.com/dewyhq/dewy/registry/gs"
	"github.com/dewyhq/dewy/registry/s3"
)

// openRegistry returns the client of a registry block. environ is dewy's
// environment, for the registries' credentials (AWS_*, GITHUB_TOKEN, ...).
func openRegistry(ctx context.Context, r plan.Registry, environ []string) (registry.Registry, error) {
	switch r.Scheme {
	case "file":
		return file.New(r.URL.Path)
	case "s3":
		return s3.New(ctx, r.URL)
	case "ghr":
		return ghr.New(r.URL, ghr.OptionsFrom(environ))
	case "gs":
		return gs.New(ctx, r.URL)
	case "grpc":
		return grpcreg.New(r.URL, r.Artifact)
	default:
		return nil, fmt.Errorf("registry %q: unknown scheme %s://", r.Name, r.Scheme)
	}
}

// openCache returns the fleet's shared cache of the agent settings, nil
// for the local one.
func openCache(ctx context.Context, a plan.Agent, host string, log zerolog.Logger) (*cache.Shared, error) {
	if a.Cache == nil {
		return nil, nil
	}
	var store cache.Store
	var err error
	switch a.Cache.Scheme {
	case "s3":
		store, err = s3.NewStore(ctx, a.Cache)
	case "gs":
		store, err = gs.NewStore(ctx, a.Cache)
	default:
		err = fmt.Errorf("cache %s: unknown scheme %s://", a.Cache.Redacted(), a.Cache.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return cache.New(store, cache.Options{Host: host, Logger: log}), nil
}

// deployRun is one app's Deployer and its poller.
type deployRun struct {
	d *deploy.Deployer
	// key is what the Deployer was made from (deployKey): a reload that
	// leaves it alone keeps the Deployer.
	key string
	// stopPoll ends the poller; polled is closed when it has returned.
	stopPoll context.CancelFunc
	polled   chan struct{}
}

// deployKey is what an app's Deployer is made from: the app, its
// registry block and the shared cache settings (not where they were
// written).
func deployKey(p *plan.Plan, a plan.App) string {
	r := p.Registries[a.Registry]
	r.Origin = ""
	cache := ""
	if p.Agent.Cache != nil {
		cache = p.Agent.Cache.String()
	}
	return fmt.Sprintf("%#v|%#v|%s|%s", withoutOrigin(a), r, cache, p.Agent.RegistryTTL)
}

// appLock is the lock of an app's deploys, shared by its successive
// Deployers.
func (e *Engine) appLock(app string) *sync.Mutex {
	e.deployMu.Lock()
	defer e.deployMu.Unlock()
	l := e.deployLocks[app]
	if l == nil {
		l = &sync.Mutex{}
		e.deployLocks[app] = l
	}
	return l
}

// newDeployer makes the Deployer of one app of p. The shared cache is
// the one opened for p's agent settings (openShared).
func (e *Engine) newDeployer(p *plan.Plan, a plan.App) (*deploy.Deployer, error) {
	def := p.Registries[a.Registry]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	src, err := openRegistry(ctx, def, e.o.Environ)
	cancel()
	if err != nil {
		return nil, err
	}
	o := deploy.Options{
		App: a, Registry: def, Source: src, StateDir: e.stateDir, Host: e.host,
		Restart: e.restartFunc(a.Name), Emit: e.emit, IDs: e.ids, Logger: e.log,
		Lock: e.appLock(a.Name),
	}
	if e.o.Observer != nil {
		o.Observer = e.o.Observer
	}
	if e.shared != nil {
		o.Cache = e.shared.Artifacts(def.URL)
		if ttl := p.Agent.RegistryTTL; ttl > 0 {
			o.Source = e.shared.Registry(src, def.URL, ttl)
		}
	}
	return deploy.New(o)
}

// openShared opens the shared cache of p's agent settings, unless the
// one open already is it. One that cannot be opened is logged and not
// used: every host then downloads from the registry, as with the local
// cache.
func (e *Engine) openShared(p *plan.Plan) {
	want := ""
	if p.Agent.Cache != nil {
		want = p.Agent.Cache.String()
	}
	if want == e.sharedURL && (e.shared != nil || want == "") {
		return
	}
	e.shared, e.sharedURL = nil, want
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shared, err := openCache(ctx, p.Agent, e.host, e.log)
	if err != nil {
		e.log.Error().Err(err).Msg("the shared cache cannot be used; every release is downloaded from its registry")
		return
	}
	e.shared = shared
}

// startDeployers makes and starts the Deployer of each of p's apps named
// (those with a registry). An app whose registry cannot be opened is
// logged and left without one: it runs what its current link points at,
// if anything.
func (e *Engine) startDeployers(p *plan.Plan, names []string) {
	e.openShared(p)
	for _, n := range names {
		a, ok := p.App(n)
		if !ok || a.Registry == "" {
			continue
		}
		d, err := e.newDeployer(p, a)
		if err != nil {
			e.log.Error().Err(err).Str("app", a.Name).Msg("the app is not deployed from its registry")
			continue
		}
		pctx, stop := context.WithCancel(e.schedCtx)
		r := &deployRun{d: d, key: deployKey(p, a), stopPoll: stop, polled: make(chan struct{})}
		e.deployMu.Lock()
		e.deployers[a.Name] = r
		e.deployMu.Unlock()
		e.actionsWG.Add(1)
		go func() {
			defer e.actionsWG.Done()
			defer close(r.polled)
			d.Poll(pctx)
		}()
	}
}

// pauseDeploys ends the Deployers of the apps named and takes their
// locks: when it returns no deploy or rollback of them is under way (a
// download is cut, a restart under way ends first, bounded by the app's
// ready timeout) and none starts until resume is called.
func (e *Engine) pauseDeploys(names []string) (resume func()) {
	sort.Strings(names)
	var runs []*deployRun
	e.deployMu.Lock()
	for _, n := range names {
		if r := e.deployers[n]; r != nil {
			runs = append(runs, r)
			delete(e.deployers, n)
		}
	}
	e.deployMu.Unlock()
	for _, r := range runs {
		r.stopPoll()
		r.d.Close()
	}
	var locks []*sync.Mutex
	for _, n := range names {
		l := e.appLock(n)
		l.Lock()
		locks = append(locks, l)
	}
	for _, r := range runs {
		<-r.polled
	}
	return func() {
		for _, l := range locks {
			l.Unlock()
		}
	}
}

// waitsForRelease says whether a starts with nothing to run: deployed
// from a registry, and no release deployed yet.
func waitsForRelease(a plan.App) bool {
	if a.Registry == "" {
		return false
	}
	id, err := release.NewDir(a.Dir).Current()
	return err == nil && id == ""
}

// redeploys names the apps whose Deployer a move from cur to next
// changes: added, changed or removed apps with a registry, changed
// registry blocks, another shared cache.
func redeploys(next *plan.Plan, running map[string]*deployRun) []string {
	var out []string
	for _, a := range next.Apps {
		r := running[a.Name]
		switch {
		case a.Registry == "" && r == nil:
		case a.Registry == "" || r == nil || r.key != deployKey(next, a):
			out = append(out, a.Name)
		}
	}
	for name := range running {
		if _, ok := next.App(name); !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// restartFunc restarts app gracefully through its current supervisor.
func (e *Engine) restartFunc(app string) func(context.Context, string) error {
	return func(ctx context.Context, cause string) error {
		sups, err := (&target{e: e}).sups([]string{app})
		if err != nil {
			return err
		}
		return sups[app].Restart(ctx, cause)
	}
}

// deployersOf returns the deployers of apps, an error naming the apps
// that have none.
func (e *Engine) deployersOf(apps []string) (map[string]*deploy.Deployer, error) {
	out := map[string]*deploy.Deployer{}
	var errs []error
	e.deployMu.Lock()
	defer e.deployMu.Unlock()
	for _, a := range apps {
		if r, ok := e.deployers[a]; ok {
			out[a] = r.d
		} else {
			errs = append(errs, fmt.Errorf("app %q: %w", a, errNoDeployer))
		}
	}
	return out, errors.Join(errs...)
}

var errNoDeployer = errors.New("not deployed from a registry")

// eachDeployer runs fn for the apps' deployers concurrently.
func (e *Engine) eachDeployer(apps []string, fn func(*deploy.Deployer) error) error {
	ds, err := e.deployersOf(apps)
	errs := make(chan error, len(ds))
	for _, d := range ds {
		go func() { errs <- fn(d) }()
	}
	all := []error{err}
	for range ds {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// withoutOrigin drops where the app was written: moving a block in the
// file is no change.
func withoutOrigin(a plan.App) plan.App {
	a.Origin = ""
	return a
}
