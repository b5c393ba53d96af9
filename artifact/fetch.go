package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Defaults for FetchOptions fields left at zero.
const (
	DefaultMaxSize          int64 = 1 << 30 // 1 GiB
	DefaultAttempts               = 3
	DefaultBackoff                = time.Second
	DefaultMaxBackoff             = 30 * time.Second
	DefaultProgressInterval       = 5 * time.Second
)

// copyBufferSize is the one buffer each Fetch or Unpack call copies through:
// memory stays flat whatever the artifact's size.
const copyBufferSize = 64 << 10

// partialMarker is part of every temporary download's name, so that
// RemovePartials can find the ones a crash left behind.
const partialMarker = ".part-"

// An Opener returns a fresh stream of the artifact's bytes. Fetch calls it
// once per attempt; each call must start from the first byte. Closing the
// stream must unblock a Read in progress (true of an HTTP response body), as
// Fetch closes it when ctx is cancelled. Return Permanent(err) for an error a
// retry cannot fix.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// FetchOptions tunes Fetch. The zero value is usable.
type FetchOptions struct {
	// MaxSize is the largest artifact accepted, in bytes; 0 means
	// DefaultMaxSize. Going past it fails with ErrTooLarge, without retry.
	MaxSize int64
	// Size is the artifact's size as the registry announced it, or 0 when
	// unknown. When set, a larger Size fails at once with ErrTooLarge, a
	// stream that ends early is retried as interrupted, and Progress gets it
	// as total.
	Size int64
	// Attempts is how many times the Opener is called before giving up; 0
	// means DefaultAttempts.
	Attempts int
	// Backoff is the wait before the second attempt, doubled for each later
	// one up to MaxBackoff; 0 means DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Progress, when set, is called from Fetch's goroutine at most once per
	// ProgressInterval while bytes arrive, and once at the end of each
	// successful attempt. total is Size, or -1 when unknown.
	Progress func(done, total int64)
	// ProgressInterval defaults to DefaultProgressInterval.
	ProgressInterval time.Duration
	// Transient skips the fsync of the file and the folder: for a caller
	// that removes the file once it is used and clears the cache when it
	// starts, so that a crash can leave nothing it would trust.
	Transient bool
}

func (o FetchOptions) withDefaults() FetchOptions {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgressInterval
	}
	return o
}

// sourceError marks an error of the remote side (the Opener or a Read):
// the only kind Fetch retries.
type sourceError struct{ err error }

