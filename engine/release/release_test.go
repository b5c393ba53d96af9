package release

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestSwitchListPrune(t *testing.T) {
	d := NewDir(t.TempDir())
	if id, err := d.Current(); err != nil || id != "" {
		t.Fatalf("Current of an empty dir: %q %v", id, err)
	}
	t0 := time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)
	var ids []string
	for i, v := range []string{"v1.0.0", "v1.1.0", "feature/x", "v1.2.0"} {
		id := NewID(v, t0.Add(time.Duration(i)*time.Minute))
		if err := os.MkdirAll(d.Path(id), 0o755); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if got := VersionOf(ids[2]); got != "feature_x" {
		t.Errorf("VersionOf %q = %q", ids[2], got)
	}
	if err := os.MkdirAll(filepath.Join(d.Releases(), ".unpacking"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := d.List()
	if err != nil || !reflect.DeepEqual(got, ids) {
		t.Fatalf("List = %v %v, want %v (oldest first, no unfinished unpack)", got, err, ids)
	}
	for _, id := range []string{ids[1], ids[3]} {
		if err := d.Switch(id); err != nil {
			t.Fatal(err)
		}
		if cur, _ := d.Current(); cur != id {
			t.Fatalf("current = %q after Switch(%q)", cur, id)
		}
	}
	target, _ := os.Readlink(d.CurrentLink())
	if target != filepath.Join("releases", ids[3]) {
		t.Errorf("current -> %q, want a relative link", target)
	}
	// keep 1: the newest, plus the protected running one and the one before it.
	removed, err := d.Prune(1, ids[3], ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, []string{ids[2], ids[0]}) {
		t.Errorf("removed %v", removed)
	}
}

func TestStateSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps", "web.json")
	s, err := LoadState(path)
	if err != nil || len(s.Bad) != 0 {
		t.Fatalf("fresh state: %+v %v", s, err)
	}
	if err := s.MarkBad("v1.2.0", "not ready within 10s"); err != nil {
		t.Fatal(err)
	}
	again, err := LoadState(path)
	if err != nil || again.Bad["v1.2.0"] != "not ready within 10s" {
		t.Fatalf("reloaded state: %+v %v", again, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(path); err == nil {
		t.Error("a corrupt state file loaded without an error")
	}
}
