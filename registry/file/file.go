// Package file is the file:// registry: a folder with one sub-folder per
// release, named by its version, holding the release's files:
//
//	/srv/releases/api/v1.0.0/api_linux_amd64.tar.gz
//	/srv/releases/api/v1.0.0/checksums.txt
//	/srv/releases/api/v1.1.0/...
//
// It is dewy's embedded default, and serves NFS-shared folders and tests.
// Publishing a release is copying its folder in; to publish atomically,
// copy it under a name starting with '.' and rename it.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dewyhq/dewy/registry"
)

// Registry reads one folder.
type Registry struct {
	dir string
}

var _ registry.Registry = (*Registry)(nil)

// New returns the registry of dir, an absolute path.
func New(dir string) (*Registry, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("file registry %q: the path must be absolute", dir)
	}
	return &Registry{dir: filepath.Clean(dir)}, nil
}

// Releases lists the folders of dir (hidden ones, starting with '.', are
// releases being copied in) and the regular files in each.
func (r *Registry) Releases(ctx context.Context) ([]registry.Release, error) {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("file registry %s: %w", r.dir, err)
	}
	var out []registry.Release
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rel := registry.Release{Version: e.Name()}
		if fi, err := e.Info(); err == nil {
			rel.Created = fi.ModTime()
		}
		files, err := os.ReadDir(filepath.Join(r.dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		for _, f := range files {
			if f.Type().IsRegular() && !strings.HasPrefix(f.Name(), ".") {
				rel.Files = append(rel.Files, f.Name())
			}
		}
		out = append(out, rel)
	}
	return out, nil
}

// Open opens a file of a release.
func (r *Registry) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if !filepath.IsLocal(version) || !filepath.IsLocal(file) || strings.ContainsRune(version+file, '/') {
		return nil, 0, fmt.Errorf("file registry %s: %q/%q is not a file of a release", r.dir, version, file)
	}
	f, err := os.Open(filepath.Join(r.dir, version, file))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("file registry %s: %s/%s: %w", r.dir, version, file, registry.ErrNotFound)
		}
		return nil, 0, fmt.Errorf("file registry: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("file registry: %w", err)
	}
	return f, fi.Size(), nil
}

// Report writes <version>/.dewy/<host>.json: which deploy, when, and the
// error if it failed. A registry folder dewy may not write to (a
// read-only NFS share) is not an error worth more than the caller's log.
func (r *Registry) Report(ctx context.Context, rep registry.Report) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !filepath.IsLocal(rep.Version) || strings.ContainsRune(rep.Version, '/') {
		return fmt.Errorf("file registry: %q is not a version", rep.Version)
	}
	dir := filepath.Join(r.dir, rep.Version, ".dewy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("file registry report: %w", err)
	}
	name := rep.ReportName()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, rep.JSON(), 0o644); err != nil {
		return fmt.Errorf("file registry report: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("file registry report: %w", err)
	}
	return nil
}
