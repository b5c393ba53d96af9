package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/release"
	"github.com/dewyhq/dewy/registry/file"
)

// A shutdown (or a reload) that comes while the new generation is being
// proven ready does not cut the restart: it ends by itself, and then the
// deploy either stands (ready) or current goes back (the supervisor
// stopped first). Neither takes the version for bad.
func TestARestartUnderWayIsNotCutShort(t *testing.T) {
	for _, tc := range []struct {
		name       string
		restartErr error
		want       string // the version current points at after
	}{
		{"the new generation becomes ready", nil, "v1.1.0"},
		{"the supervisor stops first", errors.New("supervisor stopping"), "v1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			regDir := filepath.Join(root, "registry")
			for _, v := range []string{"v1.0.0", "v1.1.0"} {
				if err := os.MkdirAll(filepath.Join(regDir, v), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(regDir, v, "app"), []byte("#!/bin/sh\n# "+v+"\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			src, err := file.New(regDir)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			restarting := make(chan struct{}, 1)
			cutShort := make(chan bool, 1)
			restart := func(rctx context.Context, cause string) error {
				if !strings.Contains(cause, "v1.1.0") {
					return nil
				}
				restarting <- struct{}{}
				<-ctx.Done() // the shutdown begins while the restart is under way
				time.Sleep(50 * time.Millisecond)
				cutShort <- rctx.Err() != nil
				return tc.restartErr
			}
			appDir := filepath.Join(root, "web")
			d, err := New(Options{
				App:      plan.App{Name: "web", Dir: appDir, Registry: "r", Keep: 3, Command: []string{"app"}},
				Registry: plan.Registry{Name: "r", Artifact: "app"},
				Source:   src, StateDir: filepath.Join(root, "state"), Logger: zerolog.Nop(), Restart: restart,
			})
			if err != nil {
				t.Fatal(err)
			}
			// v1.0.0 first: only it is published at first.
			if err := os.Rename(filepath.Join(regDir, "v1.1.0"), filepath.Join(root, "later")); err != nil {
				t.Fatal(err)
			}
			if err := d.Deploy(context.Background(), "test"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(root, "later"), filepath.Join(regDir, "v1.1.0")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- d.Deploy(ctx, "poll") }()
			<-restarting
			cancel()
			if <-cutShort {
				t.Error("the restart's context was cancelled by the shutdown")
			}
			err = <-done
			if (tc.restartErr == nil) != (err == nil) {
				t.Fatalf("Deploy = %v", err)
			}
			cur, _ := release.NewDir(appDir).Current()
			if release.VersionOf(cur) != tc.want {
				t.Fatalf("current -> %q, want %s", cur, tc.want)
			}
			if len(d.state.Bad) != 0 {
				t.Errorf("a deploy cut by the shutdown took a version for bad: %v", d.state.Bad)
			}
			ids, _ := release.NewDir(appDir).List()
			if tc.restartErr != nil && len(ids) != 1 {
				t.Errorf("releases after the switch back: %v, want only v1.0.0's", ids)
			}
		})
	}
}
