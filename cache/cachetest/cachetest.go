// Package cachetest checks a cache.Store against a real object store: the
// s3 and gs packages run it against versitygw and fake-gcs-server.
package cachetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/registry"
)

// Run checks store, which must be empty.
func Run(t *testing.T, store cache.Store) {
	t.Run("objects", func(t *testing.T) { objects(t, store) })
	t.Run("one conditional write wins", func(t *testing.T) { oneWins(t, store) })
	t.Run("artifacts", func(t *testing.T) { artifacts(t, store) })
	t.Run("shared registry answer", func(t *testing.T) { sharedAnswer(t, store) })
}

func objects(t *testing.T, s cache.Store) {
	ctx := context.Background()
	if _, _, err := s.Get(ctx, "o/missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get of a missing key = %v, want registry.ErrNotFound", err)
	}
	if err := s.Create(ctx, "o/a", strings.NewReader("one"), 3, map[string]string{"dewy-sha256": "x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "o/a", strings.NewReader("two"), 3, nil); !errors.Is(err, cache.ErrExists) {
		t.Fatalf("second Create = %v, want cache.ErrExists", err)
	}
	rc, info, err := s.Get(ctx, "o/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "one" || info.Size != 3 || info.Meta["dewy-sha256"] != "x" {
		t.Fatalf("Get = %q %+v, want the first write with its metadata", b, info)
	}
	if err := s.Put(ctx, "o/a", []byte("three")); err != nil {
		t.Fatal(err)
	}
	rc, _, err = s.Get(ctx, "o/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(rc)
	rc.Close()
	if string(b) != "three" {
		t.Fatalf("after Put: %q", b)
	}
	if err := s.Delete(ctx, "o/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "o/a"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if _, _, err := s.Get(ctx, "o/a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	// A body that fails half-way leaves no object behind.
	body := io.MultiReader(strings.NewReader("half"), failingReader{})
	if err := s.Create(ctx, "o/partial", body, 8, nil); err == nil {
		t.Fatal("Create with a failing body succeeded")
	}
	if _, _, err := s.Get(ctx, "o/partial"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a failed Create left an object: Get = %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("the disk went away") }

func oneWins(t *testing.T, s cache.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var won, lost atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte{byte('a' + i)}
			switch err := s.Create(ctx, "race/lock", bytes.NewReader(body), 1, nil); {
			case err == nil:
				won.Add(1)
			case errors.Is(err, cache.ErrExists):
				lost.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 7 {
		t.Fatalf("8 conditional writes of one key: %d won, %d lost; want 1 and 7", won.Load(), lost.Load())
	}
}

func artifacts(t *testing.T, s cache.Store) {
	ctx := context.Background()
	u, _ := url.Parse("file:///srv/releases/web")
	a := cache.New(s, cache.Options{Host: "h1"}).Artifacts(u)
	if _, _, _, err := a.Open(ctx, "v1.0.0", "web.tar.gz"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Open before Store = %v", err)
	}
	sum := strings.Repeat("ab", 32)
	if err := a.Store(ctx, "v1.0.0", "web.tar.gz", strings.NewReader("bytes"), 5, sum); err != nil {
		t.Fatal(err)
	}
	other := cache.New(s, cache.Options{Host: "h2"}).Artifacts(u)
	if err := other.Store(ctx, "v1.0.0", "web.tar.gz", strings.NewReader("BYTES"), 5, sum); !errors.Is(err, cache.ErrExists) {
		t.Fatalf("a second host's Store = %v, want cache.ErrExists", err)
	}
	rc, size, got, err := other.Open(ctx, "v1.0.0", "web.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "bytes" || size != 5 || got != sum {
		t.Fatalf("Open = %q %d %s", b, size, got)
	}
	if _, _, _, err := a.Open(ctx, "..", "x"); err == nil {
		t.Fatal("Open accepted a version of ..")
	}
	u2, _ := url.Parse("file:///srv/releases/api")
	if _, _, _, err := cache.New(s, cache.Options{}).Artifacts(u2).Open(ctx, "v1.0.0", "web.tar.gz"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("another registry's cache holds the file: %v", err)
	}
}

// upstream is the registry behind the cache, counting its calls.
type upstream struct {
	calls atomic.Int32
	fail  atomic.Bool
	mu    sync.Mutex
	rels  []registry.Release
}

func (u *upstream) Releases(context.Context) ([]registry.Release, error) {
	u.calls.Add(1)
	if u.fail.Load() {
		return nil, errors.New("502 Bad Gateway")
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]registry.Release(nil), u.rels...), nil
}

func (u *upstream) Open(context.Context, string, string) (io.ReadCloser, int64, error) {
	return nil, 0, registry.ErrNotFound
}
func (u *upstream) Report(context.Context, registry.Report) error { return nil }

func (u *upstream) publish(v string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rels = append(u.rels, registry.Release{Version: v, Files: []string{"web.tar.gz"}, Created: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)})
}

// clock is the hosts' shared time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func sharedAnswer(t *testing.T, s cache.Store) {
	ctx := context.Background()
	const ttl = time.Minute
	up := &upstream{}
	up.publish("v1.0.0")
	clk := &clock{now: time.Date(2026, 12, 4, 10, 0, 5, 0, time.UTC)}
	u, _ := url.Parse("ghr://acme/web")
	hosts := make([]registry.Registry, 6)
	for i := range hosts {
		hosts[i] = cache.New(s, cache.Options{Host: "h" + string(rune('0'+i)), Now: clk.Now, Logger: zerolog.Nop()}).Registry(up, u, ttl)
	}
	versions := func(rels []registry.Release) string {
		var v []string
		for _, r := range rels {
			v = append(v, r.Version)
		}
		return strings.Join(v, ",")
	}
	all := func() []string {
		out := make([]string, len(hosts))
		var wg sync.WaitGroup
		for i, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rels, err := h.Releases(ctx)
				if err != nil {
					t.Errorf("host %d: %v", i, err)
				}
				out[i] = versions(rels)
			}()
		}
		wg.Wait()
		return out
	}

	// The first host ever asks upstream and shares the answer.
	if rels, err := hosts[0].Releases(ctx); err != nil || versions(rels) != "v1.0.0" {
		t.Fatalf("first answer %v %v", rels, err)
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("upstream asked %d times, want 1", n)
	}
	// Within the TTL, nobody asks upstream.
	clk.add(20 * time.Second)
	for i, got := range all() {
		if got != "v1.0.0" {
			t.Errorf("host %d: %q", i, got)
		}
	}
	if n := up.calls.Load(); n != 1 {
		t.Fatalf("within the TTL upstream was asked %d times, want 1", n)
	}
	// In the next window, exactly one of six hosts asks upstream.
	up.publish("v1.1.0")
	clk.add(time.Minute)
	got := all()
	if n := up.calls.Load(); n != 2 {
		t.Fatalf("six hosts in one new window asked upstream %d times, want once", n-1)
	}
	fresh := 0
	for _, g := range got {
		if g == "v1.0.0,v1.1.0" {
			fresh++
		}
	}
	if fresh < 1 {
		t.Fatalf("no host saw v1.1.0: %v", got)
	}
	// After it shared the answer, everyone sees v1.1.0 without asking.
	for i, g := range all() {
		if g != "v1.0.0,v1.1.0" {
			t.Errorf("host %d after the share: %q", i, g)
		}
	}
	if n := up.calls.Load(); n != 2 {
		t.Fatalf("upstream asked %d times, want 2", n)
	}
	// Upstream down: the window's asker serves the last shared answer,
	// and so do the others.
	up.fail.Store(true)
	clk.add(2 * time.Minute)
	for i, g := range all() {
		if g != "v1.0.0,v1.1.0" {
			t.Errorf("host %d while upstream fails: %q", i, g)
		}
	}
	// Without any shared answer, a failing upstream is an error.
	lonely, _ := url.Parse("ghr://acme/never-seen")
	r := cache.New(s, cache.Options{Now: clk.Now, Logger: zerolog.Nop()}).Registry(up, lonely, ttl)
	if _, err := r.Releases(ctx); err == nil {
		t.Fatal("a failing upstream with nothing shared gave no error")
	}
}
