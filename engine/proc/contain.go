package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/internal/procfs"
)

// EnvToken is the variable that marks every process of a generation:
// "<scope>:<instance>:<generation>:<app>". It survives setsid, a new
// process group and a double fork (an environment is inherited), so dewy
// finds a generation's escaped processes by it.
const EnvToken = "DEWY_TOKEN"

// Member names the generation a process belongs to.
type Member struct {
	App        string
	Generation int
}

// ContainmentOptions configure NewContainment.
type ContainmentOptions struct {
	// Scope names this agent across its restarts (a hash of its config
	// file's path), so a fresh dewy recognises what an earlier instance of
	// the same agent left behind, and leaves another agent's apps alone.
	// Letters, digits and '-' only.
	Scope string
	// NoCgroup keeps to the environment token even where a cgroup could be
	// made (tests; hosts whose cgroup tree another manager owns).
	NoCgroup bool
	// Subreaper says dewy is its descendants' subreaper: an escaped
	// process then stays below dewy, and only dewy's descendants are
	// searched for a generation's token, not every process of the host.
	Subreaper bool
	Logger    zerolog.Logger
}

// Containment finds and ends every process a generation started, wherever
// it went: in a cgroup v2 per generation where dewy may create one (root
// with a writable cgroup tree), else by the environment token. A process
// that is in no cgroup of dewy's and cleared its environment (env -i) is
// not found; its process group still is, when it kept that.
type Containment struct {
	scope     string
	instance  string // "<pid>-<starttime>" of this dewy
	cg        *cgroupTree
	subreaper bool
	log       zerolog.Logger
	// cgErr says why there is no cgroup (for Mode).
	cgErr error
}

// NewContainment prepares containment for this dewy process.
func NewContainment(o ContainmentOptions) (*Containment, error) {
	if o.Scope == "" || strings.ContainsAny(o.Scope, ":/ \x00") {
		return nil, fmt.Errorf("containment: invalid scope %q", o.Scope)
	}
	self, err := procfs.Read(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("containment: %w", err)
	}
	c := &Containment{
		scope:     o.Scope,
		instance:  instanceName(self),
		subreaper: o.Subreaper,
		log:       o.Logger,
	}
	if o.NoCgroup {
		c.cgErr = errors.New("cgroups turned off")
	} else {
		c.cg, c.cgErr = newCgroupTree(c.scope, c.instance)
	}
	return c, nil
}

func instanceName(st procfs.Stat) string {
	return strconv.Itoa(st.PID) + "-" + strconv.FormatUint(st.StartTime, 10)
}

// Mode says how generations are contained, for the start-up log.
func (c *Containment) Mode() string {
	if c.cg != nil {
		return "cgroup v2 " + c.cg.dir
	}
	return "environment token " + EnvToken + " (no cgroup: " + c.cgErr.Error() + ")"
}

// Token is the EnvToken value of m's processes.
func (c *Containment) Token(m Member) string {
	return c.scope + ":" + c.instance + ":" + strconv.Itoa(m.Generation) + ":" + m.App
}

// close ends and removes the instance's cgroups, once every generation
// has stopped (the spawner calls it when it stops).
func (c *Containment) close() {
	if c.cg != nil {
		c.cg.close()
	}
}

// tokenOwner parses a token into its scope and instance.
func tokenOwner(tok string) (scope, instance string, ok bool) {
	f := strings.SplitN(tok, ":", 4)
	if len(f) != 4 {
		return "", "", false
	}
	return f[0], f[1], true
}

// instanceAlive reports whether the dewy named by instance ("pid-start")
// still runs.
func instanceAlive(instance string) bool {
	p, s, ok := strings.Cut(instance, "-")
	if !ok {
		return false
	}
	pid, err1 := strconv.Atoi(p)
	start, err2 := strconv.ParseUint(s, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	st, err := procfs.Read(pid)
	return err == nil && !st.Zombie() && st.StartTime == start
}

// Leftover is a process an earlier, dead instance of this agent left.
type Leftover struct {
	PID   int
	Token string
}

// SweepLeftovers stops what an earlier instance of this agent (same
// scope, an instance no longer running) left behind: its stale cgroups and
// every process carrying its token. They get SIGTERM, and SIGKILL after
// timeout. It returns what it found. Call it before binding any socket: a
// leftover may hold the agent's ports.
func (c *Containment) SweepLeftovers(ctx context.Context, timeout time.Duration) ([]Leftover, error) {
	var found []Leftover
	var fds []int
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	_ = procfs.Scan(func(st procfs.Stat) bool {
		if st.PID == os.Getpid() || st.Zombie() {
			return true
		}
		tok, ok := tokenOf(st.PID)
		if !ok {
			return true
		}
		scope, inst, ok := tokenOwner(tok)
		if !ok || scope != c.scope || inst == c.instance || instanceAlive(inst) {
			return true
		}
		fd, err := pidfdFor(st.PID, func(pid int) bool { t, _ := tokenOf(pid); return t == tok })
		if err != nil {
			return true
		}
		fds = append(fds, fd)
		found = append(found, Leftover{PID: st.PID, Token: tok})
		return true
	})
	var stale []string
	if c.cg != nil {
		ents, _ := os.ReadDir(c.cg.scopeDir)
		for _, e := range ents {
			if e.IsDir() && e.Name() != c.instance && !instanceAlive(e.Name()) {
				stale = append(stale, filepath.Join(c.cg.scopeDir, e.Name()))
			}
		}
		c.cg.pruneEmpty()
	}
	if len(fds) == 0 && len(stale) == 0 {
		return nil, nil
	}
	for _, fd := range fds {
		_ = unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0)
	}
	for _, dir := range stale {
		signalCgroupTree(dir, unix.SIGTERM)
	}
	gone := func() bool {
		for _, fd := range fds {
			if !pidfdExited(fd) {
				return false
			}
		}
		for _, dir := range stale {
			if cgroupPopulated(dir) {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(timeout)
	for !gone() && time.Now().Before(deadline) && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	if !gone() {
		for _, fd := range fds {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}
		for _, dir := range stale {
			_ = killCgroupDir(dir)
		}
		for i := 0; i < 100 && !gone(); i++ {
			sleepCtx(ctx, 10*time.Millisecond)
		}
	}
	for _, dir := range stale {
		removeCgroupTree(dir)
	}
	if !gone() {
		return found, errors.New("processes left by an earlier dewy survived SIGKILL")
	}
	return found, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// signalCgroupTree sends sig to every process in dir and below.
func signalCgroupTree(dir string, sig syscall.Signal) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			for _, pid := range readPids(filepath.Join(p, "cgroup.procs")) {
				_ = unix.Kill(pid, sig)
			}
		}
		return nil
	})
}

