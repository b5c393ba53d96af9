package deploy

import (
	"context"
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

// legacyFolder lays out what the flag-driven dewy leaves in its working
// directory: two releases named by their time, current an absolute link
// to the newer, and (when record is not "") its cache's record of the
// version it deployed, written before that release was made.
func legacyFolder(t *testing.T, root, record string) (current string) {
	t.Helper()
	made := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	ids := []string{made.Add(-time.Hour).Format("20060102T150405Z0700"), made.Format("20060102T150405Z0700")}
	for _, id := range ids {
		if err := os.MkdirAll(filepath.Join(root, "releases", id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "releases", id, "app"), []byte("#!/bin/sh\n# legacy\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "releases", ids[1]), filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	if record != "" {
		p := filepath.Join(root, ".dewy", "cache", "current")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(record), 0o644); err != nil {
			t.Fatal(err)
		}
		written := made.Add(-time.Minute)
		if err := os.Chtimes(p, written, written); err != nil {
			t.Fatal(err)
		}
	}
	return ids[1]
}

// publish puts version into the file registry at regDir.
func publish(t *testing.T, regDir, version string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(regDir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(regDir, version, "app"), []byte("#!/bin/sh\n# "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A folder the flag-driven dewy deployed into is taken as it is: with its
// record, the version current runs is known (the same version is not
// deployed again, a newer one is); without it, the newest version is
// deployed once. Its releases are never removed before they are replaced,
// and the kept ones stay within keep.
func TestALegacyFolderIsTakenAsItIs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record string
		// deploys are the versions the first Deploy with v1.0.0 published,
		// and the second with v1.1.0 too, are expected to install.
		first, second string
		previous      string // DEWY_PREVIOUS_VERSION of the v1.1.0 deploy
	}{
		{"with the record of its version", "v1.0.0--app_linux_amd64.tar.gz", "", "v1.1.0", "v1.0.0"},
		{"without a record", "", "v1.0.0", "v1.1.0", "v1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			appDir := filepath.Join(root, "work")
			legacy := legacyFolder(t, appDir, tc.record)
			regDir := filepath.Join(root, "registry")
			publish(t, regDir, "v1.0.0")
			src, err := file.New(regDir)
			if err != nil {
				t.Fatal(err)
			}
			var restarts []string
			envFile := filepath.Join(root, "hook.env")
			d, err := New(Options{
				App: plan.App{Name: "app", Dir: appDir, Registry: "r", Keep: 7, Command: []string{"current/app"},
					Hooks: plan.Hooks{BeforeDeploy: "echo \"$DEWY_VERSION $DEWY_PREVIOUS_VERSION\" >> " + envFile}},
				Registry: plan.Registry{Name: "r", Artifact: "app"},
				Source:   src, StateDir: filepath.Join(appDir, ".dewy"), Logger: zerolog.Nop(),
				Restart: func(_ context.Context, cause string) error { restarts = append(restarts, cause); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			dir := release.NewDir(appDir)
			deployedNow := func(step, want string) {
				t.Helper()
				cur, _ := dir.Current()
				switch {
				case want == "" && cur != legacy:
					t.Fatalf("%s: current -> %q, want the flag-driven dewy's %s", step, cur, legacy)
				case want != "" && dir.Version(cur) != want:
					t.Fatalf("%s: current -> %q, want %s", step, cur, want)
				}
			}

			if err := d.Deploy(context.Background(), "poll"); err != nil {
				t.Fatal(err)
			}
			deployedNow("v1.0.0 published", tc.first)
			if err := d.Deploy(context.Background(), "poll"); err != nil {
				t.Fatal(err)
			}
			deployedNow("again", tc.first)
			publish(t, regDir, "v1.1.0")
			if err := d.Deploy(context.Background(), "poll"); err != nil {
				t.Fatal(err)
			}
			deployedNow("v1.1.0 published", tc.second)

			var want []string
			for _, v := range []string{tc.first, tc.second} {
				if v != "" {
					want = append(want, "deploy "+v)
				}
			}
			if strings.Join(restarts, ",") != strings.Join(want, ",") {
				t.Errorf("restarts %v, want %v", restarts, want)
			}
			if _, err := os.Stat(dir.Path(legacy)); err != nil {
				t.Errorf("the flag-driven dewy's release is gone: %v", err)
			}
			ids, _ := dir.List()
			if len(ids) != 2+len(want) {
				t.Errorf("releases %v", ids)
			}
			b, _ := os.ReadFile(envFile)
			if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); lines[len(lines)-1] != "v1.1.0 "+tc.previous {
				t.Errorf("before_deploy saw %q, want the previous version %s", b, tc.previous)
			}
			if rec := filepath.Join(appDir, ".dewy", "cache", "current"); tc.record != "" {
				if _, err := os.Stat(rec); err != nil {
					t.Errorf("the flag-driven dewy's record was removed: %v", err)
				}
			}
		})
	}
}
