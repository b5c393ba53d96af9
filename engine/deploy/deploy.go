// Package deploy keeps an app with a registry on its newest release. A
// Deployer owns the app's release folder and its current link; for the
// restart it asks the supervisor, which proves the new generation ready
// before the old one is retired. The supervisor knows nothing of
// registries.
//
// One deploy, in order: the newest version from the registry; compare with
// what is deployed and with the versions that failed before; download into
// the cache (streamed, size-limited, SHA-256 on the way); verify against
// the release's checksum file; unpack into releases/<id>/; before_deploy
// hook (a failure aborts); switch current; graceful restart; if the new
// generation is not ready, switch current back (the old generation never
// stopped serving); after_deploy hook; report to the registry; prune to
// the newest `keep` releases. A version that failed is remembered in the
// state folder and not tried again until a newer one appears.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/artifact"
	"github.com/dewyhq/dewy/engine/ids"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/release"
	"github.com/dewyhq/dewy/registry"
	"github.com/dewyhq/dewy/registry/version"
)

// Events a deploy emits.
const (
	EventDeployed     = "deployed"
	EventDeployFailed = "deploy_failed"
	EventRolledBack   = "rolled_back"
)

// Timeouts of the steps that talk to a registry; a download has none of
// its own (it may be large) beyond the deploy's context.
const (
	listTimeout     = 30 * time.Second
	checksumTimeout = 30 * time.Second
	reportTimeout   = 10 * time.Second
	// uploadGrace is how long after a release's creation a missing
	// artifact is taken for an upload still in progress.
	uploadGrace = 30 * time.Minute
	// maxChecksumFile bounds a checksum file read into memory.
	maxChecksumFile = 1 << 20
)

// Options configure a Deployer.
type Options struct {
	App      plan.App
	Registry plan.Registry
	Source   registry.Registry
	// StateDir is the agent's state folder: the download cache and the
	// deploy state live below it.
	StateDir string
	Host     string
	// Restart restarts the app gracefully (the supervisor's Restart): it
	// returns once the new generation is ready, or an error when it was
	// not and the old one keeps serving.
	Restart func(ctx context.Context, cause string) error
	Emit    func(actions.Event)
	IDs     *ids.Source
	Logger  zerolog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// DownloadTimeout bounds one download, retries included (default 30
	// minutes): a registry that stalls mid-stream must not hold the app's
	// deploys forever.
	DownloadTimeout time.Duration
	// ListTimeout bounds the call that lists the registry's releases
	// (default 30 seconds).
	ListTimeout time.Duration
}

// Deployer deploys one app. Its methods may be called from any goroutine;
// deploys and rollbacks of the app never overlap.
type Deployer struct {
	o     Options
	dir   release.Dir
	cache string
	log   zerolog.Logger

	mu    sync.Mutex // one deploy or rollback at a time; guards the rest
	state *release.State
	// lastErr is the last "cannot tell the newest release" error, said
	// once at error level while it repeats.
	lastErr string
}

