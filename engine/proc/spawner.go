package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/internal/procfs"
)

// ErrSpawnerStopped is returned by Start when the Spawner is not running
// (Run has returned, or ctx ended before it took the request).
var ErrSpawnerStopped = errors.New("proc: spawner is not running")

// SpawnerOptions configure a Spawner.
type SpawnerOptions struct {
	// Shim is the executable started in place of each command, which runs
	// MaybeRunShim and execs the command (dewy passes os.Executable()).
	// Empty starts commands directly; LISTEN_PID is then not set.
	Shim string
	// ReapOrphans reaps children of this process that the Spawner did not
	// start (descendants reparented to dewy after SetSubreaper). Turn it on
	// only when every child of this process is started through a Spawner.
	ReapOrphans bool
	// ChildSignals delivers SIGCHLD (the caller registers it: signals are
	// process-wide). With it, orphans are reaped as they exit and the
	// periodic scan is only a safety net; without it, orphans are looked
	// for every ReapInterval.
	ChildSignals <-chan os.Signal
	// ReapInterval is how often orphans are looked for besides each child
	// exit (default 1s, or 1m with ChildSignals).
	ReapInterval time.Duration
	// Containment, when set, puts each process started with a Spec.Member
	// in its generation's cgroup or marks it with its token, so Stop and
	// Kill reach the processes that left its process group. The Spawner
	// removes the cgroups when Run returns.
	Containment *Containment
	Logger      zerolog.Logger
}

// Spawner starts child processes from one locked OS thread. Create it with
// NewSpawner, call Run once, and Start from any goroutine.
type Spawner struct {
	opts    SpawnerOptions
	reqs    chan startReq
	kick    chan struct{}
	done    chan struct{}
	started atomic.Bool

	mu    sync.Mutex
	known map[int]struct{} // pids this Spawner started and os/exec waits for
	// leaves are the cgroups of exited leaders, removed once empty.
	leaves []*cgroupLeaf
}

type startReq struct {
	cmd   *exec.Cmd
	reply chan error
}

// NewSpawner returns a Spawner that is not running yet.
func NewSpawner(o SpawnerOptions) *Spawner {
	if o.ReapInterval <= 0 {
		o.ReapInterval = time.Second
		if o.ChildSignals != nil {
			o.ReapInterval = time.Minute
		}
	}
	return &Spawner{
		opts:  o,
		reqs:  make(chan startReq),
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		known: map[int]struct{}{},
	}
}

// Run starts the requested processes (and reaps orphans, if asked) until ctx
// ends. It must be called once. It locks its goroutine to an OS thread and
// never unlocks it: when Run returns the thread exits, and every child it
// started that is still alive receives SIGKILL from the kernel.
func (s *Spawner) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("proc: Spawner.Run called twice")
	}
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// This is the main thread, which the Go runtime never lets exit,
		// so the children's parent-death signal would not fire when Run
		// returns. Keep it locked (so the spawner cannot land on it), run
		// the spawner on a fresh thread, and give the main thread back.
		defer runtime.UnlockOSThread()
		errc := make(chan error, 1)
		go func() { errc <- s.loop(ctx) }()
		return <-errc
	}
	return s.loop(ctx)
}

// loop is Run's body, on a locked thread other than the main thread.
func (s *Spawner) loop(ctx context.Context) error {
	runtime.LockOSThread() // never unlocked: the thread exits with loop
	defer close(s.done)
	if c := s.opts.Containment; c != nil {
		defer c.close()
	}
	// Without orphans to reap nothing needs waking up: no ticker at all,
	// so an idle dewy does not poll.
	var tickC <-chan time.Time
	var sigC <-chan os.Signal
	if s.opts.ReapOrphans {
		tick := time.NewTicker(s.opts.ReapInterval)
		defer tick.Stop()
		tickC = tick.C
		sigC = s.opts.ChildSignals
	}
	for {
		select {
		case r := <-s.reqs:
			r.reply <- s.startLocked(r.cmd)
		case <-s.kick:
			s.reap()
			s.removeLeaves()
		case <-sigC:
			s.reap()
		case <-tickC:
			s.reap()
		case <-ctx.Done():
			return nil
		}
	}
}

