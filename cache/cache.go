// Package cache is the cache a fleet of hosts shares (agent { cache =
// "s3://..." | "gs://..." }): the first host to see a release downloads it
// from the registry and stores it here, the others read it from here; and,
// with a registry_ttl, the registry's answer to "which releases are there"
// is shared too, so one host per window asks upstream.
//
// The object store itself is behind Store, implemented by the s3 and gs
// registry packages (they already hold the clients). Nothing read from
// the cache is trusted more than the registry: an artifact is checked
// against the SHA-256 it was stored with and then, as any download,
// against the release's checksum file.
//
// Layout under the store's prefix:
//
//	registries/<key>/releases.json   the shared answer of one registry
//	registries/<key>/lock-<unix>     who asks upstream in that window
//	artifacts/<key>/<version>/<file> release files
//
// where <key> is a hash of the registry's URL, so hosts that name a
// registry differently still share it.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/url"
	"time"

	"github.com/rs/zerolog"
)

// ErrExists is returned (wrapped) by Store.Create when the key exists.
var ErrExists = errors.New("already exists in the cache")

// Info describes a stored object.
type Info struct {
	// Size is the object's length in bytes; -1 when unknown.
	Size int64
	// Meta is the object's user metadata.
	Meta map[string]string
}

// Store is an object store shared by the hosts. Keys are relative to the
// store's own prefix. A missing object is registry.ErrNotFound (wrapped).
type Store interface {
	// Get opens an object.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Create writes an object only when the key does not exist yet (S3
	// If-None-Match: *, a GCS DoesNotExist precondition): ErrExists when
	// it does. A body that fails mid-way leaves no object.
	Create(ctx context.Context, key string, body io.Reader, size int64, meta map[string]string) error
	// Put writes an object whether or not it exists.
	Put(ctx context.Context, key string, body []byte) error
	// Delete removes an object; a missing one is no error.
	Delete(ctx context.Context, key string) error
	// String names the store for logs ("s3://bucket/prefix").
	String() string
}

// Shared is the cache of one agent.
type Shared struct {
	store Store
	host  string
	log   zerolog.Logger
	now   func() time.Time
}

// Options configure New.
type Options struct {
	// Host names this host in the shared answers and locks (for people
	// reading the bucket).
	Host   string
	Logger zerolog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// New returns the shared cache kept in store.
func New(store Store, o Options) *Shared {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Shared{store: store, host: o.Host, log: o.Logger.With().Str("cache", store.String()).Logger(), now: o.Now}
}

// String names the cache's store.
func (s *Shared) String() string { return s.store.String() }

// registryKey names a registry in the cache: a hash of its URL without
// credentials, the same on every host that reads it.
func registryKey(u *url.URL) string {
	sum := sha256.Sum256([]byte(u.Redacted()))
	return hex.EncodeToString(sum[:10])
}
