package file

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/dewyhq/dewy/registry"
)

func TestReleasesOpenReport(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("v1.0.0/app_linux_amd64.tar.gz", "archive")
	write("v1.0.0/checksums.txt", "sums")
	write("v1.1.0/app_linux_amd64.tar.gz", "newer")
	write(".v1.2.0/app_linux_amd64.tar.gz", "being copied in")
	write("README", "not a release")

	r, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := r.Releases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].Version < rels[j].Version })
	if len(rels) != 2 || rels[0].Version != "v1.0.0" || len(rels[0].Files) != 2 || rels[1].Version != "v1.1.0" || rels[0].Created.IsZero() {
		t.Fatalf("releases %+v", rels)
	}

	rc, size, err := r.Open(context.Background(), "v1.1.0", "app_linux_amd64.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "newer" || size != 5 {
		t.Errorf("Open read %q (%d bytes)", b, size)
	}
	if _, _, err := r.Open(context.Background(), "v1.1.0", "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	for _, bad := range [][2]string{{"..", "README"}, {"v1.0.0", "../v1.1.0/app_linux_amd64.tar.gz"}, {"/etc", "passwd"}} {
		if _, _, err := r.Open(context.Background(), bad[0], bad[1]); err == nil {
			t.Errorf("Open(%q, %q) left the registry folder", bad[0], bad[1])
		}
	}

	if err := r.Report(context.Background(), registry.Report{App: "web", Version: "v1.1.0", Host: "h1", DeployID: "01X"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "v1.1.0", ".dewy", "h1_web.json")); err != nil {
		t.Errorf("no report file: %v", err)
	}
	rels, _ = r.Releases(context.Background())
	for _, rel := range rels {
		if rel.Version == "v1.1.0" && len(rel.Files) != 1 {
			t.Errorf("the report shows up as a file of the release: %v", rel.Files)
		}
	}
	if _, err := New("relative/dir"); err == nil {
		t.Error("a relative registry path was accepted")
	}
}
