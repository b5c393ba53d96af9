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

// A folder of the flag-driven dewy: releases named by their time only, an
// absolute current link, and the version it deployed last recorded in its
// file cache. The record is believed only when it is no newer than the
// release current points at.
func TestLegacyFolder(t *testing.T) {
	root := t.TempDir()
	d := NewDir(root)
	made := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	old, cur := "20231231T235000Z", made.Format(legacyTime)
	for _, id := range []string{old, cur} {
		if err := os.MkdirAll(filepath.Join(root, "releases", id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "releases", cur), filepath.Join(root, "current")); err != nil {
		t.Fatal(err)
	}
	if id, err := d.Current(); err != nil || id != cur {
		t.Fatalf("Current = %q %v, want %q", id, err, cur)
	}
	if got, err := d.List(); err != nil || !reflect.DeepEqual(got, []string{old, cur}) {
		t.Fatalf("List = %v %v", got, err)
	}
	if v := d.Version(cur); v != "" {
		t.Errorf("Version without a record = %q, want unknown", v)
	}
	record := filepath.Join(root, ".dewy", "cache", "current")
	if err := os.MkdirAll(filepath.Dir(record), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, []byte("v1.2.3--app_linux_amd64.tar.gz"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		written time.Time
		want    string
	}{
		{"written before the unpack", made.Add(-2 * time.Second), "v1.2.3"},
		{"written in the same second", made.Add(900 * time.Millisecond), "v1.2.3"},
		{"written by a later deploy that failed", made.Add(time.Hour), ""},
	} {
		if err := os.Chtimes(record, tc.written, tc.written); err != nil {
			t.Fatal(err)
		}
		if v := d.Version(cur); v != tc.want {
			t.Errorf("%s: Version = %q, want %q", tc.name, v, tc.want)
		}
	}
	for id, want := range map[string]string{
		"20260101T000000.000Z_v2.0.0": "v2.0.0",
		"not-a-release":               "",
		"":                            "",
	} {
		if v := d.Version(id); v != want {
			t.Errorf("Version(%q) = %q, want %q", id, v, want)
		}
	}
	// dewy's releases sort after the flag-driven dewy's older ones.
	newer := NewID("v2.0.0", made.Add(time.Minute))
	if !(cur < newer && old < cur) {
		t.Errorf("ids do not sort by time: %s %s %s", old, cur, newer)
	}
}
