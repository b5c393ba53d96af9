// Package artifact turns a release artifact, a byte stream from a
// registry, into a verified, unpacked release folder. It is the boundary
// where hostile bytes arrive: downloads are size-limited and hashed on
// the way, and unpacking never writes outside the release folder, not even
// partly.
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
	"time"
)

// Opener opens the artifact's bytes, with their size (-1 when unknown).
// Fetch calls it again for each attempt.
type Opener func(ctx context.Context) (io.ReadCloser, int64, error)

// FetchOptions configure Fetch.
type FetchOptions struct {
	// MaxSize bounds the download (default 1 GiB).
	MaxSize int64
	// Attempts is how many times an interrupted download is tried
	// (default 3), with a doubling pause from one second.
	Attempts int
	// Progress, when set, is called every ProgressEvery (default 10s)
	// while a download runs, with the bytes so far and the total (-1 when
	// unknown).
	Progress      func(done, total int64)
	ProgressEvery time.Duration
}

// ErrTooLarge is returned (wrapped) when an artifact is over MaxSize: not
// worth another attempt.
var ErrTooLarge = errors.New("artifact too large")

// DefaultMaxSize is FetchOptions.MaxSize's default.
const DefaultMaxSize = 1 << 30

// Fetch downloads into dir/name: streamed through a fixed buffer into a
// temporary file beside it, hashed on the way, synced, and renamed into
// place only when complete, so a complete file is never confused with a
// partial one. It returns the path and the hex SHA-256.
func Fetch(ctx context.Context, open Opener, dir, name string, o FetchOptions) (string, string, error) {
	if o.MaxSize <= 0 {
		o.MaxSize = DefaultMaxSize
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	if filepath.Base(name) != name || name == "." || name == ".." {
		return "", "", fmt.Errorf("fetch: %q is not a file name", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("fetch: cache folder: %w", err)
	}
	dst := filepath.Join(dir, name)
	pause := time.Second
	var err error
	for attempt := 1; ; attempt++ {
		var sum string
		sum, err = fetchOnce(ctx, open, dst, o)
		if err == nil {
			return dst, sum, nil
		}
		if errors.Is(err, ErrTooLarge) || ctx.Err() != nil || attempt >= o.Attempts {
			return "", "", err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", "", fmt.Errorf("%w (then: %w)", err, ctx.Err())
		case <-t.C:
		}
		pause *= 2
	}
}

func fetchOnce(ctx context.Context, open Opener, dst string, o FetchOptions) (string, error) {
	r, total, err := open(ctx)
	if err != nil {
		return "", fmt.Errorf("open: %w", err)
	}
	defer r.Close()
	if total > o.MaxSize {
		return "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, total, o.MaxSize)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cr := &ctxReader{ctx: ctx, r: r}
	var written int64
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		n, rerr := cr.Read(buf)
		if n > 0 {
			written += int64(n)
			if written > o.MaxSize {
				return "", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, o.MaxSize)
			}
			h.Write(buf[:n])
			if _, err := tmp.Write(buf[:n]); err != nil {
				return "", fmt.Errorf("download: %w", err)
			}
			if o.Progress != nil && time.Since(last) >= o.ProgressEvery {
				o.Progress(written, total)
				last = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return "", fmt.Errorf("download interrupted after %d bytes: %w", written, rerr)
		}
	}
	if total >= 0 && written != total {
		return "", fmt.Errorf("download: got %d bytes, the registry announced %d", written, total)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	done = true
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader ends a read loop once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