// New returns the Deployer of o.App.
func New(o Options) (*Deployer, error) {
	if o.App.Dir == "" {
		return nil, fmt.Errorf("app %q: a deployed app needs a dir", o.App.Name)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DownloadTimeout <= 0 {
		o.DownloadTimeout = 30 * time.Minute
	}
	if o.ListTimeout <= 0 {
		o.ListTimeout = listTimeout
	}
	if o.IDs == nil {
		o.IDs = ids.NewSource()
	}
	st, err := release.LoadState(filepath.Join(o.StateDir, "apps", o.App.Name+".json"))
	if err != nil {
		return nil, fmt.Errorf("app %q: %w", o.App.Name, err)
	}
	cache := filepath.Join(o.StateDir, "cache", o.App.Name)
	// Downloads live only until they are unpacked: whatever is there at
	// start is what a crash interrupted.
	if err := os.RemoveAll(cache); err != nil {
		return nil, fmt.Errorf("app %q: clean the download cache: %w", o.App.Name, err)
	}
	return &Deployer{
		o:     o,
		dir:   release.NewDir(o.App.Dir),
		cache: cache,
		log:   o.Logger.With().Str("app", o.App.Name).Str("registry", o.Registry.Name).Logger(),
		state: st,
	}, nil
}

// HasRelease reports whether a release is deployed (current exists).
func (d *Deployer) HasRelease() bool {
	id, err := d.dir.Current()
	return err == nil && id != ""
}

// Poll deploys now and then every interval (±10%) until ctx ends. Errors
// are logged and reported by Deploy; the next poll tries again.
func (d *Deployer) Poll(ctx context.Context) {
	interval := d.o.Registry.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		_ = d.Deploy(ctx, "poll")
		jitter := time.Duration(float64(interval) * 0.1 * (2*rand.Float64() - 1))
		t := time.NewTimer(interval + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// failure is a deploy that failed for its release's own fault: the
// version is not tried again.
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }
func (f failure) Unwrap() error { return f.err }

func bad(format string, args ...any) error { return failure{fmt.Errorf(format, args...)} }

// Deploy deploys the newest release if it is newer than the deployed one
// and has not failed before. It returns nil when there is nothing to do.
func (d *Deployer) Deploy(ctx context.Context, cause string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.o.IDs.New().String()
	log := d.log.With().Str("deploy", id).Logger()
	target, err := d.newest(ctx, log)
	if target == nil {
		if err != nil && err.Error() != d.lastErr {
			log.Error().Err(err).Msg("deploy: cannot tell the newest release")
		} else if err != nil {
			log.Debug().Err(err).Msg("deploy: still cannot tell the newest release")
		}
		d.lastErr = ""
		if err != nil {
			d.lastErr = err.Error()
		}
		return err
	}
	d.lastErr = ""
	log = log.With().Str("version", target.version).Logger()
	if err == nil { // else the release itself is bad: no artifact to deploy
		log.Info().Str("cause", cause).Str("artifact", target.artifact).Str("previous", target.previous).Msg("deploying a new release")
		err = d.run(ctx, log, id, target)
	}
	var f failure
	switch {
	case err == nil:
		d.emit(EventDeployed, fmt.Sprintf("%s deployed (deploy %s)", target.version, id))
		return nil
	case ctx.Err() != nil:
		log.Warn().Err(err).Msg("deploy cut short by the shutdown; current is unchanged")
		return err
	case errors.As(err, &f):
		if serr := d.state.MarkBad(target.version, err.Error()); serr != nil {
			log.Error().Err(serr).Msg("cannot remember the failed version")
		}
		log.Error().Err(err).Str("running", runningRelease(target.previous)).Msg("deploy failed; the running release keeps serving and this version is not tried again until a newer one appears")
	default:
		log.Error().Err(err).Str("running", runningRelease(target.previous)).Msg("deploy failed; the running release keeps serving, and the next poll tries again")
	}
	d.emit(EventDeployFailed, fmt.Sprintf("%s: %v (deploy %s)", target.version, err, id))
	d.report(log, id, target.version, err)
	return err
}

// candidate is the release a deploy is about.
type candidate struct {
	version  string
	artifact string
	files    []string
	// previous is the current release's id ("" for none).
	previous string
}

// newest picks the release to deploy, or nil when there is none to. A
// release with no artifact to pick is returned with its failure, so that
// it is remembered as bad like any release that fails.
func (d *Deployer) newest(ctx context.Context, log zerolog.Logger) (*candidate, error) {
	lctx, cancel := context.WithTimeout(ctx, d.o.ListTimeout)
	defer cancel()
	rels, err := d.o.Source.Releases(lctx)
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	byTag := map[string]registry.Release{}
	var tags []string
	for _, r := range rels {
		byTag[r.Version] = r
		tags = append(tags, r.Version)
	}
	v, skipped, err := version.Newest(tags, d.versionOptions())
	for _, s := range skipped {
		log.Debug().Str("tag", s.Tag).Str("why", s.String()).Msg("not a candidate")
	}
	if err != nil {
		return nil, fmt.Errorf("newest release: %w", err)
	}
	tag := v.String()
	prev, err := d.dir.Current()
	if err != nil {
		return nil, err
	}
	if prev != "" {
		if cur, err := d.parse(release.VersionOf(prev)); err == nil && version.Compare(v, cur) <= 0 {
			log.Debug().Str("newest", tag).Str("deployed", cur.String()).Msg("up to date")
			return nil, nil
		}
	}
	if why, ok := d.state.Bad[tag]; ok {
		log.Debug().Str("newest", tag).Str("failed", why).Msg("the newest release failed before; waiting for a newer one")
		return nil, nil
	}
	rel := byTag[tag]
	name, err := rel.Artifact, error(nil)
	if name == "" {
		name, err = version.PickArtifact(rel.Files, d.o.Registry.Artifact, runtime.GOOS, runtime.GOARCH)
	}
	if err != nil {
		if !rel.Created.IsZero() && d.o.Now().Sub(rel.Created) < uploadGrace {
			log.Debug().Err(err).Str("newest", tag).Msg("no artifact yet; the release may still be uploading")
			return nil, nil
		}
		return &candidate{version: tag, previous: prev}, bad("release %s: %w", tag, err)
	}
	return &candidate{version: tag, artifact: name, files: rel.Files, previous: prev}, nil
}

func (d *Deployer) versionOptions() version.Options {
	o := version.Options{PreRelease: d.o.Registry.PreRelease, Slot: d.o.Registry.Slot}
	if d.o.Registry.Calver != "" {
		o.Scheme, o.CalverFormat = version.Calver, d.o.Registry.Calver
	}
	return o
}

// parse reads a deployed version with the registry's scheme.
func (d *Deployer) parse(tag string) (version.Version, error) {
	if d.o.Registry.Calver != "" {
		f, err := version.ParseCalverFormat(d.o.Registry.Calver)
		if err != nil {
			return version.Version{}, err
		}
		return f.Parse(tag)
	}
	return version.ParseSemver(tag)
}

// run carries out a deploy of c.
func (d *Deployer) run(ctx context.Context, log zerolog.Logger, id string, c *candidate) error {
	started := d.o.Now()
	maxSize := d.o.Registry.MaxArtifactSize
	if maxSize <= 0 {
		maxSize = artifact.DefaultMaxSize
	}
	fctx, cancel := context.WithTimeout(ctx, d.o.DownloadTimeout)
	defer cancel()
	path, sum, err := artifact.Fetch(fctx, func(ctx context.Context) (io.ReadCloser, error) {
		rc, size, err := d.o.Source.Open(ctx, c.version, c.artifact)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return nil, artifact.Permanent(err)
		case err != nil:
			return nil, err
		case size > maxSize:
			rc.Close()
			return nil, artifact.Permanent(fmt.Errorf("%w: the registry announces %d bytes, the limit is %d", artifact.ErrTooLarge, size, maxSize))
		}
		return rc, nil
	}, filepath.Join(d.cache, safeName(c.version)), c.artifact, artifact.FetchOptions{
		MaxSize: maxSize,
		// The download is removed once unpacked and the cache is cleared
		// at start: no fsync needed (the unpacked release is what counts).
		Transient: true,
		Progress: func(done, total int64) {
			log.Info().Int64("bytes", done).Int64("of", total).Msg("downloading")
		},
	})
	if errors.Is(err, artifact.ErrTooLarge) {
		return bad("download %s: %w", c.artifact, err)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", c.artifact, err)
	}
	sums, err := d.checksumFiles(ctx, c)
	if err != nil {
		return err
	}
	if err := artifact.Verify(sum, c.artifact, sums, d.o.Registry.VerifyRequired); err != nil {
		_ = os.RemoveAll(filepath.Dir(path))
		return bad("verify %s: %w", c.artifact, err)
	}
	rid := release.NewID(c.version, d.o.Now())
	if err := os.MkdirAll(d.dir.Releases(), 0o755); err != nil {
		return fmt.Errorf("release folder: %w", err)
	}
	err = artifact.Unpack(ctx, path, c.artifact, d.dir.Path(rid), artifact.Limits{})
	// The unpacked release is what a rollback uses: the download goes.
	if rerr := os.RemoveAll(filepath.Dir(path)); rerr != nil {
		log.Warn().Err(rerr).Msg("cannot clean the download cache")
	}
	if err != nil {
		return bad("unpack %s: %w", c.artifact, err)
	}
	fail := func(err error) error {
		// The failed release's folder goes, unless current still points
		// at it (a first deploy has nothing to switch back to).
		if cur, _ := d.dir.Current(); cur != rid {
			if rerr := d.dir.Remove(rid); rerr != nil {
				log.Error().Err(rerr).Msg("cannot remove the failed release's folder")
			}
		}
		return err
	}
	env := hookEnv{app: d.o.App.Name, version: c.version, previous: release.VersionOf(c.previous), dir: d.dir.Path(rid), deployID: id}
	if c.previous == "" {
		env.previous = ""
	}
	if err := runHook(ctx, log, "before_deploy", d.o.App.Hooks.BeforeDeploy, d.o.App.Dir, d.o.App.Hooks.Timeout, env); err != nil {
		return fail(bad("%w", err))
	}
	if err := d.dir.Switch(rid); err != nil {
		return fail(err)
	}
	if len(d.o.App.Command) > 0 && d.o.Restart != nil {
		if err := d.o.Restart(ctx, "deploy "+c.version); err != nil {
			if c.previous != "" {
				if serr := d.dir.Switch(c.previous); serr != nil {
					log.Error().Err(serr).Msg("cannot switch current back")
				}
			}
			return fail(bad("the new release did not take over: %w", err))
		}
	}
	if err := runHook(ctx, log, "after_deploy", d.o.App.Hooks.AfterDeploy, d.o.App.Dir, d.o.App.Hooks.Timeout, env); err != nil {
		log.Error().Err(err).Msg("after_deploy failed; the deploy stands")
	}
	log.Info().Dur("took", d.o.Now().Sub(started).Round(time.Millisecond)).Str("release", rid).Msg("release deployed")
	d.report(log, id, c.version, nil)
	if removed, err := d.dir.Prune(d.o.App.Keep, rid, c.previous); err != nil {
		log.Warn().Err(err).Msg("prune old releases")
	} else if len(removed) > 0 {
		log.Info().Strs("removed", removed).Msg("old releases removed")
	}
	return nil
}

// checksumFiles reads the release's checksum files that may cover the
// artifact.
func (d *Deployer) checksumFiles(ctx context.Context, c *candidate) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range c.files {
		if f != "checksums.txt" && f != "SHA256SUMS" && f != c.artifact+".sha256" {
			continue
		}
		b, err := d.readSmall(ctx, c.version, f)
		if err != nil {
			return nil, fmt.Errorf("checksum file %s: %w", f, err)
		}
		out[f] = b
	}
	return out, nil
}

