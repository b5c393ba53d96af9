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
	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/engine/ids"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/release"
	"github.com/dewyhq/dewy/registry"
	"github.com/dewyhq/dewy/registry/version"
)

// Events a deploy emits.
const (
	EventDeployStarted = "deploy_started"
	EventDownloaded    = "downloaded"
	EventDeployed      = "deployed"
	EventDeployFailed  = "deploy_failed"
	EventRolledBack    = "rolled_back"
	EventHookFailed    = "hook_failed"
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
	// progressEvery is how often a download's progress is recorded (for
	// the status and `dewy deploy`'s progress bar), logEvery how often it
	// is logged.
	progressEvery = 250 * time.Millisecond
	logEvery      = 5 * time.Second
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
	// Observer, when set, hears deploys, rollbacks and polls (metrics).
	Observer Observer
	// Lock, when set, serialises the app's deploys and rollbacks across
	// Deployers: a reload replaces an app's Deployer while the old one
	// may still be finishing a deploy, and the engine gives both the
	// app's one lock. Nil: the Deployer's own.
	Lock *sync.Mutex
	// Cache, when set, is the fleet's shared cache of this registry's
	// artifacts (agent { cache }): an artifact is read from it when some
	// host stored it, else downloaded from the registry and stored there
	// once verified. Checksum files always come from the registry, so the
	// cache can never vouch for its own bytes.
	Cache ArtifactCache
}

// Observer hears what the metrics count. Its methods must not block.
type Observer interface {
	// Deployed: a deploy ended with result (ResultDeployed, ResultFailed,
	// ResultCutShort) after took.
	Deployed(app, result string, took time.Duration)
	RolledBack(app string)
	// Polled: the registry was asked for its releases; err is its answer.
	Polled(app string, err error)
}

// ArtifactCache is the shared cache of one registry's artifacts (a
// *cache.Artifacts).
type ArtifactCache interface {
	// Open returns a cached file, its size and the SHA-256 it was stored
	// with; registry.ErrNotFound (wrapped) when no host stored it yet.
	Open(ctx context.Context, version, file string) (io.ReadCloser, int64, string, error)
	// Store stores a verified file unless another host did first.
	Store(ctx context.Context, version, file string, body io.Reader, size int64, sha256 string) error
}

// Deployer deploys one app. Its methods may be called from any goroutine;
// deploys and rollbacks of the app never overlap.
type Deployer struct {
	o     Options
	dir   release.Dir
	cache string
	log   zerolog.Logger

	// mu allows one deploy or rollback of the app at a time (Options.Lock
	// or the Deployer's own); it guards the rest.
	mu *sync.Mutex
	// state is read anew under mu by every deploy and rollback: another
	// Deployer of the app (before a reload) may have written it.
	state     *release.State
	statePath string
	// cacheCleared: the download cache was emptied (once, under mu).
	cacheCleared bool
	// life ends with Close: it cancels what the Deployer is doing.
	life  context.Context
	close context.CancelFunc
	// infoMu guards last, nextPoll and progress, for Last and Progress.
	infoMu   sync.Mutex
	last     Record
	nextPoll time.Time
	progress Progress
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
	statePath := filepath.Join(o.StateDir, "apps", o.App.Name+".json")
	st, err := release.LoadState(statePath)
	if err != nil {
		return nil, fmt.Errorf("app %q: %w", o.App.Name, err)
	}
	mu := o.Lock
	if mu == nil {
		mu = &sync.Mutex{}
	}
	life, closeFn := context.WithCancel(context.Background())
	return &Deployer{
		life:      life,
		close:     closeFn,
		o:         o,
		dir:       release.NewDir(o.App.Dir),
		cache:     filepath.Join(o.StateDir, "cache", o.App.Name),
		log:       o.Logger.With().Str("app", o.App.Name).Str("registry", o.Registry.Name).Logger(),
		mu:        mu,
		state:     st,
		statePath: statePath,
	}, nil
}

// ErrClosed is returned by the Deployer's methods after Close.
var ErrClosed = errors.New("deployer closed")

