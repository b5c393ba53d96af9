package cache

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/dewyhq/dewy/registry"
)

// metaSHA256 is the user metadata holding a stored file's SHA-256 (hex).
const metaSHA256 = "dewy-sha256"

// Artifacts are the cached files of one registry's releases.
type Artifacts struct {
	store  Store
	prefix string
}

// Artifacts returns the cached files of the registry at u.
func (s *Shared) Artifacts(u *url.URL) *Artifacts {
	return &Artifacts{store: s.store, prefix: "artifacts/" + registryKey(u) + "/"}
}

// Open opens a cached file with its size and the SHA-256 it was stored
// with. A file not cached yet is registry.ErrNotFound (wrapped); one
// stored without a digest is an error (not ours: the caller downloads
// from upstream).
func (a *Artifacts) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, string, error) {
	key, err := registry.ObjectKey(a.prefix, version, file)
	if err != nil {
		return nil, 0, "", fmt.Errorf("cache: %w", err)
	}
	rc, info, err := a.store.Get(ctx, key)
	if err != nil {
		return nil, 0, "", err
	}
	sum := info.Meta[metaSHA256]
	if len(sum) != 64 {
		rc.Close()
		return nil, 0, "", fmt.Errorf("cache %s/%s: stored without its SHA-256", a.store, key)
	}
	return rc, info.Size, sum, nil
}

// Store uploads a verified file of size bytes with its SHA-256, unless
// another host stored it first (then it returns ErrExists, wrapped).
func (a *Artifacts) Store(ctx context.Context, version, file string, body io.Reader, size int64, sha256 string) error {
	key, err := registry.ObjectKey(a.prefix, version, file)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return a.store.Create(ctx, key, body, size, map[string]string{metaSHA256: sha256})
}
