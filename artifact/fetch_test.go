package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// failingReader returns its data, then err after limit bytes.
type failingReader struct {
	r     io.Reader
	limit int
	err   error
	read  int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.read >= f.limit {
		return 0, f.err
	}
	if len(p) > f.limit-f.read {
		p = p[:f.limit-f.read]
	}
	n, err := f.r.Read(p)
	f.read += n
	return n, err
}

// opener serves data; the first failures calls break after failAt bytes.
func opener(data []byte, failures int, failAt int, calls *atomic.Int32) Opener {
	return func(ctx context.Context) (io.ReadCloser, error) {
		n := calls.Add(1)
		var r io.Reader = bytes.NewReader(data)
		if int(n) <= failures {
			r = &failingReader{r: r, limit: failAt, err: errors.New("connection reset by peer")}
		}
		return io.NopCloser(r), nil
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

var fastRetry = FetchOptions{Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

func TestFetch(t *testing.T) {
	data := randomBytes(300_000) // several buffers
	tests := []struct {
		name      string
		failures  int // attempts that break mid-stream
		opts      FetchOptions
		wantErr   error  // nil: success
		wantText  string // in the error
		wantCalls int32
	}{
		{name: "plain", wantCalls: 1},
		{name: "known size", opts: FetchOptions{Size: int64(len(data))}, wantCalls: 1},
		{name: "retry after two broken streams", failures: 2, opts: FetchOptions{Attempts: 3}, wantCalls: 3},
		{name: "retries exhausted", failures: 5, opts: FetchOptions{Attempts: 3}, wantErr: errAny, wantText: "connection reset", wantCalls: 3},
		{name: "size limit", opts: FetchOptions{MaxSize: 100_000}, wantErr: ErrTooLarge, wantText: "100000 bytes (97.66 KiB)", wantCalls: 1},
		{name: "announced size past the limit", opts: FetchOptions{MaxSize: 100_000, Size: 200_000}, wantErr: ErrTooLarge, wantCalls: 0},
		{name: "short stream", opts: FetchOptions{Size: int64(len(data)) + 1, Attempts: 2}, wantErr: errAny, wantText: "announced", wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			var calls atomic.Int32
			opts := tt.opts
			opts.Backoff, opts.MaxBackoff = fastRetry.Backoff, fastRetry.MaxBackoff
			path, sum, err := Fetch(context.Background(), opener(data, tt.failures, 70_000, &calls), cache, "app.tar.gz", opts)
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("opener called %d times, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if want := filepath.Join(cache, "app.tar.gz"); path != want {
					t.Errorf("path %q, want %q", path, want)
				}
				if sum != sha(data) {
					t.Errorf("sum %s, want %s", sum, sha(data))
				}
				got, _ := os.ReadFile(path)
				if !bytes.Equal(got, data) {
					t.Errorf("cached file differs from the data (%d bytes, want %d)", len(got), len(data))
				}
				if diff := cmp.Diff([]string{"app.tar.gz"}, dirNames(t, cache)); diff != "" {
					t.Errorf("cache folder (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatalf("Fetch succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantText) || !strings.Contains(err.Error(), "app.tar.gz") {
				t.Errorf("error %q should name the artifact and contain %q", err, tt.wantText)
			}
			if names := dirNames(t, cache); len(names) != 0 {
				t.Errorf("cache folder holds %q after a failed Fetch", names)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestFetchKeepsCompleteFileOnFailure(t *testing.T) {
	cache := t.TempDir()
	final := filepath.Join(cache, "app")
	if err := os.WriteFile(final, []byte("previous complete download"), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	_, _, err := Fetch(context.Background(), opener(randomBytes(100_000), 9, 50_000, &calls), cache, "app", fastRetry)
	if err == nil {
		t.Fatal("Fetch succeeded")
	}
	got, _ := os.ReadFile(final)
	if string(got) != "previous complete download" {
		t.Errorf("the complete file was replaced by a partial one (%d bytes)", len(got))
	}
	if diff := cmp.Diff([]string{"app"}, dirNames(t, cache)); diff != "" {
		t.Errorf("cache folder (-want +got):\n%s", diff)
	}
}

func TestFetchPermanentNotRetried(t *testing.T) {
	var calls atomic.Int32
	open := func(ctx context.Context) (io.ReadCloser, error) {
		calls.Add(1)
		return nil, Permanent(fmt.Errorf("HTTP 404"))
	}
	_, _, err := Fetch(context.Background(), open, t.TempDir(), "app", FetchOptions{Attempts: 5})
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("error %v, want the permanent 404", err)
	}
	if calls.Load() != 1 {
		t.Errorf("opener called %d times, want 1", calls.Load())
	}
}

// blockingBody yields some bytes, then blocks in Read until closed.
type blockingBody struct {
	first  []byte
	closed chan struct{}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if len(b.first) > 0 {
		n := copy(p, b.first)
		b.first = b.first[n:]
		return n, nil
	}
	<-b.closed
	return 0, errors.New("read on closed body")
}

func (b *blockingBody) Close() error {
	select {
	case <-b.closed:
	default:
		close(b.closed)
	}
	return nil
}

func TestFetchCancelled(t *testing.T) {
	cache := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	reading := make(chan struct{})
	open := func(ctx context.Context) (io.ReadCloser, error) {
		calls.Add(1)
		close(reading)
		return &blockingBody{first: randomBytes(10_000), closed: make(chan struct{})}, nil
	}
	done := make(chan error)
	go func() {
		_, _, err := Fetch(ctx, open, cache, "app", FetchOptions{Attempts: 5})
		done <- err
	}()
	<-reading
	time.Sleep(10 * time.Millisecond) // let Fetch block in Read
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Fetch did not return after cancellation")
	}
	if calls.Load() != 1 {
		t.Errorf("opener called %d times after cancellation, want 1", calls.Load())
	}
	if names := dirNames(t, cache); len(names) != 0 {
		t.Errorf("cache folder holds %q after a cancelled Fetch", names)
	}
}

func TestFetchCancelledDuringBackoff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	open := func(ctx context.Context) (io.ReadCloser, error) {
		if calls.Add(1) == 1 {
			time.AfterFunc(10*time.Millisecond, cancel)
		}
		return nil, errors.New("503")
	}
	start := time.Now()
	_, _, err := Fetch(ctx, open, t.TempDir(), "app", FetchOptions{Attempts: 3, Backoff: time.Hour})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("error %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}

func TestFetchProgress(t *testing.T) {
	data := randomBytes(500_000)
	var calls atomic.Int32
	type report struct{ done, total int64 }
	var reports []report
	opts := FetchOptions{
		Size:             int64(len(data)),
		ProgressInterval: time.Nanosecond,
		Progress:         func(done, total int64) { reports = append(reports, report{done, total}) },
	}
	if _, _, err := Fetch(context.Background(), opener(data, 0, 0, &calls), t.TempDir(), "app", opts); err != nil {
		t.Fatal(err)
	}
	if len(reports) < 2 {
		t.Fatalf("%d progress reports, want several", len(reports))
	}
	for i, r := range reports {
		if r.total != int64(len(data)) || (i > 0 && r.done < reports[i-1].done) {
			t.Errorf("report %d = %+v, want increasing done and total %d", i, r, len(data))
		}
	}
	if last := reports[len(reports)-1]; last.done != int64(len(data)) {
		t.Errorf("last report %+v, want done = %d", last, len(data))
	}

	// Unknown size: total is -1.
	reports = nil
	opts.Size = 0
	if _, _, err := Fetch(context.Background(), opener(data, 0, 0, &calls), t.TempDir(), "app", opts); err != nil {
		t.Fatal(err)
	}
	if last := reports[len(reports)-1]; last.total != -1 {
		t.Errorf("last report %+v, want total -1", last)
	}
}

func TestFetchRefusesBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../x", "a/b", `a\b`, "/etc/passwd"} {
		parent := t.TempDir()
		cache := filepath.Join(parent, "cache")
		var calls atomic.Int32
		_, _, err := Fetch(context.Background(), opener([]byte("x"), 0, 0, &calls), cache, name, FetchOptions{})
		if err == nil {
			t.Errorf("Fetch(name %q) succeeded", name)
		}
		if calls.Load() != 0 {
			t.Errorf("Fetch(name %q) opened the source", name)
		}
		if names := dirNames(t, parent); len(names) != 0 {
			t.Errorf("Fetch(name %q) wrote %q", name, names)
		}
	}
}

func TestRemovePartials(t *testing.T) {
	cache := t.TempDir()
	for _, n := range []string{"app", ".app" + partialMarker + "123", "other.part-1"} {
		os.WriteFile(filepath.Join(cache, n), nil, 0o644)
	}
	if err := RemovePartials(cache); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"app", "other.part-1"}, dirNames(t, cache)); diff != "" {
		t.Errorf("cache after RemovePartials (-want +got):\n%s", diff)
	}
}
