package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cgroupTree is the cgroup v2 folder of one dewy instance:
// <dewy's own cgroup>/dewy-<scope>/<instance>, with one folder per app and
// one per generation below it (app-<name>/gen-<n>). Nothing but the
// generations' processes lives in it, and no controller is enabled, so the
// kernel's no-internal-process rule never applies.
type cgroupTree struct {
	scopeDir string // <own>/dewy-<scope>: every instance of this config
	dir      string // scopeDir/<instance>
}

// cgroupLeaf is one generation's cgroup.
type cgroupLeaf struct{ dir string }

// ownCgroupDir returns the cgroup v2 folder this process is in: the
// cgroup2 mount point (from /proc/self/mountinfo) joined with the "0::"
// line of /proc/self/cgroup.
func ownCgroupDir() (string, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mount, rest), nil
		}
	}
	return "", errors.New("not in a cgroup v2 hierarchy (no 0:: line in /proc/self/cgroup)")
}

func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" && pf[3] == "/" {
			return pf[4], nil
		}
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// newCgroupTree creates the instance's folder, or says why it cannot
// (not root, a read-only or delegated-away tree, a kernel before 5.14
// without cgroup.kill).
func newCgroupTree(scope, instance string) (*cgroupTree, error) {
	own, err := ownCgroupDir()
	if err != nil {
		return nil, err
	}
	t := &cgroupTree{scopeDir: filepath.Join(own, "dewy-"+scope)}
	t.dir = filepath.Join(t.scopeDir, instance)
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	if _, err := os.Stat(filepath.Join(t.dir, "cgroup.kill")); err != nil {
		_ = os.Remove(t.dir)
		return nil, fmt.Errorf("cgroup %s has no cgroup.kill (Linux 5.14 or later needed): %w", t.dir, err)
	}
	return t, nil
}

// pruneEmpty removes the empty cgroups that dead instances of any agent
// left beside this one's (a dewy killed with SIGKILL cannot remove its
// own): only empty ones, which no agent can still use, since a cgroup
// that holds a process cannot be removed.
func (t *cgroupTree) pruneEmpty() {
	parent := filepath.Dir(t.scopeDir)
	scopes, _ := filepath.Glob(filepath.Join(parent, "dewy-*"))
	for _, scope := range scopes {
		insts, _ := os.ReadDir(scope)
		for _, e := range insts {
			if e.IsDir() && !instanceAlive(e.Name()) {
				removeCgroupTree(filepath.Join(scope, e.Name()))
			}
		}
		if scope != t.scopeDir {
			_ = os.Remove(scope)
		}
	}
}

// leaf creates the cgroup of one generation.
func (t *cgroupTree) leaf(m Member) (*cgroupLeaf, error) {
	dir := filepath.Join(t.dir, "app-"+m.App, "gen-"+strconv.Itoa(m.Generation))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	return &cgroupLeaf{dir: dir}, nil
}

// close kills whatever is still in the instance's cgroups and removes them.
func (t *cgroupTree) close() {
	killCgroupDir(t.dir)
	removeCgroupTree(t.dir)
	_ = os.Remove(t.scopeDir) // only when no other instance uses it
}

// open returns a descriptor of the folder, for CLONE_INTO_CGROUP.
func (l *cgroupLeaf) open() (int, error) {
	fd, err := unix.Open(l.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open cgroup %s: %w", l.dir, err)
	}
	return fd, nil
}

// procs lists the processes in the cgroup.
func (l *cgroupLeaf) procs() []int { return readPids(filepath.Join(l.dir, "cgroup.procs")) }

// holds reports whether pid is in the cgroup.
func (l *cgroupLeaf) holds(pid int) bool {
	for _, p := range l.procs() {
		if p == pid {
			return true
		}
	}
	return false
}

// populated reports whether a process is still in the cgroup (a zombie
// counts until it is reaped).
func (l *cgroupLeaf) populated() bool { return cgroupPopulated(l.dir) }

// kill SIGKILLs every process in the cgroup, atomically: one that forks
// meanwhile cannot escape.
func (l *cgroupLeaf) kill() error {
	return killCgroupDir(l.dir)
}

// remove deletes the cgroup once it is empty (EBUSY until then) and its
// app's folder once that is empty too.
func (l *cgroupLeaf) remove() error {
	if err := os.Remove(l.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	_ = os.Remove(filepath.Dir(l.dir))
	return nil
}

func cgroupPopulated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false // gone
	}
	return bytes.Contains(b, []byte("populated 1"))
}

func killCgroupDir(dir string) error {
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("kill cgroup %s: %w", dir, err)
	}
	return nil
}

// removeCgroupTree removes dir and every cgroup below it, deepest first
// (a cgroup folder can only be removed once it has no children). Empty
// ones go; populated ones stay.
func removeCgroupTree(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}

func readPids(file string) []int {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}