// tokenOf reads pid's EnvToken.
func tokenOf(pid int) (string, bool) {
	env, err := procfs.Environ(pid)
	if err != nil {
		return "", false
	}
	return procfs.EnvValue(env, EnvToken)
}

// pidfdFor opens a pidfd for pid and checks, through it, that it is still
// the process meant (belongs): a pid found by a scan may have been reused
// by the time it is signalled; a pidfd cannot be.
func pidfdFor(pid int, belongs func(int) bool) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, err
	}
	if !belongs(pid) {
		_ = unix.Close(fd)
		return -1, errors.New("not the process found")
	}
	return fd, nil
}

// pidfdExited reports whether the process has exited (a zombie has).
func pidfdExited(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// escapees finds the live processes of token outside process group
// pgid: in the whole host, or only below dewy when it is the subreaper
// (where an escaped process must be).
func (c *Containment) escapees(token string, pgid int) []int {
	var stats []procfs.Stat
	_ = procfs.Scan(func(st procfs.Stat) bool {
		stats = append(stats, st)
		return true
	})
	var under map[int]bool
	if c.subreaper {
		under = descendants(stats, os.Getpid())
	}
	var out []int
	for _, st := range stats {
		if st.Zombie() || st.PGRP == pgid || under != nil && !under[st.PID] {
			continue
		}
		if tok, ok := tokenOf(st.PID); ok && tok == token {
			out = append(out, st.PID)
		}
	}
	return out
}

// descendants returns the set of processes below root.
func descendants(stats []procfs.Stat, root int) map[int]bool {
	parent := make(map[int]int, len(stats))
	for _, st := range stats {
		parent[st.PID] = st.PPID
	}
	out := map[int]bool{}
	for _, st := range stats {
		for p, hops := st.PPID, 0; p > 1 && hops < 256; p, hops = parent[p], hops+1 {
			if p == root {
				out[st.PID] = true
				break
			}
		}
	}
	return out
}

// members is what Process knows of its generation beyond its process
// group: its cgroup, or its token.
type members struct {
	c     *Containment
	token string
	leaf  *cgroupLeaf // nil in token mode
}

// escaped lists the generation's live processes outside process group
// pgid, each with a pidfd checked to be the process found. The caller
// closes the pidfds.
func (m *members) escaped(pgid int) []escapee {
	var pids []int
	var belongs func(int) bool
	if m.leaf != nil {
		for _, pid := range m.leaf.procs() {
			if st, err := procfs.Read(pid); err == nil && st.PGRP != pgid && !st.Zombie() {
				pids = append(pids, pid)
			}
		}
		belongs = m.leaf.holds
	} else {
		pids = m.c.escapees(m.token, pgid)
		belongs = func(pid int) bool { t, _ := tokenOf(pid); return t == m.token }
	}
	var out []escapee
	for _, pid := range pids {
		if fd, err := pidfdFor(pid, belongs); err == nil {
			out = append(out, escapee{pid: pid, fd: fd})
		}
	}
	return out
}

// escapee is a process found outside its generation's group, with a
// pidfd that names it for good.
type escapee struct{ pid, fd int }

// signal sends sig to the generation's processes outside pgid, except
// those in seen (pids already signalled), and adds them to seen when it
// is not nil.
func (m *members) signal(pgid int, sig syscall.Signal, seen map[int]bool) {
	for _, e := range m.escaped(pgid) {
		if seen == nil || !seen[e.pid] {
			_ = unix.PidfdSendSignal(e.fd, sig, nil, 0)
			if seen != nil {
				seen[e.pid] = true
			}
		}
		_ = unix.Close(e.fd)
	}
}

// kill SIGKILLs every process of the generation.
func (m *members) kill(pgid int) {
	if m.leaf != nil {
		_ = m.leaf.kill()
		return
	}
	m.signal(pgid, unix.SIGKILL, nil)
}

// gone reports whether no live process of the generation is left outside
// pgid (whose own emptiness the caller checks).
func (m *members) gone(pgid int) bool {
	if m.leaf != nil {
		// Zombies do not count (see Process.groupGone).
		for _, pid := range m.leaf.procs() {
			if procfs.Alive(pid) {
				return false
			}
		}
		return true
	}
	return len(m.c.escapees(m.token, pgid)) == 0
}
