package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dewyhq/dewy/cache/cachetest"
	"github.com/dewyhq/dewy/internal/testutil"
	"github.com/dewyhq/dewy/registry"
)

// Against a real S3-compatible server (versitygw).
func TestAgainstARealS3Server(t *testing.T) {
	srv := testutil.StartS3(t)
	testutil.Setenv(t, srv.Env())
	ctx := context.Background()
	u, _ := url.Parse("s3://us-east-1/releases/apps/web?endpoint=" + url.QueryEscape(srv.Endpoint))
	r, err := New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("releases")}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body string) {
		t.Helper()
		if _, err := r.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("releases"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put("apps/web/v1.0.0/web_linux_amd64.tar.gz", "one")
	put("apps/web/v1.0.0/checksums.txt", "sums")
	put("apps/web/v1.1.0/web_linux_amd64.tar.gz", "two!")
	put("apps/web/v1.1.0/.dewy/h0_web.json", "{}") // an earlier report: not a file of the release
	put("apps/other/v9.0.0/x", "another app's prefix")

	rels, err := r.Releases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	if len(rels) != 2 || rels[0].Version != "v1.0.0" || len(rels[0].Files) != 2 || len(rels[1].Files) != 1 || rels[1].Created.IsZero() {
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
	if _, _, err := r.Open(ctx, "..", "x"); err == nil {
		t.Error("Open(\"..\") was accepted")
	}

	if err := r.Report(ctx, registry.Report{App: "web", Version: "v1.1.0", Host: "h1", DeployID: "01X", Err: errors.New("not ready")}); err != nil {
		t.Fatal(err)
	}
	got, err := r.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("releases"), Key: aws.String("apps/web/v1.1.0/.dewy/h1_web.json")})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, got.Body)
	got.Body.Close()
	if !strings.Contains(buf.String(), `"error": "not ready"`) {
		t.Errorf("report %s", buf.String())
	}
}

// The shared cache's store against the real S3-compatible server.
func TestStoreAgainstARealS3Server(t *testing.T) {
	srv := testutil.StartS3(t)
	testutil.Setenv(t, srv.Env())
	ctx := context.Background()
	u, _ := url.Parse("s3://us-east-1/fleet-cache/dewy?endpoint=" + url.QueryEscape(srv.Endpoint))
	s, err := NewStore(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("fleet-cache")}); err != nil {
		t.Fatal(err)
	}
	cachetest.Run(t, s)
}