// Close ends the Deployer: a deploy under way is cancelled (a download is
// cut; a restart under way still ends, ready or switched back) and later
// calls fail with ErrClosed. It does not wait: whoever needs the app's
// deploys to have stopped takes the app's Lock.
func (d *Deployer) Close() { d.close() }

// bound returns ctx, also cancelled by Close.
func (d *Deployer) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.life, cancel)
	return ctx, func() { stop(); cancel() }
}

// lock takes the app's lock and brings the Deployer up to date with what
// another Deployer of the app may have done: the failed versions it
// remembered, and (the first time) the downloads a crash or an earlier
// Deployer left in the cache, which live only until they are unpacked.
func (d *Deployer) lock() (unlock func(), err error) {
	d.mu.Lock()
	if d.life.Err() != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("app %q: %w", d.o.App.Name, ErrClosed)
	}
	st, err := release.LoadState(d.statePath)
	if err == nil && !d.cacheCleared {
		if err = os.RemoveAll(d.cache); err != nil {
			err = fmt.Errorf("clean the download cache: %w", err)
		}
		d.cacheCleared = err == nil
	}
	if err != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("app %q: %w", d.o.App.Name, err)
	}
	d.state = st
	return d.mu.Unlock, nil
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
		d.infoMu.Lock()
		d.nextPoll = d.o.Now().Add(interval + jitter)
		d.infoMu.Unlock()
		t := time.NewTimer(interval + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// listError is a registry that could not list its releases.
type listError struct{ err error }

func (e *listError) Error() string { return "list releases: " + e.err.Error() }
func (e *listError) Unwrap() error { return e.err }

// failure is a deploy that failed for its release's own fault: the
// version is not tried again.
type failure struct{ err error }

func (f failure) Error() string { return f.err.Error() }
func (f failure) Unwrap() error { return f.err }

func bad(format string, args ...any) error { return failure{fmt.Errorf(format, args...)} }

// Deploy deploys the newest release if it is newer than the deployed one
// and has not failed before. It returns nil when there is nothing to do.
func (d *Deployer) Deploy(ctx context.Context, cause string) error {
	return d.deploy(ctx, cause, "")
}

// DeployVersion deploys the release tagged version, older or newer than
// the deployed one, even one that failed before (someone asked for it by
// name). A poll later deploys a newer release as usual.
func (d *Deployer) DeployVersion(ctx context.Context, cause, version string) error {
	if version == "" {
		return errors.New("deploy: no version given")
	}
	return d.deploy(ctx, cause, version)
}

func (d *Deployer) deploy(ctx context.Context, cause, pin string) error {
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ctx, cancel := d.bound(ctx)
	defer cancel()
	id := d.o.IDs.New().String()
	log := d.log.With().Str("deploy_id", id).Logger()
	target, why, err := d.newest(ctx, log, pin)
	if o := d.o.Observer; o != nil {
		var lerr *listError
		if errors.As(err, &lerr) {
			o.Polled(d.o.App.Name, err)
		} else {
			o.Polled(d.o.App.Name, nil)
		}
	}
	if target == nil {
		if err != nil && err.Error() != d.lastErr {
			log.Error().Err(err).Msg("deploy: cannot tell the newest release")
		} else if err != nil {
			log.Debug().Err(err).Msg("deploy: still cannot tell the newest release")
		}
		d.lastErr = ""
		rec := Record{ID: id, Result: ResultNothing, Detail: why, At: d.o.Now()}
		if err != nil {
			d.lastErr = err.Error()
			rec.Result, rec.Error = ResultFailed, err.Error()
		}
		d.record(rec)
		return err
	}
	d.lastErr = ""
	log = log.With().Str("version", target.version).Logger()
	started := d.o.Now()
	if err == nil { // else the release itself is bad: no artifact to deploy
		log.Info().Str("cause", cause).Str("artifact", target.artifact).Str("previous", target.previous).Msg("deploying a new release")
		d.emit(actions.Event{Kind: EventDeployStarted, Message: fmt.Sprintf("deploying %s (%s, by %s)", target.version, target.artifact, cause), Version: target.version, DeployID: id})
		err = d.run(ctx, log, id, target)
	}
	rec := Record{ID: id, Version: target.version, Result: ResultDeployed, At: d.o.Now()}
	defer func() {
		d.record(rec)
		if o := d.o.Observer; o != nil {
			o.Deployed(d.o.App.Name, rec.Result, rec.At.Sub(started))
		}
	}()
	var f failure
	switch {
	case err == nil:
		d.emit(actions.Event{Kind: EventDeployed, Message: fmt.Sprintf("%s deployed", target.version), Version: target.version, DeployID: id})
		return nil
	case ctx.Err() != nil:
		rec.Result, rec.Error = ResultCutShort, err.Error()
		log.Warn().Err(err).Str("running", runningRelease(target.previous)).Msg("deploy cut short (shutdown or reload); current is where it was, and the next poll tries again")
		return err
	case errors.As(err, &f):
		if serr := d.state.MarkBad(target.version, err.Error()); serr != nil {
			log.Error().Err(serr).Msg("cannot remember the failed version")
		}
		log.Error().Err(err).Str("running", runningRelease(target.previous)).Msg("deploy failed; the running release keeps serving and this version is not tried again until a newer one appears")
	default:
		log.Error().Err(err).Str("running", runningRelease(target.previous)).Msg("deploy failed; the running release keeps serving, and the next poll tries again")
	}
	rec.Result, rec.Error = ResultFailed, err.Error()
	d.emit(actions.Event{Kind: EventDeployFailed, Message: fmt.Sprintf("deploy of %s failed: %v", target.version, err), Version: target.version, DeployID: id, Failure: true})
	d.report(log, id, target.version, err)
	return err
}

// Results of a deploy, in Record.Result.
const (
	ResultDeployed   = "deployed"
	ResultFailed     = "failed"
	ResultCutShort   = "cut short"
	ResultNothing    = "nothing to deploy"
	ResultRolledBack = "rolled back"
)

// Record is the outcome of the app's last deploy or rollback, for status.
type Record struct {
	// ID is the deploy's ULID.
	ID      string    `json:"id"`
	Version string    `json:"version,omitempty"`
	Result  string    `json:"result"`
	Error   string    `json:"error,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	At      time.Time `json:"at"`
}

func (d *Deployer) record(r Record) {
	d.infoMu.Lock()
	d.last = r
	d.infoMu.Unlock()
}

// Last returns the outcome of the last deploy or rollback (zero before
// the first) and when the poller asks the registry next (zero when it
// does not run). It never blocks on a deploy under way.
func (d *Deployer) Last() (last Record, nextPoll time.Time) {
	d.infoMu.Lock()
	defer d.infoMu.Unlock()
	return d.last, d.nextPoll
}

// Progress is a download under way.
type Progress struct {
	DeployID string
	Version  string
	Bytes    int64
	// Total is the artifact's size; -1 when the registry did not say.
	Total int64
}

// Progress returns the download under way; ok is false when there is
// none.
func (d *Deployer) Progress() (p Progress, ok bool) {
	d.infoMu.Lock()
	defer d.infoMu.Unlock()
	return d.progress, d.progress.DeployID != ""
}

func (d *Deployer) setProgress(p Progress) {
	d.infoMu.Lock()
	d.progress = p
	d.infoMu.Unlock()
}

// Releases returns the app's kept release ids (oldest first), the one
// current points at, and the versions that failed with why.
func (d *Deployer) Releases() (ids []string, current string, failed map[string]string, err error) {
	ids, err = d.dir.List()
	if err != nil {
		return nil, "", nil, err
	}
	current, err = d.dir.Current()
	if err != nil {
		return nil, "", nil, err
	}
	st, err := release.LoadState(d.statePath)
	if err != nil {
		return nil, "", nil, err
	}
	return ids, current, st.Bad, nil
}

// candidate is the release a deploy is about.
type candidate struct {
	version  string
	artifact string
	files    []string
	// previous is the current release's id ("" for none).
	previous string
}

// newest picks the release to deploy (pin, or the newest), or nil and
// why there is none to. A release with no artifact to pick is returned
// with its failure, so that it is remembered as bad like any release
// that fails.
func (d *Deployer) newest(ctx context.Context, log zerolog.Logger, pin string) (*candidate, string, error) {
	lctx, cancel := context.WithTimeout(ctx, d.o.ListTimeout)
	defer cancel()
	rels, err := d.o.Source.Releases(lctx)
	if err != nil {
		return nil, "", &listError{err}
	}
	byTag := map[string]registry.Release{}
	var tags []string
	for _, r := range rels {
		byTag[r.Version] = r
		tags = append(tags, r.Version)
	}
	var v version.Version
	if pin != "" {
		if _, ok := byTag[pin]; !ok {
			return nil, "", fmt.Errorf("release %s: %w", pin, registry.ErrNotFound)
		}
		if v, err = d.parse(pin); err != nil {
			return nil, "", fmt.Errorf("release %s: %w", pin, err)
		}
	} else {
		var skipped []version.Skip
		v, skipped, err = version.Newest(tags, d.versionOptions())
		for _, s := range skipped {
			log.Debug().Str("tag", s.Tag).Str("why", s.String()).Msg("not a candidate")
		}
		if err != nil {
			return nil, "", fmt.Errorf("newest release: %w", err)
		}
	}
	tag := v.String()
	if pin != "" {
		tag = pin
	}
	prev, err := d.dir.Current()
	if err != nil {
		return nil, "", err
	}
	if prev != "" {
		// A release whose version is unknown (the flag-driven dewy's,
		// without its record) is replaced by the newest once.
		cur, err := d.parse(d.dir.Version(prev))
		if err == nil && (pin == "" && version.Compare(v, cur) <= 0 || pin != "" && version.Compare(v, cur) == 0) {
			log.Debug().Str("newest", tag).Str("deployed", cur.String()).Msg("up to date")
			return nil, fmt.Sprintf("%s is deployed", cur.String()), nil
		}
		if err != nil {
			log.Debug().Str("newest", tag).Str("current", prev).Msg("the deployed release's version is unknown; the newest replaces it")
		}
	}
	if why, ok := d.state.Bad[tag]; ok && pin == "" {
		log.Debug().Str("newest", tag).Str("failed", why).Msg("the newest release failed before; waiting for a newer one")
		return nil, fmt.Sprintf("the newest release, %s, failed before (%s); waiting for a newer one", tag, why), nil
	}
	rel := byTag[tag]
	name, err := rel.Artifact, error(nil)
	if name == "" {
		name, err = version.PickArtifact(rel.Files, d.o.Registry.Artifact, runtime.GOOS, runtime.GOARCH)
	}
	if err != nil {
		if !rel.Created.IsZero() && d.o.Now().Sub(rel.Created) < uploadGrace {
			log.Debug().Err(err).Str("newest", tag).Msg("no artifact yet; the release may still be uploading")
			return nil, fmt.Sprintf("%s has no artifact for this host yet; it may still be uploading", tag), nil
		}
		return &candidate{version: tag, previous: prev}, "", bad("release %s: %w", tag, err)
	}
	return &candidate{version: tag, artifact: name, files: rel.Files, previous: prev}, "", nil
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
	defer d.setProgress(Progress{})
	path, sum, fromCache, err := d.download(ctx, log, id, c, maxSize, d.o.Cache)
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
	err = artifact.Verify(sum, c.artifact, sums, d.o.Registry.VerifyRequired)
	if err != nil && fromCache {
		// The registry's checksum says the shared copy is not the
		// release: the registry's own bytes decide.
		_ = os.RemoveAll(filepath.Dir(path))
		log.Warn().Err(err).Msg("the shared cache's copy fails verification; downloading from the registry")
		path, sum, fromCache, err = d.download(ctx, log, id, c, maxSize, nil)
		if err != nil {
			return fmt.Errorf("download %s: %w", c.artifact, err)
		}
		err = artifact.Verify(sum, c.artifact, sums, d.o.Registry.VerifyRequired)
	}
	if err != nil {
		_ = os.RemoveAll(filepath.Dir(path))
		return bad("verify %s: %w", c.artifact, err)
	}
	if fi, err := os.Stat(path); err == nil {
		from := "the registry"
		if fromCache {
			from = "the shared cache"
		}
		checked := "no checksum file to check it against"
		if len(sums) > 0 {
			checked = "its checksum matches"
		}
		d.emit(actions.Event{Kind: EventDownloaded, Message: fmt.Sprintf("%s downloaded from %s (%s, %d bytes, sha256 %s; %s)", c.version, from, c.artifact, fi.Size(), sum, checked), Version: c.version, DeployID: id})
	}
	rid := release.NewID(c.version, d.o.Now())
	if err := os.MkdirAll(d.dir.Releases(), 0o755); err != nil {
		return fmt.Errorf("release folder: %w", err)
	}
	shared := make(chan struct{})
	if fromCache || d.o.Cache == nil {
		close(shared)
	} else {
		// The other hosts get it from the cache; stored while this host
		// unpacks, and awaited before the download is removed.
		go func() {
			defer close(shared)
			d.share(ctx, log, c, path, sum)
		}()
	}
	err = artifact.Unpack(ctx, path, c.artifact, d.dir.Path(rid), artifact.Limits{})
	<-shared
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
	env := hookEnv{app: d.o.App.Name, version: c.version, previous: d.dir.Version(c.previous), dir: d.dir.Path(rid), deployID: id}
	if err := runHook(ctx, log, "before_deploy", d.o.App.Hooks.BeforeDeploy, d.o.App.Dir, d.o.App.Hooks.Timeout, env); err != nil {
		d.hookFailed(id, c.version, err, "the deploy is aborted")
		return fail(bad("%w", err))
	}
	if err := d.dir.Switch(rid); err != nil {
		return fail(err)
	}
	if len(d.o.App.Command) > 0 && d.o.Restart != nil {
		// The restart is not cut by ctx (a shutdown, a reload, Close): it
		// ends by itself, the new generation ready or not within its
		// ready timeout, or its supervisor stopping; only then is it
		// known whether current must go back.
		if err := d.o.Restart(context.WithoutCancel(ctx), "deploy "+c.version); err != nil {
			if c.previous != "" {
				if serr := d.dir.Switch(c.previous); serr != nil {
					log.Error().Err(serr).Msg("cannot switch current back")
				}
			}
			return fail(bad("the new release did not take over: %w", err))
		}
	}
	if err := runHook(ctx, log, "after_deploy", d.o.App.Hooks.AfterDeploy, d.o.App.Dir, d.o.App.Hooks.Timeout, env); err != nil {
		d.hookFailed(id, c.version, err, "the deploy stands")
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

// download fetches c's artifact into the download cache: from the shared
// cache (shared, nil for none) when a host stored it there and it still
// matches the SHA-256 it was stored with, else from the registry.
// fromCache says which.
func (d *Deployer) download(ctx context.Context, log zerolog.Logger, id string, c *candidate, maxSize int64, shared ArtifactCache) (path, sum string, fromCache bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.DownloadTimeout)
	defer cancel()
	dest := filepath.Join(d.cache, safeName(c.version))
	// size is what the source announced, for the progress; the log says
	// it every logEvery, the status (a progress bar) sees it often.
	size := int64(-1)
	var logged time.Time
	opts := artifact.FetchOptions{
		MaxSize: maxSize,
		// The download is removed once unpacked and the cache is cleared
		// at start: no fsync needed (the unpacked release is what counts).
		Transient:        true,
		ProgressInterval: progressEvery,
		Progress: func(done, _ int64) {
			d.setProgress(Progress{DeployID: id, Version: c.version, Bytes: done, Total: size})
			if time.Since(logged) >= logEvery {
				logged = time.Now()
				log.Info().Int64("bytes", done).Int64("of", size).Msg("downloading")
			}
		},
	}
	if shared != nil {
		var stored string
		path, sum, err = artifact.Fetch(ctx, func(ctx context.Context) (io.ReadCloser, error) {
			rc, n, s, err := shared.Open(ctx, c.version, c.artifact)
			switch {
			case err != nil:
				return nil, artifact.Permanent(err)
			case n > maxSize:
				rc.Close()
				return nil, artifact.Permanent(fmt.Errorf("%w: the shared cache holds %d bytes, the limit is %d", artifact.ErrTooLarge, n, maxSize))
			}
			stored, size = s, n
			return rc, nil
		}, dest, c.artifact, opts)
		switch {
		case err == nil && sum == stored:
			log.Info().Msg("artifact read from the shared cache")
			return path, sum, true, nil
		case err == nil:
			_ = os.RemoveAll(dest)
			log.Warn().Str("stored", stored).Str("read", sum).Msg("the shared cache's copy does not match the SHA-256 it was stored with; downloading from the registry")
		case ctx.Err() != nil:
			return "", "", false, err
		case errors.Is(err, registry.ErrNotFound):
			log.Debug().Msg("not in the shared cache yet; downloading from the registry")
		default:
			log.Warn().Err(err).Msg("cannot read the shared cache; downloading from the registry")
		}
	}
	path, sum, err = artifact.Fetch(ctx, func(ctx context.Context) (io.ReadCloser, error) {
		rc, n, err := d.o.Source.Open(ctx, c.version, c.artifact)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return nil, artifact.Permanent(err)
		case err != nil:
			return nil, err
		case n > maxSize:
			rc.Close()
			return nil, artifact.Permanent(fmt.Errorf("%w: the registry announces %d bytes, the limit is %d", artifact.ErrTooLarge, n, maxSize))
		}
		size = n
		return rc, nil
	}, dest, c.artifact, opts)
	return path, sum, false, err
}

// share stores a verified download in the shared cache for the other
// hosts; a failure costs them only their own download.
func (d *Deployer) share(ctx context.Context, log zerolog.Logger, c *candidate, path, sum string) {
	ctx, cancel := context.WithTimeout(ctx, d.o.DownloadTimeout)
	defer cancel()
	f, err := os.Open(path)
	if err != nil {
		log.Warn().Err(err).Msg("cannot store the artifact in the shared cache")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil {
		err = d.o.Cache.Store(ctx, c.version, c.artifact, f, fi.Size(), sum)
	}
	switch {
	case err == nil:
		log.Info().Msg("artifact stored in the shared cache for the other hosts")
	case errors.Is(err, cache.ErrExists):
		log.Debug().Msg("another host stored the artifact in the shared cache first")
	default:
		log.Warn().Err(err).Msg("cannot store the artifact in the shared cache")
	}
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
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ctx, cancel := d.bound(ctx)
	defer cancel()
	id := d.o.IDs.New().String()
	log := d.log.With().Str("deploy_id", id).Logger()
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
		if err := d.o.Restart(context.WithoutCancel(ctx), "rollback to "+release.VersionOf(prev)); err != nil {
			if serr := d.dir.Switch(cur); serr != nil {
				log.Error().Err(serr).Msg("cannot switch current back")
			}
			return fmt.Errorf("rollback to %s: %w", prev, err)
		}
	}
	if err := d.state.MarkBad(release.VersionOf(cur), "rolled back by "+cause); err != nil {
		log.Error().Err(err).Msg("cannot remember the rolled-back version")
	}
	if o := d.o.Observer; o != nil {
		o.RolledBack(d.o.App.Name)
	}
	d.record(Record{ID: id, Version: release.VersionOf(prev), Result: ResultRolledBack, Detail: "from " + release.VersionOf(cur), At: d.o.Now()})
	d.emit(actions.Event{Kind: EventRolledBack, Message: fmt.Sprintf("rolled back from %s to %s by %s", release.VersionOf(cur), release.VersionOf(prev), cause), Version: release.VersionOf(prev), DeployID: id})
	return nil
}

// hookFailed emits a hook's failure with its result.
func (d *Deployer) hookFailed(id, version string, err error, outcome string) {
	ev := actions.Event{Kind: EventHookFailed, Message: fmt.Sprintf("%v; %s", err, outcome), Version: version, DeployID: id, Failure: true}
	var he *HookError
	if errors.As(err, &he) {
		ev.Hook = &he.Result
	}
	d.emit(ev)
}

// emit publishes ev about the app, its message prefixed with the app.
func (d *Deployer) emit(ev actions.Event) {
	if d.o.Emit != nil {
		ev.Message = d.o.App.Name + ": " + ev.Message
		ev.Apps = []string{d.o.App.Name}
		d.o.Emit(ev)
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