// startLocked runs on the locked thread.
func (s *Spawner) startLocked(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	// Registered before the loop can reap again, so the reaper never sees
	// this pid as an orphan.
	s.mu.Lock()
	s.known[cmd.Process.Pid] = struct{}{}
	s.mu.Unlock()
	return nil
}

// retireLeaf queues the cgroup of an exited leader for removal, which
// succeeds once its last process is gone.
func (s *Spawner) retireLeaf(l *cgroupLeaf) {
	s.mu.Lock()
	s.leaves = append(s.leaves, l)
	s.mu.Unlock()
}

func (s *Spawner) removeLeaves() {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.leaves[:0]
	for _, l := range s.leaves {
		if l.remove() != nil {
			kept = append(kept, l)
		}
	}
	s.leaves = kept
}

func (s *Spawner) forget(pid int) {
	s.mu.Lock()
	delete(s.known, pid)
	s.mu.Unlock()
}

func (s *Spawner) kickReaper() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// reap waits (WNOHANG) for every child of this process the Spawner did not
// start. It runs on the Spawner's goroutine, which is also the only place a
// pid is registered, so a child the Spawner just started is never mistaken
// for an orphan.
func (s *Spawner) reap() {
	if !s.opts.ReapOrphans {
		return
	}
	for _, pid := range childPIDs() {
		s.mu.Lock()
		_, mine := s.known[pid]
		s.mu.Unlock()
		if mine {
			continue
		}
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if err == nil && got == pid {
			s.opts.Logger.Debug().Int("pid", pid).Str("status", describeWait(ws)).Msg("reaped an orphaned descendant")
		}
	}
}

func describeWait(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	case ws.Signaled():
		return "signal " + unix.SignalName(ws.Signal())
	default:
		return fmt.Sprintf("status %#x", uint32(ws))
	}
}

// childPIDs lists the children of every thread of this process, from
// /proc/self/task/*/children, or, on a kernel without that file
// (CONFIG_PROC_CHILDREN), from the parent pid of every process.
func childPIDs() []int {
	paths, _ := filepath.Glob("/proc/self/task/*/children")
	if len(paths) == 0 {
		return childPIDsByScan()
	}
	var out []int
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 0 {
				out = append(out, pid)
			}
		}
	}
	return out
}

func childPIDsByScan() []int {
	self := os.Getpid()
	var out []int
	_ = procfs.Scan(func(st procfs.Stat) bool {
		if st.PPID == self {
			out = append(out, st.PID)
		}
		return true
	})
	return out
}

// SetSubreaper makes this process the child subreaper of its descendants
// (PR_SET_CHILD_SUBREAPER): an orphaned descendant is reparented to it
// instead of to init. Pair it with SpawnerOptions.ReapOrphans.
func SetSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// Spec is one process to start.
type Spec struct {
	// Args is the command and its arguments. Args[0] is looked up in the
	// PATH of Env when it has no slash.
	Args []string
	// Dir is the working directory ("" = dewy's).
	Dir string
	// Env is the complete environment of the process.
	Env []string
	// User and Group, by name or number, switch credentials (dewy must be
	// root to use a different one). Group defaults to the user's primary
	// group; with a User the supplementary groups are the user's.
	User  string
	Group string
	// ExtraFiles become descriptors 3, 4, ... The caller keeps ownership
	// and may close them once Start returned.
	ExtraFiles []*os.File
	// Log, when set, receives stdout and stderr through a pipe. Otherwise
	// Stdout and Stderr are used as they are (nil is /dev/null).
	Log    *Log
	Stdout *os.File
	Stderr *os.File
	// OutputGrace is how long output is still copied after the process
	// exited, for a straggler that still writes (default 1s).
	OutputGrace time.Duration
	// Member names the generation, for the Spawner's Containment: the
	// process gets its token (EnvToken) and cgroup. Empty App: none.
	Member Member
}

