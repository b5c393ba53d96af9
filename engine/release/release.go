// Package release owns an app's release folder on disk:
//
//	<dir>/releases/<id>/   one unpacked release each; ids sort by time
//	<dir>/current          a symlink to releases/<id>, swapped atomically
//
// and the little an app's deploys must remember across restarts of dewy
// (which versions failed): a JSON file in the state folder.
//
// A folder the flag-driven dewy deployed into is taken as it is: its
// releases are named by their time alone (releases/20240101T000000Z), its
// current link is absolute, and the version it deployed last is recorded in
// its file cache, .dewy/cache/current ("v1.2.3--app_linux_amd64.tar.gz").
// Version reads that record when it is no newer than the release current
// points at; otherwise such a release's version is unknown, and the next
// deploy installs the newest version once.
package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Dir is an app's folder.
type Dir struct {
	root string
}

// NewDir returns the release folder of an app whose dir is root.
func NewDir(root string) Dir { return Dir{root: root} }

// Releases is the folder of the unpacked releases.
func (d Dir) Releases() string { return filepath.Join(d.root, "releases") }

// CurrentLink is the path of the current link.
func (d Dir) CurrentLink() string { return filepath.Join(d.root, "current") }

// Path is the folder of release id.
func (d Dir) Path(id string) string { return filepath.Join(d.Releases(), id) }

// idTime is the layout of an id's time: sortable, and readable in `ls`.
const idTime = "20060102T150405.000Z"

// NewID names a new release of version: the UTC time, then the version
// with what a file name cannot hold replaced.
func NewID(version string, now time.Time) string {
	v := strings.Map(func(r rune) rune {
		if r == '/' || r == 0 || r == os.PathSeparator {
			return '_'
		}
		return r
	}, version)
	return now.UTC().Format(idTime) + "_" + v
}

// VersionOf returns the version part of an id (as NewID made it; a '/' of
// the version reads back as '_'). An id without one (a release of the
// flag-driven dewy) is returned whole: it still names the release in logs
// and in the state file; Dir.Version tells whether a version is known.
func VersionOf(id string) string {
	if _, v, ok := strings.Cut(id, "_"); ok {
		return v
	}
	return id
}

// legacyTime is the layout of the flag-driven dewy's release folders.
const legacyTime = "20060102T150405Z0700"

// legacyRecord is the flag-driven dewy's record of the version it
// deployed last, "<tag>--<artifact>", in its file cache under the folder.
var legacyRecord = filepath.Join(".dewy", "cache", "current")

// Version returns the version of release id: the part NewID put after the
// time. For a release of the flag-driven dewy (named by its UTC time only)
// it is the version that dewy recorded in .dewy/cache/current, when the
// record was written no later than the release was made (the record is
// written before the unpack, so a later deploy that failed leaves a newer
// record beside an older current); "" when it cannot be known.
func (d Dir) Version(id string) string {
	if _, v, ok := strings.Cut(id, "_"); ok {
		return v
	}
	made, err := time.Parse(legacyTime, id)
	if err != nil {
		return ""
	}
	path := filepath.Join(d.root, legacyRecord)
	fi, err := os.Stat(path)
	// The folder's name is its time cut to the second.
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > 4096 || fi.ModTime().After(made.Add(time.Second)) {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	tag, _, ok := strings.Cut(strings.TrimSpace(string(b)), "--")
	if !ok {
		return ""
	}
	return tag
}

// Current returns the id current points at, or "" when there is no
// current link. The link may be relative (dewy's) or absolute (the
// flag-driven dewy's); the id is its last element.
func (d Dir) Current() (string, error) {
	target, err := os.Readlink(d.CurrentLink())
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the current link: %w", err)
	}
	return filepath.Base(target), nil
}

// List returns the ids of the unpacked releases, oldest first (unfinished
// unpacks, whose names start with '.', are not releases).
func (d Dir) List() ([]string, error) {
	ents, err := os.ReadDir(d.Releases())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list releases: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Switch points current at release id: a new link is made beside it and
// renamed over it, so there is never a moment without current. The link
// is relative (releases/<id>), so the app folder can be moved.
func (d Dir) Switch(id string) error {
	if _, err := os.Stat(d.Path(id)); err != nil {
		return fmt.Errorf("switch current to %s: %w", id, err)
	}
	tmp := filepath.Join(d.root, ".current.tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Join("releases", id), tmp); err != nil {
		return fmt.Errorf("switch current to %s: %w", id, err)
	}
	if err := os.Rename(tmp, d.CurrentLink()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("switch current to %s: %w", id, err)
	}
	return syncDir(d.root)
}

// Remove deletes release id's folder.
func (d Dir) Remove(id string) error {
	if id == "" || strings.ContainsRune(id, os.PathSeparator) {
		return fmt.Errorf("remove release %q: not a release id", id)
	}
	if err := os.RemoveAll(d.Path(id)); err != nil {
		return fmt.Errorf("remove release %s: %w", id, err)
	}
	return nil
}

// Prune keeps the newest keep releases and every id in protect (the
// running one and the one before it), and removes the others. It returns
// the ids removed.
func (d Dir) Prune(keep int, protect ...string) ([]string, error) {
	ids, err := d.List()
	if err != nil {
		return nil, err
	}
	kept := map[string]bool{}
	for _, p := range protect {
		kept[p] = true
	}
	var removed []string
	var errs []error
	for i := len(ids) - 1; i >= 0; i-- {
		id := ids[i]
		if keep > 0 {
			keep--
			continue
		}
		if kept[id] {
			continue
		}
		if err := d.Remove(id); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, id)
	}
	return removed, errors.Join(errs...)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// State is what an app's deploys remember across restarts of dewy.
type State struct {
	path string
	// Bad maps a version that failed to why; it is not tried again until
	// a newer one appears.
	Bad map[string]string `json:"bad"`
}

// LoadState reads the state file of an app (a missing file is an empty
// state).
func LoadState(path string) (*State, error) {
	s := &State{path: path, Bad: map[string]string{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read deploy state: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("deploy state %s: %w", path, err)
	}
	if s.Bad == nil {
		s.Bad = map[string]string{}
	}
	return s, nil
}

// MarkBad remembers version as failed, and saves.
func (s *State) MarkBad(version, why string) error {
	s.Bad[version] = why
	return s.save()
}

func (s *State) save() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("save deploy state: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save deploy state: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("save deploy state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("save deploy state: %w", err)
	}
	return nil
}
