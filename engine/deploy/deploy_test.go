package deploy

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/registry"
)

// stallingRegistry offers v1.0.0 and then sends its artifact's bytes
// never: a registry whose connection hangs mid-download.
type stallingRegistry struct{ opened chan struct{} }

func (stallingRegistry) Releases(context.Context) ([]registry.Release, error) {
	return []registry.Release{{Version: "v1.0.0", Files: []string{"app"}}}, nil
}

func (s stallingRegistry) Open(ctx context.Context, _, _ string) (io.ReadCloser, int64, error) {
	r, w := io.Pipe()
	go func() { <-ctx.Done(); w.CloseWithError(ctx.Err()) }()
	select {
	case s.opened <- struct{}{}:
	default:
	}
	return r, -1, nil
}

func (stallingRegistry) Report(context.Context, registry.Report) error { return nil }

// A registry that hangs mid-download costs one bounded attempt: the
// deploy fails, nothing is switched, the version is not taken for bad (the
// next poll tries again), and the deployer is free for that next try.
func TestAStalledDownloadIsBounded(t *testing.T) {
	dir := t.TempDir()
	reg := stallingRegistry{opened: make(chan struct{}, 1)}
	d, err := New(Options{
		App:             plan.App{Name: "web", Dir: filepath.Join(dir, "web"), Registry: "r", Keep: 3},
		Registry:        plan.Registry{Name: "r", Artifact: "app"},
		Source:          reg,
		StateDir:        filepath.Join(dir, "state"),
		Logger:          zerolog.Nop(),
		DownloadTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Deploy(context.Background(), "test") }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a stalled download held the deploy past its timeout")
	}
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("Deploy = %v, want the download's timeout", err)
	}
	if d.HasRelease() {
		t.Error("current was set by a deploy whose download never finished")
	}
	if len(d.state.Bad) != 0 {
		t.Errorf("a stalled registry marked the version bad: %v", d.state.Bad)
	}
	if _, err := os.Stat(filepath.Join(dir, "web", "releases")); err == nil {
		if ents, _ := os.ReadDir(filepath.Join(dir, "web", "releases")); len(ents) != 0 {
			t.Errorf("releases/ holds %d entries after a failed download", len(ents))
		}
	}
	select { // forget the first deploy's opens
	case <-reg.opened:
	default:
	}
	go func() { done <- d.Deploy(context.Background(), "test again") }()
	select {
	case <-reg.opened:
	case <-time.After(30 * time.Second):
		t.Fatal("the next deploy did not try the download again")
	}
	<-done
}
