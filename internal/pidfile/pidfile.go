// Package pidfile writes dewy's pid file: checked at start, written
// atomically once dewy is up, removed at exit only while it is still
// dewy's own.
package pidfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RunningError: the pid file names a live dewy.
type RunningError struct {
	Path string
	Pid  int
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("pid file %s names pid %d, a running dewy; stop that dewy first, or give this one another pid file", e.Path, e.Pid)
}

// Check runs at start, before anything is bound. It fails when path names
// a live process that looks like dewy (other than self), and when the
// folder of path does not take a new file. A stale file is no error: Write
// replaces it.
func Check(path string, self int) error {
	if pid, err := Read(path); err == nil && pid != self && looksLikeDewy(pid) {
		return &RunningError{Path: path, Pid: pid}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check-*")
	if err != nil {
		return fmt.Errorf("pid file %s: cannot create a file in %s: %w", path, dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}

// Read returns the pid a pid file holds.
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a pid", path, bytes.TrimSpace(b))
	}
	return pid, nil
}

// looksLikeDewy reports whether pid is alive and its program is named
// dewy (dewy, dewy.test, /usr/local/bin/dewy).
func looksLikeDewy(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 { // gone, or a zombie
		return false
	}
	argv0, _, _ := bytes.Cut(b, []byte{0})
	return strings.HasPrefix(filepath.Base(string(argv0)), "dewy")
}

// Write writes pid to path atomically: a temporary file in the same
// folder, synced, then renamed over path, and the folder synced.
func Write(path string, pid int) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = fmt.Fprintf(f, "%d\n", pid); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// Remove deletes path if it still holds pid; a file another process has
// taken over since, or no file, is left alone. It reports whether it
// removed the file.
func Remove(path string, pid int) (bool, error) {
	got, err := Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || got != pid {
		return false, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("pid file %s: %w", path, err)
	}
	return true, nil
}
