// Package ghr is the ghr:// registry: the releases of a GitHub repository,
// ghr://owner/repo, through go-github. A token (GITHUB_TOKEN or GH_TOKEN)
// is used when given; GITHUB_API_URL points at GitHub Enterprise (and at
// the tests' fixture). An unchanged poll is a conditional request (ETag),
// which GitHub does not count against the rate limit; once the limit is
// reached, no request is made until it resets.
package ghr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v81/github"

	"github.com/dewyhq/dewy/registry"
)

// Options are what the registry takes from dewy's environment.
type Options struct {
	Token  string // GITHUB_TOKEN or GH_TOKEN
	APIURL string // GITHUB_API_URL; "" is api.github.com
	// HTTPTimeout bounds each request (default 30s); a download is
	// bounded by its context only.
	HTTPTimeout time.Duration
}

// OptionsFrom reads Options from an environment (KEY=VALUE pairs).
func OptionsFrom(environ []string) Options {
	var o Options
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "GITHUB_TOKEN":
			o.Token = v
		case "GH_TOKEN":
			if o.Token == "" {
				o.Token = v
			}
		case "GITHUB_API_URL":
			o.APIURL = v
		}
	}
	return o
}

// Registry reads one repository's releases.
type Registry struct {
	owner, repo string
	api         *github.Client
	download    *http.Client

	mu sync.Mutex
	// limitedUntil: the rate limit is spent until then.
	limitedUntil time.Time
}

var _ registry.Registry = (*Registry)(nil)

// New returns the registry of u (ghr://owner/repo).
func New(u *url.URL, o Options) (*Registry, error) {
	repo := strings.Trim(u.Path, "/")
	if u.Host == "" || repo == "" || strings.Contains(repo, "/") {
		return nil, fmt.Errorf("ghr registry %q: want ghr://owner/repo", u.String())
	}
	if o.HTTPTimeout <= 0 {
		o.HTTPTimeout = 30 * time.Second
	}
	api := &http.Client{Timeout: o.HTTPTimeout, Transport: &etagTransport{next: http.DefaultTransport, cache: map[string]cached{}}}
	c := github.NewClient(api)
	if o.Token != "" {
		c = c.WithAuthToken(o.Token)
	}
	if o.APIURL != "" {
		base, err := url.Parse(strings.TrimSuffix(o.APIURL, "/") + "/")
		if err != nil {
			return nil, fmt.Errorf("GITHUB_API_URL %q: %w", o.APIURL, err)
		}
		c.BaseURL = base
	}
	// Asset downloads follow GitHub's redirect to its storage; the token
	// must not go along, and the download may take long.
	return &Registry{owner: u.Host, repo: repo, api: c, download: &http.Client{}}, nil
}

func (r *Registry) checkLimit() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Now().Before(r.limitedUntil) {
		return fmt.Errorf("ghr registry %s/%s: GitHub's rate limit is spent until %s; not asking before then", r.owner, r.repo, r.limitedUntil.Format(time.RFC3339))
	}
	return nil
}

// noteLimit remembers a spent rate limit from err.
func (r *Registry) noteLimit(err error) {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.As(err, &rl):
		r.limitedUntil = rl.Rate.Reset.Time
	case errors.As(err, &abuse) && abuse.RetryAfter != nil:
		r.limitedUntil = time.Now().Add(*abuse.RetryAfter)
	}
}

// Releases lists the newest 100 published releases (drafts left out).
func (r *Registry) Releases(ctx context.Context) ([]registry.Release, error) {
	if err := r.checkLimit(); err != nil {
		return nil, err
	}
	rels, _, err := r.api.Repositories.ListReleases(ctx, r.owner, r.repo, &github.ListOptions{PerPage: 100})
	if err != nil {
		r.noteLimit(err)
		return nil, fmt.Errorf("ghr registry %s/%s: %w", r.owner, r.repo, err)
	}
	var out []registry.Release
	for _, rel := range rels {
		if rel.GetDraft() || rel.GetTagName() == "" {
			continue
		}
		x := registry.Release{Version: rel.GetTagName(), Created: rel.GetCreatedAt().Time}
		if p := rel.GetPublishedAt().Time; !p.IsZero() {
			x.Created = p
		}
		for _, a := range rel.Assets {
			x.Files = append(x.Files, a.GetName())
		}
		out = append(out, x)
	}
	return out, nil
}

// Open downloads a release asset.
func (r *Registry) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error) {
	if err := r.checkLimit(); err != nil {
		return nil, 0, err
	}
	rel, _, err := r.api.Repositories.GetReleaseByTag(ctx, r.owner, r.repo, version)
	if err != nil {
		r.noteLimit(err)
		return nil, 0, fmt.Errorf("ghr registry %s/%s release %s: %w", r.owner, r.repo, version, err)
	}
	for _, a := range rel.Assets {
		if a.GetName() != file {
			continue
		}
		rc, redirect, err := r.api.Repositories.DownloadReleaseAsset(ctx, r.owner, r.repo, a.GetID(), r.download)
		if err != nil {
			r.noteLimit(err)
			return nil, 0, fmt.Errorf("ghr registry %s/%s asset %s: %w", r.owner, r.repo, file, err)
		}
		if redirect != "" {
			return nil, 0, fmt.Errorf("ghr registry %s/%s asset %s: unexpected redirect to %s", r.owner, r.repo, file, redirect)
		}
		return rc, int64(a.GetSize()), nil
	}
	return nil, 0, fmt.Errorf("ghr registry %s/%s release %s: asset %s: %w", r.owner, r.repo, version, file, registry.ErrNotFound)
}

// Report does nothing: a GitHub release has no place for a host's report.
func (r *Registry) Report(context.Context, registry.Report) error { return nil }

// etagTransport makes GET requests conditional: a response with an ETag
// is kept, the next request for the URL sends If-None-Match, and a 304 is
// answered from the kept copy. GitHub does not count a 304 against the
// rate limit, so an unchanged poll is free. Only small API responses are
// kept (assets are downloaded by another client).
type etagTransport struct {
	next  http.RoundTripper
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	etag   string
	body   []byte
	header http.Header
}

// maxCached bounds a kept response.
const maxCached = 4 << 20

func (t *etagTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet {
		return t.next.RoundTrip(req)
	}
	key := req.URL.String()
	t.mu.Lock()
	c, ok := t.cache[key]
	t.mu.Unlock()
	if ok {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", c.etag)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && ok:
		resp.Body.Close()
		h := c.header.Clone()
		for k, v := range resp.Header { // the fresh rate-limit headers
			h[k] = v
		}
		return &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: h, Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: req,
		}, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "" && resp.ContentLength <= maxCached:
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxCached+1))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(body) <= maxCached {
			t.mu.Lock()
			t.cache[key] = cached{etag: resp.Header.Get("ETag"), body: body, header: resp.Header.Clone()}
			t.mu.Unlock()
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	return resp, nil
}
