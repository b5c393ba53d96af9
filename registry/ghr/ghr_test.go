package ghr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dewyhq/dewy/registry"
)

// fixture serves the GitHub REST responses the registry uses, as GitHub
// documents them: "List releases" and "Get a release by tag name" (release
// objects with assets), "Get a release asset" with Accept:
// application/octet-stream answered by a 302 to storage, ETag and 304 for
// conditional requests, the X-RateLimit-* headers, and the 403 of a spent
// limit.
type fixture struct {
	mu          sync.Mutex
	releases    []map[string]any
	assets      map[int64][]byte
	requests    int // API requests that reached the server
	notModified int
	limited     bool
	sawToken    string
}

func (f *fixture) handler() http.Handler {
	mux := http.NewServeMux()
	rate := func(w http.ResponseWriter, remaining int) {
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	}
	api := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.requests++
			f.sawToken = r.Header.Get("Authorization")
			if f.limited {
				rate(w, 0)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, `{"message":"API rate limit exceeded for 127.0.0.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
				return
			}
			rate(w, 59)
			h(w, r)
		}
	}
	writeJSON := func(w http.ResponseWriter, r *http.Request, v any) {
		b, _ := json.Marshal(v)
		etag := fmt.Sprintf(`W/"%x"`, len(b)*7919+len(f.releases))
		if r.Header.Get("If-None-Match") == etag {
			f.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b)
	}
	mux.HandleFunc("GET /repos/o/r/releases", api(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, r, f.releases) }))
	mux.HandleFunc("GET /repos/o/r/releases/tags/{tag}", api(func(w http.ResponseWriter, r *http.Request) {
		for _, rel := range f.releases {
			if rel["tag_name"] == r.PathValue("tag") {
				writeJSON(w, r, rel)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	}))
	mux.HandleFunc("GET /repos/o/r/releases/assets/{id}", api(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "application/octet-stream" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		http.Redirect(w, r, "/storage/"+r.PathValue("id"), http.StatusFound)
	}))
	mux.HandleFunc("GET /storage/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "the token must not follow the redirect to storage", http.StatusBadRequest)
			return
		}
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		f.mu.Lock()
		b, ok := f.assets[id]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	return mux
}

func release(tag string, draft bool, published time.Time, assets map[int64]string) map[string]any {
	var as []map[string]any
	for id, name := range assets {
		as = append(as, map[string]any{"id": id, "name": name, "size": 5, "state": "uploaded"})
	}
	return map[string]any{"tag_name": tag, "draft": draft, "prerelease": strings.Contains(tag, "-"), "published_at": published.Format(time.RFC3339), "created_at": published.Format(time.RFC3339), "assets": as}
}

func TestAgainstAGitHubFixture(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	f := &fixture{
		releases: []map[string]any{
			release("v1.1.0", false, now, map[int64]string{11: "app_linux_amd64.tar.gz", 12: "checksums.txt"}),
			release("v1.2.0", true, now, map[int64]string{21: "app_linux_amd64.tar.gz"}), // a draft
			release("v1.0.0", false, now.Add(-time.Hour), map[int64]string{1: "app_linux_amd64.tar.gz"}),
		},
		assets: map[int64][]byte{11: []byte("v110!")},
	}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	u, _ := url.Parse("ghr://o/r")
	r, err := New(u, OptionsFrom([]string{"GH_TOKEN=t0ken", "GITHUB_API_URL=" + srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rels, err := r.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Version != "v1.1.0" || len(rels[0].Files) != 2 || !rels[0].Created.Equal(now) {
		t.Fatalf("releases %+v (the draft must be left out)", rels)
	}
	if f.sawToken != "Bearer t0ken" {
		t.Errorf("Authorization %q, want the GH_TOKEN", f.sawToken)
	}
	// An unchanged poll is a conditional request answered 304.
	again, err := r.Releases(ctx)
	if err != nil || len(again) != 2 || f.notModified != 1 {
		t.Fatalf("second poll: %d releases, %v, %d answered 304 (want 1)", len(again), err, f.notModified)
	}

	rc, size, err := r.Open(ctx, "v1.1.0", "app_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "v110!" || size != 5 {
		t.Errorf("asset: %q (%d bytes)", b, size)
	}
	if _, _, err := r.Open(ctx, "v1.1.0", "missing.zip"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a missing asset: %v", err)
	}

	// A spent rate limit: the error says until when, and no request is
	// made before then.
	f.mu.Lock()
	f.limited = true
	f.mu.Unlock()
	if _, err := r.Releases(ctx); err == nil {
		t.Fatal("no error from a spent rate limit")
	}
	before := f.requests
	_, err = r.Releases(ctx)
	if err == nil || !strings.Contains(err.Error(), "rate limit is spent until") || f.requests != before {
		t.Errorf("after the limit: %v, %d more requests (want 0)", err, f.requests-before)
	}
}

func TestNewRefusesABadURL(t *testing.T) {
	for _, raw := range []string{"ghr://o", "ghr://o/r/x", "ghr:///r"} {
		u, _ := url.Parse(raw)
		if _, err := New(u, Options{}); err == nil {
			t.Errorf("%s accepted", raw)
		}
	}
}
