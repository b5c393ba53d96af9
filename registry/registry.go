// Package registry is where an app's releases come from: one interface,
// one sub-package per kind of registry (file, ghr, s3, gs, grpc). A
// registry only lists releases and opens their files; choosing
// the newest version and the artifact for this machine is package
// registry/version's, and downloading, verifying and unpacking is package
// artifact's.
package registry

import (
	"context"
	"errors"
	"io"
	"time"
)

// Release is one version a registry offers.
type Release struct {
	// Version is the tag as published ("v1.2.3").
	Version string `json:"version"`
	// Created is when it was published; zero when unknown.
	Created time.Time `json:"created,omitzero"`
	// Files are the names of its files: artifacts and checksum files.
	Files []string `json:"files"`
	// Artifact, when set, is the file the registry itself chose for this
	// host (a grpc registry's Current does): no choosing by name then.
	Artifact string `json:"artifact,omitempty"`
}

// Report says what a host did with a release, for registries that keep
// track (a file next to the release, an object, a gRPC call).
type Report struct {
	App     string
	Version string
	Host    string
	// DeployID is the deploy's ULID.
	DeployID string
	// Err is why the deploy failed; nil for a deployed release.
	Err error
	At  time.Time
}

// Registry lists releases and opens their files. Every call is bounded by
// ctx; implementations add their own timeouts for calls that could hang.
type Registry interface {
	// Releases lists every release, in no particular order.
	Releases(ctx context.Context) ([]Release, error)
	// Open opens one file of a release for reading, with its size (-1 when
	// unknown).
	Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error)
	// Report records a deploy's outcome. Registries that keep nothing
	// return nil.
	Report(ctx context.Context, r Report) error
}

// ErrNotFound is returned (wrapped) by Open for a file the release lacks.
var ErrNotFound = errors.New("not found in the registry")