func (e sourceError) Error() string { return e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// Fetch downloads the artifact called name into cacheDir and returns the
// final path and the lowercase hex SHA-256 of its bytes.
//
// The bytes are streamed through a fixed buffer into a temporary file in
// cacheDir (a unique name containing ".part-"), hashed on the way, synced,
// and renamed to cacheDir/name only when complete: cacheDir/name is never a
// partial file, and a file already there is replaced only by a complete one.
// An interrupted download is retried from the first byte with exponential
// backoff, up to opts.Attempts calls of open; a size past opts.MaxSize, a
// Permanent error, a local I/O error and the cancellation of ctx are not
// retried. On error no temporary file is left behind.
//
// name comes from the registry and is untrusted: it must be a plain file
// name (no separator, not "." or "..").
func Fetch(ctx context.Context, open Opener, cacheDir, name string, opts FetchOptions) (path, sum string, err error) {
	if err := checkFileName(name); err != nil {
		return "", "", fmt.Errorf("fetch %q: %w", name, err)
	}
	opts = opts.withDefaults()
	if opts.Size > opts.MaxSize {
		return "", "", fmt.Errorf("fetch %q: announced size %d bytes is past the limit of %s: %w",
			name, opts.Size, formatBytes(opts.MaxSize), ErrTooLarge)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", fmt.Errorf("fetch %q: cache folder: %w", name, err)
	}
	buf := make([]byte, copyBufferSize)
	backoff := opts.Backoff
	for attempt := 1; ; attempt++ {
		path, sum, err = fetchOnce(ctx, open, cacheDir, name, opts, buf)
		if err == nil {
			return path, sum, nil
		}
		var src sourceError
		retry := errors.As(err, &src) && !errors.Is(err, ErrPermanent) && ctx.Err() == nil
		if !retry || attempt >= opts.Attempts {
			return "", "", fmt.Errorf("fetch %q (attempt %d of %d): %w", name, attempt, opts.Attempts, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", "", fmt.Errorf("fetch %q (attempt %d of %d, waiting to retry after: %v): %w",
				name, attempt, opts.Attempts, err, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
}

func fetchOnce(ctx context.Context, open Opener, cacheDir, name string, opts FetchOptions, buf []byte) (_, _ string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	rc, err := open(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", "", ctx.Err()
		}
		return "", "", sourceError{fmt.Errorf("open: %w", err)}
	}
	// Closing the stream is how a blocked Read learns about ctx.
	var closeOnce sync.Once
	closeSrc := func() { closeOnce.Do(func() { rc.Close() }) }
	stop := context.AfterFunc(ctx, closeSrc)
	defer func() {
		stop()
		closeSrc()
	}()

	f, err := os.CreateTemp(cacheDir, "."+name+partialMarker+"*")
	if err != nil {
		return "", "", fmt.Errorf("temporary file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()

	total := int64(-1)
	if opts.Size > 0 {
		total = opts.Size
	}
	h := sha256.New()
	var done int64
	last := time.Now()
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			if done+int64(n) > opts.MaxSize {
				return "", "", fmt.Errorf("more than the limit of %s: %w", formatBytes(opts.MaxSize), ErrTooLarge)
			}
			if _, werr := f.Write(buf[:n]); werr != nil {
				return "", "", fmt.Errorf("write %s: %w", tmp, werr)
			}
			h.Write(buf[:n])
			done += int64(n)
			if opts.Progress != nil && time.Since(last) >= opts.ProgressInterval {
				opts.Progress(done, total)
				last = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return "", "", fmt.Errorf("after %d bytes: %w", done, ctx.Err())
			}
			return "", "", sourceError{fmt.Errorf("read after %d bytes: %w", done, rerr)}
		}
	}
	if opts.Size > 0 && done != opts.Size {
		return "", "", sourceError{fmt.Errorf("stream ended after %d bytes, %d announced", done, opts.Size)}
	}
	if !opts.Transient {
		if err := f.Sync(); err != nil {
			return "", "", fmt.Errorf("sync %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("close %s: %w", tmp, err)
	}
	final := filepath.Join(cacheDir, name)
	if err := os.Rename(tmp, final); err != nil {
		return "", "", fmt.Errorf("rename into place: %w", err)
	}
	// Make the rename itself durable; a failure here does not undo a
	// complete, correctly named file, so it is not reported.
	if d, derr := os.Open(cacheDir); derr == nil && !opts.Transient {
		d.Sync()
		d.Close()
	} else if derr == nil {
		d.Close()
	}
	if opts.Progress != nil {
		opts.Progress(done, total)
	}
	return final, hex.EncodeToString(h.Sum(nil)), nil
}

// RemovePartials deletes the temporary files that an interrupted Fetch (a
// crash, a kill) left in cacheDir. Call it at start-up, before any Fetch into
// the same folder runs.
func RemovePartials(cacheDir string) error {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove partial downloads: %w", err)
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasPrefix(n, ".") && strings.Contains(n, partialMarker) {
			if err := os.Remove(filepath.Join(cacheDir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove partial downloads: %w", err)
	}
	return nil
}

// checkFileName accepts a plain file name: one path element, not "." or "..".
func checkFileName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("invalid file name %q", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("file name %q must not contain a separator or NUL", name)
	case !filepath.IsLocal(name):
		return fmt.Errorf("file name %q is not a local name", name)
	}
	return nil
}

// formatBytes renders a limit for an error message: "1073741824 bytes (1 GiB)".
func formatBytes(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	s := fmt.Sprintf("%d bytes", n)
	v, u := float64(n), ""
	for _, unit := range units {
		if v < 1024 {
			break
		}
		v /= 1024
		u = unit
	}
	if u != "" {
		s += fmt.Sprintf(" (%.4g %s)", v, u)
	}
	return s
}
