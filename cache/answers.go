package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/registry"
)

// maxAnswer bounds a shared answer read into memory.
const maxAnswer = 16 << 20

// answer is a registry's answer as shared in the cache.
type answer struct {
	URL       string             `json:"url"`
	Host      string             `json:"host"`
	FetchedAt time.Time          `json:"fetched_at"`
	Releases  []registry.Release `json:"releases"`
}

// Registry returns src with its Releases answer shared through the cache
// for ttl: within a window of ttl one host asks upstream (the one whose
// conditional write of the window's lock succeeds) and writes the answer;
// the others read it. When upstream fails, the last shared answer is
// served, however old, with a warning: a registry outage then delays new
// deploys but never breaks a poll. Open and Report go to src.
func (s *Shared) Registry(src registry.Registry, u *url.URL, ttl time.Duration) registry.Registry {
	key := registryKey(u)
	return &sharedRegistry{
		Registry: src, s: s, ttl: ttl, url: u.Redacted(),
		answerKey: "registries/" + key + "/releases.json",
		lockKey:   "registries/" + key + "/lock-",
		log:       s.log.With().Str("registry_url", u.Redacted()).Logger(),
	}
}

type sharedRegistry struct {
	registry.Registry
	s                  *Shared
	ttl                time.Duration
	url                string
	answerKey, lockKey string
	log                zerolog.Logger
}

// Releases reads the shared answer while it is fresh; otherwise the
// window's lock decides who asks upstream.
func (r *sharedRegistry) Releases(ctx context.Context) ([]registry.Release, error) {
	cached, err := r.read(ctx)
	if err != nil {
		r.log.Warn().Err(err).Msg("cannot read the shared registry answer; asking the registry")
	}
	now := r.s.now()
	if cached != nil && now.Sub(cached.FetchedAt) < r.ttl {
		return cached.Releases, nil
	}
	window := now.Truncate(r.ttl)
	won, err := r.lock(ctx, window)
	if err != nil {
		r.log.Warn().Err(err).Msg("cannot take the shared registry lock; asking the registry")
		won = true
	}
	if !won && cached != nil {
		r.log.Debug().Time("fetched_at", cached.FetchedAt).Msg("another host asks the registry in this window; using the last shared answer")
		return cached.Releases, nil
	}
	rels, err := r.Registry.Releases(ctx)
	if err != nil {
		if cached != nil {
			r.log.Warn().Err(err).Time("fetched_at", cached.FetchedAt).Str("host", cached.Host).Msg("the registry failed; using the last shared answer")
			return cached.Releases, nil
		}
		return nil, err
	}
	if err := r.write(ctx, rels); err != nil {
		r.log.Warn().Err(err).Msg("cannot share the registry answer")
	}
	if won {
		// The lock of the window before is no longer needed by anyone.
		if err := r.s.store.Delete(ctx, r.lockName(window.Add(-r.ttl))); err != nil {
			r.log.Debug().Err(err).Msg("cannot remove the previous window's lock")
		}
	}
	return rels, nil
}

func (r *sharedRegistry) lockName(window time.Time) string {
	return r.lockKey + strconv.FormatInt(window.Unix(), 10)
}

// lock takes the window's lock by a conditional write: true when this
// host wrote it.
func (r *sharedRegistry) lock(ctx context.Context, window time.Time) (bool, error) {
	body := fmt.Sprintf("%s %s\n", r.s.host, r.s.now().UTC().Format(time.RFC3339Nano))
	err := r.s.store.Create(ctx, r.lockName(window), strings.NewReader(body), int64(len(body)), nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrExists):
		return false, nil
	default:
		return false, err
	}
}

// read returns the shared answer, nil when there is none.
func (r *sharedRegistry) read(ctx context.Context) (*answer, error) {
	rc, _, err := r.s.store.Get(ctx, r.answerKey)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.answerKey, err)
	}
	if len(b) > maxAnswer {
		return nil, fmt.Errorf("%s is larger than %d bytes", r.answerKey, maxAnswer)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", r.answerKey, err)
	}
	if a.URL != r.url {
		return nil, fmt.Errorf("%s answers for %s, not %s", r.answerKey, a.URL, r.url)
	}
	return &a, nil
}

func (r *sharedRegistry) write(ctx context.Context, rels []registry.Release) error {
	b, err := json.Marshal(answer{URL: r.url, Host: r.s.host, FetchedAt: r.s.now().UTC(), Releases: rels})
	if err != nil {
		return err
	}
	return r.s.store.Put(ctx, r.answerKey, b)
}
