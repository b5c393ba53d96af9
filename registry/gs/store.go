package gs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/dewyhq/dewy/cache"
	"github.com/dewyhq/dewy/registry"
)

// Store is a shared cache in a bucket (agent { cache = "gs://..." }).
// Create writes with a DoesNotExist precondition (ifGenerationMatch=0),
// which Cloud Storage answers with 412 when the object exists.
type Store struct {
	client *storage.Client
	bucket string
	prefix string
}

var _ cache.Store = (*Store)(nil)

// NewStore returns the cache at u, gs://<bucket>/<prefix>.
func NewStore(ctx context.Context, u *url.URL) (*Store, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("gs cache %q: want gs://<bucket>/<prefix>", u.String())
	}
	c, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("gs cache: %w", err)
	}
	s := &Store{client: c, bucket: u.Host}
	if p := strings.Trim(u.Path, "/"); p != "" {
		s.prefix = p + "/"
	}
	return s, nil
}

func (s *Store) String() string { return "gs://" + s.bucket + "/" + s.prefix }

func (s *Store) object(key string) *storage.ObjectHandle {
	return s.client.Bucket(s.bucket).Object(s.prefix + key)
}

// Get opens an object: its attributes (for the metadata), then that
// generation's content, so the two always belong together.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, cache.Info, error) {
	attrs, err := s.object(key).Attrs(ctx)
	if err == nil {
		var rd *storage.Reader
		rd, err = s.object(key).Generation(attrs.Generation).NewReader(ctx)
		if err == nil {
			return rd, cache.Info{Size: rd.Attrs.Size, Meta: attrs.Metadata}, nil
		}
	}
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, cache.Info{}, fmt.Errorf("gs cache %s%s: %w", s, key, registry.ErrNotFound)
	}
	return nil, cache.Info{}, fmt.Errorf("gs cache %s%s: %w", s, key, err)
}

// Create writes an object unless it exists.
func (s *Store) Create(ctx context.Context, key string, body io.Reader, _ int64, meta map[string]string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a failed body aborts the upload: no object is made
	w := s.object(key).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.Metadata = meta
	if _, err := io.Copy(w, body); err != nil {
		cancel()
		_ = w.Close()
		return fmt.Errorf("gs cache %s%s: write: %w", s, key, err)
	}
	err := w.Close()
	var ge *googleapi.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ge) && ge.Code == http.StatusPreconditionFailed:
		return fmt.Errorf("gs cache %s%s: %w", s, key, cache.ErrExists)
	default:
		return fmt.Errorf("gs cache %s%s: write: %w", s, key, err)
	}
}

// Put writes an object.
func (s *Store) Put(ctx context.Context, key string, body []byte) error {
	w := s.object(key).NewWriter(ctx)
	if _, err := w.Write(body); err != nil {
		_ = w.Close()
		return fmt.Errorf("gs cache %s%s: write: %w", s, key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gs cache %s%s: write: %w", s, key, err)
	}
	return nil
}

// Delete removes an object; a missing one is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.object(key).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return fmt.Errorf("gs cache %s%s: delete: %w", s, key, err)
	}
	return nil
}