// Start starts a process per spec and returns once it runs. The process is
// in its own process group, gets SIGKILL when dewy's spawner thread dies,
// and is waited for by a goroutine of its own (see Process.Done).
func (s *Spawner) Start(ctx context.Context, spec Spec) (*Process, error) {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return nil, errors.New("start: empty command")
	}
	resolved, err := lookPath(spec.Args[0], spec.Dir, spec.Env)
	if err != nil {
		return nil, fmt.Errorf("start %q: %w", spec.Args[0], err)
	}
	cmd := &exec.Cmd{
		Path:       resolved,
		Args:       spec.Args,
		Dir:        spec.Dir,
		Env:        spec.Env,
		ExtraFiles: spec.ExtraFiles,
		Stdout:     spec.Stdout,
		Stderr:     spec.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if s.opts.Shim != "" {
		cmd.Path = s.opts.Shim
		cmd.Env = append(withoutVar(spec.Env, ShimEnv), ShimEnv+"="+shimValue)
	}
	if spec.User != "" || spec.Group != "" {
		cred, err := credential(spec.User, spec.Group)
		if err != nil {
			return nil, fmt.Errorf("start %q: %w", spec.Args[0], err)
		}
		cmd.SysProcAttr.Credential = cred
	}
	var mem *members
	if c := s.opts.Containment; c != nil && spec.Member.App != "" {
		mem = &members{c: c, token: c.Token(spec.Member)}
		cmd.Env = append(withoutVar(cmd.Env, EnvToken), EnvToken+"="+mem.token)
		if c.cg != nil {
			if mem.leaf, err = c.cg.leaf(spec.Member); err != nil {
				return nil, fmt.Errorf("start %q: %w", spec.Args[0], err)
			}
			fd, err := mem.leaf.open()
			if err != nil {
				_ = mem.leaf.remove()
				return nil, fmt.Errorf("start %q: %w", spec.Args[0], err)
			}
			defer unix.Close(fd)
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		}
	}
	failed := func() {
		if mem != nil && mem.leaf != nil {
			_ = mem.leaf.remove()
		}
	}
	var pr, pw *os.File
	if spec.Log != nil {
		pr, pw, err = os.Pipe()
		if err != nil {
			failed()
			return nil, fmt.Errorf("start %q: output pipe: %w", spec.Args[0], err)
		}
		cmd.Stdout, cmd.Stderr = pw, pw
	}
	closePipes := func() {
		if pr != nil {
			_ = pr.Close()
			_ = pw.Close()
		}
		failed()
	}
	r := startReq{cmd: cmd, reply: make(chan error, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		closePipes()
		return nil, ErrSpawnerStopped
	case <-ctx.Done():
		closePipes()
		return nil, ctx.Err()
	}
	if err := <-r.reply; err != nil {
		closePipes()
		return nil, fmt.Errorf("start %q: %w", spec.Args[0], err)
	}
	p := &Process{
		cmd:     cmd,
		pid:     cmd.Process.Pid,
		started: time.Now(),
		spawner: s,
		members: mem,
		waited:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	grace := spec.OutputGrace
	if grace <= 0 {
		grace = time.Second
	}
	var cp *copier
	if pw != nil {
		_ = pw.Close() // the child has its copy
		cp = startCopier(pr, spec.Log)
	}
	go p.wait(cp, grace)
	return p, nil
}

func withoutVar(env []string, key string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// LookupEnv returns the last value of key in env.
func LookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// lookPath resolves name as the child will: in the PATH of env, relative
// to dir. It returns name itself when it has a slash (the child resolves it
// against its own working directory) and the found path otherwise.
func lookPath(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", err
		}
		return p, nil
	}
	path, _ := LookupEnv(env, "PATH")
	for _, d := range filepath.SplitList(path) {
		if d == "" || !filepath.IsAbs(d) {
			continue // like exec.LookPath, never resolve through a relative PATH entry
		}
		p := filepath.Join(d, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file not found in the app's PATH %q", path)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", p)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: %w", p, os.ErrPermission)
	}
	return nil
}