func (d *Deployer) readSmall(ctx context.Context, ver, file string) ([]byte, error) {
	cctx, cancel := context.WithTimeout(ctx, checksumTimeout)
	defer cancel()
	r, _, err := d.o.Source.Open(cctx, ver, file)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxChecksumFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxChecksumFile {
		return nil, fmt.Errorf("larger than %d bytes", maxChecksumFile)
	}
	return b, nil
}

// Rollback switches current to the release before it and restarts
// gracefully, without a download; if that release is not ready, current
// goes back. The version rolled away from is remembered as failed, so the
// next poll does not deploy it again.
func (d *Deployer) Rollback(ctx context.Context, cause string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	log := d.log.With().Str("deploy", d.o.IDs.New().String()).Logger()
	cur, err := d.dir.Current()
	if err != nil {
		return err
	}
	ids, err := d.dir.List()
	if err != nil {
		return err
	}
	prev := ""
	for _, id := range ids {
		if id < cur && d.state.Bad[release.VersionOf(id)] == "" {
			prev = id
		}
	}
	if cur == "" || prev == "" {
		return fmt.Errorf("rollback of %q: no earlier release is kept", d.o.App.Name)
	}
	log.Info().Str("from", cur).Str("to", prev).Str("cause", cause).Msg("rolling back")
	if err := d.dir.Switch(prev); err != nil {
		return err
	}
	if len(d.o.App.Command) > 0 && d.o.Restart != nil {
		if err := d.o.Restart(ctx, "rollback to "+release.VersionOf(prev)); err != nil {
			if serr := d.dir.Switch(cur); serr != nil {
				log.Error().Err(serr).Msg("cannot switch current back")
			}
			return fmt.Errorf("rollback to %s: %w", prev, err)
		}
	}
	if err := d.state.MarkBad(release.VersionOf(cur), "rolled back by "+cause); err != nil {
		log.Error().Err(err).Msg("cannot remember the rolled-back version")
	}
	d.emit(EventRolledBack, fmt.Sprintf("rolled back from %s to %s", release.VersionOf(cur), release.VersionOf(prev)))
	return nil
}

func (d *Deployer) emit(kind, msg string) {
	if d.o.Emit != nil {
		d.o.Emit(actions.Event{Kind: kind, Message: d.o.App.Name + ": " + msg, Apps: []string{d.o.App.Name}})
	}
}

func (d *Deployer) report(log zerolog.Logger, id, ver string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	rep := registry.Report{App: d.o.App.Name, Version: ver, Host: d.o.Host, DeployID: id, Err: err, At: d.o.Now()}
	if rerr := d.o.Source.Report(ctx, rep); rerr != nil {
		log.Warn().Err(rerr).Msg("cannot report the deploy to the registry")
	}
}

// safeName makes a version usable as one folder name.
func safeName(v string) string { return strings.ReplaceAll(v, "/", "_") }

// runningRelease names the release that keeps serving after a failed
// deploy, for the log: none on a first deploy.
func runningRelease(id string) string {
	if id == "" {
		return "none: nothing was deployed before"
	}
	return release.VersionOf(id)
}
