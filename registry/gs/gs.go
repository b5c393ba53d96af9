// Package gs is the gs:// registry: releases under a prefix of a Google
// Cloud Storage bucket, laid out as the file and s3 registries are,
//
//	gs://<bucket>/<prefix>/<version>/<artifact>
//
// through cloud.google.com/go/storage, with Application Default
// Credentials (STORAGE_EMULATOR_HOST points it at an emulator). A deploy
// is reported as <prefix>/<version>/.dewy/<host>_<app>.json.
package gs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/dewyhq/dewy/registry"
)

// Registry reads one prefix of one bucket.
type Registry struct {
	client *storage.Client
	bucket string
	prefix string // "" or "a/b/"
}

var _ registry.Registry = (*Registry)(nil)

// New returns the registry of u, gs://<bucket>/<prefix>.
func New(ctx context.Context, u *url.URL) (*Registry, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("gs registry %q: want gs://<bucket>/<prefix>", u.String())
	}
	c, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("gs registry: %w", err)
	}
	r := &Registry{client: c, bucket: u.Host}
	if p := strings.Trim(u.Path, "/"); p != "" {
		r.prefix = p + "/"
	}
	return r, nil
}

// Releases lists the objects under the prefix and groups them by version
// (registry.Grouper).
func (r *Registry) Releases(ctx context.Context) ([]registry.Release, error) {
	g := registry.NewGrouper(r.prefix)
	it := r.client.Bucket(r.bucket).Objects(ctx, &storage.Query{Prefix: r.prefix})
	for {
		obj, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return g.Releases(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("gs registry %s/%s: list: %w", r.bucket, r.prefix, err)
		}
		g.Add(obj.Name, obj.Created)
	}
}

func (r *Registry) key(version, file string) (string, error) {
	k, err := registry.ObjectKey(r.prefix, version, file)
	if err != nil {
		return "", fmt.Errorf("gs registry: %w", err)
	}
	return k, nil
}

// Open streams one object.
func (r *Registry) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error) {
	key, err := r.key(version, file)
	if err != nil {
		return nil, 0, err
	}
	rd, err := r.client.Bucket(r.bucket).Object(key).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, fmt.Errorf("gs registry %s/%s: %w", r.bucket, key, registry.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("gs registry %s/%s: %w", r.bucket, key, err)
	}
	return rd, rd.Attrs.Size, nil
}

// Report writes <prefix>/<version>/.dewy/<host>_<app>.json.
func (r *Registry) Report(ctx context.Context, rep registry.Report) error {
	key, err := r.key(rep.Version, ".dewy")
	if err != nil {
		return err
	}
	w := r.client.Bucket(r.bucket).Object(key + "/" + rep.ReportName()).NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := w.Write(rep.JSON()); err != nil {
		_ = w.Close()
		return fmt.Errorf("gs registry report: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gs registry report: %w", err)
	}
	return nil
}
