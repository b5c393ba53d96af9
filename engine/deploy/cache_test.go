package deploy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/internal/testutil"
	"github.com/dewyhq/dewy/registry/file"
	"github.com/dewyhq/dewy/registry/s3"
)

// count is how many times one file of the registry was opened.
func (c *countingRegistry) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens[key]
}

// Three hosts share a cache in a real S3-compatible server: the first one
// downloads each release from the registry, the others read it from the
// cache (still checked against the registry's checksum file). A copy in
// the cache whose bytes are not the release's is caught by that check and
// replaced by the registry's own, without taking the version for bad.
func TestSharedCacheDownloadsOnce(t *testing.T) {
	srv := testutil.StartS3(t)
	testutil.Setenv(t, srv.Env())
	ctx := context.Background()
	cu, _ := url.Parse("s3://us-east-1/fleet/dewy?endpoint=" + url.QueryEscape(srv.Endpoint))
	store, err := s3.NewStore(ctx, cu)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.CreateBucket(ctx, "fleet"); err != nil {
		t.Fatal(err)
	}

	root := t.TempDir()
	regDir := filepath.Join(root, "registry")
	publish := func(version, body string) {
		t.Helper()
		dir := filepath.Join(regDir, version)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		if err := os.WriteFile(filepath.Join(dir, "web"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(hex.EncodeToString(sum[:])+"  web\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	publish("v1.0.0", "#!/bin/sh\necho one\n")
	src, err := file.New(regDir)
	if err != nil {
		t.Fatal(err)
	}
	up := &countingRegistry{src: src, opens: map[string]int{}}
	regURL, _ := url.Parse("file://" + regDir)

	host := func(name string) *Deployer {
		shared := cache.New(store, cache.Options{Host: name, Logger: zerolog.Nop()})
		d, err := New(Options{
			App:      plan.App{Name: "web", Dir: filepath.Join(root, name, "web"), Registry: "r", Keep: 3},
			Registry: plan.Registry{Name: "r", Artifact: "web", URL: regURL},
			Source:   up, StateDir: filepath.Join(root, name, "state"), Host: name,
			Cache: shared.Artifacts(regURL), Logger: zerolog.Nop(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	hosts := []*Deployer{host("h1"), host("h2"), host("h3")}
	served := func(d *Deployer) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(d.dir.CurrentLink(), "web"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for i, d := range hosts {
		if err := d.Deploy(ctx, "test"); err != nil {
			t.Fatalf("host %d: %v", i+1, err)
		}
		if got := served(d); got != "#!/bin/sh\necho one\n" {
			t.Fatalf("host %d serves %q", i+1, got)
		}
	}
	if n := up.count("v1.0.0/web"); n != 1 {
		t.Fatalf("three hosts downloaded v1.0.0 from the registry %d times, want once", n)
	}

	// A copy in the cache that is not the release (stored with its own,
	// self-consistent digest, as a tampered or mixed-up bucket would be).
	publish("v1.1.0", "#!/bin/sh\necho two\n")
	wrong := []byte("#!/bin/sh\necho tampered\n")
	wsum := sha256.Sum256(wrong)
	if err := cache.New(store, cache.Options{}).Artifacts(regURL).Store(ctx, "v1.1.0", "web", bytes.NewReader(wrong), int64(len(wrong)), hex.EncodeToString(wsum[:])); err != nil {
		t.Fatal(err)
	}
	for i, d := range hosts {
		if err := d.Deploy(ctx, "test"); err != nil {
			t.Fatalf("host %d with a wrong copy in the cache: %v", i+1, err)
		}
		if got := served(d); got != "#!/bin/sh\necho two\n" {
			t.Fatalf("host %d serves %q", i+1, got)
		}
		if len(d.state.Bad) != 0 {
			t.Fatalf("host %d took a version for bad over the cache's copy: %v", i+1, d.state.Bad)
		}
	}
	if n := up.count("v1.1.0/web"); n != 3 {
		t.Fatalf("with a wrong copy in the cache each host must fetch the registry's own: %d downloads, want 3", n)
	}
}
