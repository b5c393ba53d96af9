package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/engine/deploy"
	"github.com/dewyhq/dewy/engine/plan"
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

// newDeployers makes the deployer of every app with a registry. An app
// whose registry cannot be opened is logged and left without one: it runs
// what its current link points at, if anything. A shared cache that
// cannot be opened is logged and not used: every host then downloads
// from the registry, as with the local cache.
func (e *Engine) newDeployers() map[string]*deploy.Deployer {
	out := map[string]*deploy.Deployer{}
	host, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	shared, err := openCache(ctx, e.plan.Agent, host, e.log)
	cancel()
	if err != nil {
		e.log.Error().Err(err).Msg("the shared cache cannot be used; every release is downloaded from its registry")
	}
	for _, a := range e.plan.Apps {
		if a.Registry == "" {
			continue
		}
		def := e.plan.Registries[a.Registry]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		src, err := openRegistry(ctx, def, e.o.Environ)
		cancel()
		if err == nil {
			o := deploy.Options{
				App: a, Registry: def, Source: src, StateDir: e.plan.Agent.StateDir, Host: host,
				Restart: e.restartFunc(a.Name), Emit: e.emit, IDs: e.ids, Logger: e.log,
			}
			if shared != nil {
				o.Cache = shared.Artifacts(def.URL)
				if ttl := e.plan.Agent.RegistryTTL; ttl > 0 {
					o.Source = shared.Registry(src, def.URL, ttl)
				}
			}
			var d *deploy.Deployer
			d, err = deploy.New(o)
			if err == nil {
				out[a.Name] = d
				continue
			}
		}
		e.log.Error().Err(err).Str("app", a.Name).Msg("the app is not deployed from its registry")
	}
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

// startPollers polls every deployer's registry under the scheduler's
// context: the shutdown stops them first.
func (e *Engine) startPollers() {
	for _, d := range e.deployers {
		e.actionsWG.Add(1)
		go func() {
			defer e.actionsWG.Done()
			d.Poll(e.schedCtx)
		}()
	}
}

// deployersOf returns the deployers of apps, an error naming the apps
// that have none.
func (e *Engine) deployersOf(apps []string) (map[string]*deploy.Deployer, error) {
	out := map[string]*deploy.Deployer{}
	var errs []error
	for _, a := range apps {
		if d, ok := e.deployers[a]; ok {
			out[a] = d
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

// deployChanges refuses a reload that would add, remove or change an app
// deployed from a registry, or change its registry block: the deployers
// are made at start, and a reload that changed them would be applied only
// half (an added app would wait for a release nobody fetches). Saying so
// beats a surprise; the operator restarts dewy for such a change.
func deployChanges(cur, next *plan.Plan) error {
	var errs []error
	seen := map[string]bool{}
	for _, a := range next.Apps {
		seen[a.Name] = true
		old, had := cur.App(a.Name)
		switch {
		case a.Registry == "" && (!had || old.Registry == ""):
		case !had:
			errs = append(errs, fmt.Errorf("app %q is new and deploys from registry %q", a.Name, a.Registry))
		case !reflect.DeepEqual(withoutOrigin(old), withoutOrigin(a)):
			errs = append(errs, fmt.Errorf("app %q deploys from a registry and its definition changed", a.Name))
		case !sameRegistry(cur.Registries[a.Registry], next.Registries[a.Registry]):
			errs = append(errs, fmt.Errorf("registry %q of app %q changed", a.Registry, a.Name))
		}
	}
	for _, a := range cur.Apps {
		if a.Registry != "" && !seen[a.Name] {
			errs = append(errs, fmt.Errorf("app %q, deployed from registry %q, was removed", a.Name, a.Registry))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w; a change to an app deployed from a registry needs a restart of dewy", errors.Join(errs...))
	}
	return nil
}

// withoutOrigin drops where the app was written: moving a block in the
// file is no change.
func withoutOrigin(a plan.App) plan.App {
	a.Origin = ""
	return a
}

func sameRegistry(a, b plan.Registry) bool {
	a.Origin, b.Origin = "", ""
	return reflect.DeepEqual(a, b)
}
