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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"time"

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

// Releases lists the objects under the prefix and groups them by version,
// as the s3 registry does.
func (r *Registry) Releases(ctx context.Context) ([]registry.Release, error) {
	byVersion := map[string]*registry.Release{}
	var order []string
	it := r.client.Bucket(r.bucket).Objects(ctx, &storage.Query{Prefix: r.prefix})
	for {
		obj, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("gs registry %s/%s: list: %w", r.bucket, r.prefix, err)
		}
		version, file, ok := strings.Cut(strings.TrimPrefix(obj.Name, r.prefix), "/")
		if !ok || version == "" || file == "" || strings.Contains(file, "/") || strings.HasPrefix(version, ".") || strings.HasPrefix(file, ".") {
			continue
		}
		rel := byVersion[version]
		if rel == nil {
			rel = &registry.Release{Version: version}
			byVersion[version] = rel
			order = append(order, version)
		}
		rel.Files = append(rel.Files, file)
		if rel.Created.IsZero() || obj.Created.Before(rel.Created) {
			rel.Created = obj.Created
		}
	}
	out := make([]registry.Release, 0, len(order))
	for _, v := range order {
		out = append(out, *byVersion[v])
	}
	return out, nil
}

func (r *Registry) key(version, file string) (string, error) {
	if version == "" || file == "" || strings.ContainsAny(version+file, "/\x00") || version == ".." || file == ".." {
		return "", fmt.Errorf("gs registry: %q/%q is not a file of a release", version, file)
	}
	return r.prefix + path.Join(version, file), nil
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
	name := strings.NewReplacer("/", "_", "\x00", "_").Replace(rep.Host + "_" + rep.App)
	body := struct {
		App      string    `json:"app"`
		Version  string    `json:"version"`
		Host     string    `json:"host"`
		DeployID string    `json:"deploy_id"`
		Error    string    `json:"error,omitempty"`
		At       time.Time `json:"at"`
	}{rep.App, rep.Version, rep.Host, rep.DeployID, "", rep.At}
	if rep.Err != nil {
		body.Error = rep.Err.Error()
	}
	w := r.client.Bucket(r.bucket).Object(key + "/" + name + ".json").NewWriter(ctx)
	w.ContentType = "application/json"
	if err := json.NewEncoder(w).Encode(body); err != nil {
		_ = w.Close()
		return fmt.Errorf("gs registry report: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gs registry report: %w", err)
	}
	return nil
}
