package gs

import (
	"context"
	"errors"
	"io"
	"net/url"
	"sort"
	"testing"

	"github.com/dewyhq/dewy/cache/cachetest"
	"github.com/dewyhq/dewy/internal/testutil"
	"github.com/dewyhq/dewy/registry"
)

// Against fake-gcs-server, Cloud Storage's JSON API on 127.0.0.1.
func TestAgainstACloudStorageEmulator(t *testing.T) {
	srv := testutil.StartGCS(t)
	testutil.Setenv(t, srv.Env())
	ctx := context.Background()
	u, _ := url.Parse("gs://releases/apps/web")
	r, err := New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.client.Bucket("releases").Create(ctx, "dewy-test", nil); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		w := r.client.Bucket("releases").Object(key).NewWriter(ctx)
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	put("apps/web/v1.0.0/web_linux_amd64.tar.gz", "one")
	put("apps/web/v1.0.0/checksums.txt", "sums")
	put("apps/web/v1.1.0/web_linux_amd64.tar.gz", "two!")
	put("apps/web/v1.1.0/.dewy/h0_web.json", "{}")
	put("apps/other/v9.0.0/x", "another prefix")

	rels, err := r.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	if len(rels) != 2 || rels[0].Version != "v1.0.0" || len(rels[0].Files) != 2 || len(rels[1].Files) != 1 {
		t.Fatalf("releases %+v", rels)
	}
	rc, size, err := r.Open(ctx, "v1.1.0", "web_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "two!" || size != 4 {
		t.Errorf("Open: %q, %d bytes", b, size)
	}
	if _, _, err := r.Open(ctx, "v1.1.0", "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a missing object: %v", err)
	}
	if err := r.Report(ctx, registry.Report{App: "web", Version: "v1.1.0", Host: "h1", DeployID: "01X"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Bucket("releases").Object("apps/web/v1.1.0/.dewy/h1_web.json").Attrs(ctx); err != nil {
		t.Errorf("no report object: %v", err)
	}
}

// The shared cache's store against fake-gcs-server.
func TestStoreAgainstACloudStorageEmulator(t *testing.T) {
	srv := testutil.StartGCS(t)
	testutil.Setenv(t, srv.Env())
	ctx := context.Background()
	u, _ := url.Parse("gs://fleet-cache/dewy")
	s, err := NewStore(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.Bucket("fleet-cache").Create(ctx, "dewy-test", nil); err != nil {
		t.Fatal(err)
	}
	cachetest.Run(t, s)
}
