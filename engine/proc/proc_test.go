package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

const helperEnv = "PROC_TEST_HELPER"

// mainThread runs functions on the process's main thread: the main
// goroutine stays locked to it (init) and serves this channel while the
// tests run on other goroutines.
var mainThread = make(chan func())

func init() { runtime.LockOSThread() }

func TestMain(m *testing.M) {
	MaybeRunShim()
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	done := make(chan int)
	go func() { done <- m.Run() }()
	for {
		select {
		case f := <-mainThread:
			f()
		case code := <-done:
			os.Exit(code)
		}
	}
}

// helper is what the test binary does when a test starts it as a child.
func helper(mode string) int {
	switch mode {
	case "env":
		_, shim := os.LookupEnv(ShimEnv)
		fmt.Printf("pid=%d listen_pid=%s shim=%v\n", os.Getpid(), os.Getenv("LISTEN_PID"), shim)
		return 0
	case "sleep":
		time.Sleep(time.Hour)
		return 0
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring")
		time.Sleep(time.Hour)
		return 0
	case "orphan":
		// Leave a grandchild behind that exits a moment after we do.
		c := exec.Command("/bin/sh", "-c", "sleep 0.3")
		if err := c.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Printf("orphan=%d\n", c.Process.Pid)
		return 0
	case "exit3":
		return 3
	case "straggler":
		// Leave a TERM-ignoring process in our group that outlives us a
		// little, then exit on SIGTERM without waiting for it.
		c := exec.Command("/bin/sh", "-c", "trap '' TERM; sleep 0.5")
		if err := c.Start(); err != nil {
			fmt.Println(err)
			return 1
		}
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		fmt.Printf("straggler=%d\n", c.Process.Pid)
		<-term
		return 0
	case "write":
		n, _ := strconv.Atoi(os.Getenv("LINES"))
		for i := 0; i < n; i++ {
			if i%2 == 0 {
				fmt.Fprintf(os.Stdout, "out line %04d\n", i)
			} else {
				fmt.Fprintf(os.Stderr, "err line %04d\n", i)
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// runSpawner starts a Spawner; stop (also run when the test ends) cancels
// it and waits for Run to return.
func runSpawner(t *testing.T, o SpawnerOptions) (s *Spawner, stop func()) {
	t.Helper()
	s = NewSpawner(o)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Spawner.Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Spawner.Run did not return")
			}
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func helperSpec(t *testing.T, mode string, extraEnv ...string) Spec {
	return Spec{
		Args: []string{testBinary(t), "-test.run=^$"},
		// GORACE: a race-enabled binary otherwise sleeps 1s at exit.
		Env: append(append(os.Environ(), helperEnv+"="+mode, "GORACE=atexit_sleep_ms=0"), extraEnv...),
	}
}

// startWithOutput starts spec with stdout on a pipe and returns a line reader.
func startWithOutput(t *testing.T, s *Spawner, spec Spec) (*Process, *bufio.Scanner) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	spec.Stdout = w
	p, err := s.Start(context.Background(), spec)
	_ = w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill(); <-p.Done() })
	_ = r.SetReadDeadline(time.Now().Add(20 * time.Second))
	return p, bufio.NewScanner(r)
}

func waitDone(t *testing.T, p *Process, what string) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: process %d still running", what, p.Pid())
	}
}

// TestShimSetsListenPID: the child started through the shim sees LISTEN_PID
// equal to its own pid, which is the pid the Spawner reports, and does not
// see the shim marker.
func TestShimSetsListenPID(t *testing.T) {
	s, _ := runSpawner(t, SpawnerOptions{Shim: testBinary(t)})
	p, sc := startWithOutput(t, s, helperSpec(t, "env", "LISTEN_FDS=0"))
	if !sc.Scan() {
		t.Fatalf("no output: %v", sc.Err())
	}
	want := fmt.Sprintf("pid=%d listen_pid=%d shim=false", p.Pid(), p.Pid())
	if got := sc.Text(); got != want {
		t.Errorf("child said %q, want %q", got, want)
	}
	waitDone(t, p, "env helper")
	if !p.State().Success() {
		t.Errorf("child exit: %s", p.ExitDescription())
	}

	// Without LISTEN_FDS the shim leaves LISTEN_PID alone.
	p, sc = startWithOutput(t, s, helperSpec(t, "env"))
	if !sc.Scan() || sc.Text() != fmt.Sprintf("pid=%d listen_pid= shim=false", p.Pid()) {
		t.Errorf("without LISTEN_FDS the child said %q", sc.Text())
	}
}

// TestShimExits127 runs the shim on a command it cannot find.
func TestShimExits127(t *testing.T) {
	cmd := &exec.Cmd{
		Path: testBinary(t),
		Args: []string{"dewy-no-such-command"},
		Env:  append(os.Environ(), ShimEnv+"=1"),
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 {
		t.Fatalf("shim exit: %v, want 127; output %q", err, out)
	}
	if !strings.Contains(string(out), "dewy shim: cannot run the app") || !strings.Contains(string(out), "dewy-no-such-command") {
		t.Errorf("message %q does not say what failed", out)
	}
}

// TestStartErrors: a command missing from the app's PATH is reported by
// Start itself, and a stopped Spawner refuses work.
func TestStartErrors(t *testing.T) {
	s, stop := runSpawner(t, SpawnerOptions{})
	_, err := s.Start(context.Background(), Spec{Args: []string{"dewy-no-such-command"}, Env: []string{"PATH=/usr/bin:/bin"}})
	if err == nil || !strings.Contains(err.Error(), "PATH") || !strings.Contains(err.Error(), "dewy-no-such-command") {
		t.Errorf("missing command: %v", err)
	}
	stop()
	if _, err := s.Start(context.Background(), Spec{Args: []string{"/bin/true"}}); !errors.Is(err, ErrSpawnerStopped) {
		t.Errorf("Start after Run returned: %v, want ErrSpawnerStopped", err)
	}
}

// TestChildDiesWhenSpawnerStops: the parent-death signal is tied to the
// spawner's locked thread, which exits with Run; the child (started through
// the shim, which must keep the signal across its exec) gets SIGKILL.
func TestChildDiesWhenSpawnerStops(t *testing.T) {
	s, stop := runSpawner(t, SpawnerOptions{Shim: testBinary(t)})
	p, err := s.Start(context.Background(), Spec{Args: []string{"sleep", "1000"}, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	// Keep the test's goroutines busy so the runtime has threads to spare:
	// only the spawner's own thread exiting may matter.
	time.Sleep(100 * time.Millisecond)
	if !procfs.Alive(p.Pid()) {
		t.Fatal("child died before the spawner stopped")
	}
	stop()
	select {
	case <-p.Exited():
	case <-time.After(20 * time.Second):
		_ = p.Kill()
		t.Fatal("child still alive after the spawner's thread exited")
	}
	ws := p.State().Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("child ended with %s, want SIGKILL", p.ExitDescription())
	}
}

// TestStop: a clean stop returns nil; a child that ignores SIGTERM is
// SIGKILLed after the timeout; the whole group is signalled.
func TestStop(t *testing.T) {
	s, _ := runSpawner(t, SpawnerOptions{Shim: testBinary(t)})

	p, err := s.Start(context.Background(), Spec{Args: []string{"sleep", "1000"}, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(context.Background(), syscall.SIGTERM, 20*time.Second); err != nil {
		t.Errorf("clean stop: %v", err)
	}
	if ws := p.State().Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGTERM {
		t.Errorf("clean stop ended with %s", p.ExitDescription())
	}
	if err := p.Signal(syscall.SIGHUP); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit: %v", err)
	}

	p, sc := startWithOutput(t, s, helperSpec(t, "ignore-term"))
	if !sc.Scan() || sc.Text() != "ignoring" {
		t.Fatalf("helper not ready: %q %v", sc.Text(), sc.Err())
	}
	err = p.Stop(context.Background(), syscall.SIGTERM, 300*time.Millisecond)
	if !errors.Is(err, ErrKilled) {
		t.Errorf("stop of a TERM-ignoring child: %v, want ErrKilled", err)
	}
	if ws := p.State().Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Errorf("TERM-ignoring child ended with %s", p.ExitDescription())
	}

	// A group: the shell and its background child both get the signal.
	p, sc = startWithOutput(t, s, Spec{Args: []string{"/bin/sh", "-c", "sleep 1000 & echo $!; wait"}, Env: os.Environ()})
	if !sc.Scan() {
		t.Fatal(sc.Err())
	}
	child, _ := strconv.Atoi(sc.Text())
	if err := p.Stop(context.Background(), syscall.SIGTERM, 20*time.Second); err != nil {
		t.Errorf("group stop: %v", err)
	}
	testutil.Eventually(t, "background child of the group gone", 20*time.Second, func() bool { return !procfs.Alive(child) })

	// A straggler that outlives the leader is waited for; once it is dead
	// Stop returns without waiting for the timeout, even though its zombie
	// stays: as subreaper without a reaper running, the test process
	// inherits it and does not reap it until the end of the test.
	if err := SetSubreaper(); err != nil {
		t.Fatal(err)
	}
	p, sc = startWithOutput(t, s, helperSpec(t, "straggler"))
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "straggler=") {
		t.Fatalf("straggler helper: %q %v", sc.Text(), sc.Err())
	}
	straggler, _ := strconv.Atoi(strings.TrimPrefix(sc.Text(), "straggler="))
	defer func() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(straggler, &ws, 0, nil)
	}()
	if err := p.Stop(context.Background(), syscall.SIGTERM, 20*time.Second); err != nil {
		t.Errorf("stop with a straggler: %v, want a clean stop once it has exited", err)
	}
	if procfs.Alive(straggler) {
		t.Errorf("Stop returned while the straggler %d still runs", straggler)
	}
}

// TestReaperTakesOrphansOnly: with the test process as subreaper, a
// grandchild left behind is reaped, while the exit statuses of the
// Spawner's own children still reach os/exec (the reaper polls every
// millisecond to make a mistake likely).
func TestReaperTakesOrphansOnly(t *testing.T) {
	if err := SetSubreaper(); err != nil {
		t.Fatal(err)
	}
	s, _ := runSpawner(t, SpawnerOptions{Shim: testBinary(t), ReapOrphans: true, ReapInterval: time.Millisecond, Logger: zerolog.Nop()})

	p, sc := startWithOutput(t, s, helperSpec(t, "orphan"))
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "orphan=") {
		t.Fatalf("orphan helper: %q %v", sc.Text(), sc.Err())
	}
	orphan, _ := strconv.Atoi(strings.TrimPrefix(sc.Text(), "orphan="))
	waitDone(t, p, "orphan helper")
	testutil.Eventually(t, "orphan reparented to us and reaped", 20*time.Second, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan))
		return os.IsNotExist(err)
	})

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.Start(context.Background(), Spec{Args: []string{"/bin/sh", "-c", "exit 3"}, Env: os.Environ()})
			if err != nil {
				errs <- err
				return
			}
			<-p.Done()
			if p.State() == nil || p.State().ExitCode() != 3 {
				errs <- fmt.Errorf("pid %d: status lost: %s", p.Pid(), p.ExitDescription())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	s, _ := runSpawner(t, SpawnerOptions{})
	status := func(spec Spec) string {
		t.Helper()
		spec.Args = []string{"/bin/sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr '\\t\\n' '  '"}
		spec.Env = os.Environ()
		p, sc := startWithOutput(t, s, spec)
		sc.Scan()
		waitDone(t, p, "id")
		return strings.Join(strings.Fields(sc.Text()), " ")
	}
	for _, c := range []struct {
		user, group, want string
	}{
		{"nobody", "", "Uid: 65534 65534 65534 65534 Gid: 65534 65534 65534 65534"},
		{"65534", "", "Uid: 65534 65534 65534 65534"},
		{"nobody", "0", "Uid: 65534 65534 65534 65534 Gid: 0 0 0 0"},
		{"", "65534", "Uid: 0 0 0 0 Gid: 65534 65534 65534 65534 Groups:"},
	} {
		got := status(Spec{User: c.user, Group: c.group})
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("user %q group %q: %q, want prefix %q", c.user, c.group, got, c.want)
		}
	}
	if _, err := s.Start(context.Background(), Spec{Args: []string{"/bin/true"}, User: "dewy-no-such-user"}); err == nil || !strings.Contains(err.Error(), "dewy-no-such-user") {
		t.Errorf("unknown user: %v", err)
	}
}

func TestLogRotationAndReopen(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.log")
	l, err := OpenLog(plan.Output{File: f, MaxSize: 100, Keep: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes: two fit in 100
	for i := 0; i < 9; i++ {
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	// 9 lines, 2 per file: f.2 (older), f.1, f (1 line); older ones dropped.
	for _, c := range []struct {
		name string
		size int64
	}{{"app.log", 40}, {"app.log.1", 80}, {"app.log.2", 80}} {
		fi, err := os.Stat(filepath.Join(dir, c.name))
		if err != nil || fi.Size() != c.size {
			t.Errorf("%s: %v size %d, want %d", c.name, err, sizeOf(fi), c.size)
		}
	}
	if _, err := os.Stat(f + ".3"); !os.IsNotExist(err) {
		t.Errorf("app.log.3 kept: %v", err)
	}
	// logrotate moves the file; Reopen starts a new one.
	if err := os.Rename(f, f+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("after reopen\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); string(b) != "after reopen\n" {
		t.Errorf("after Reopen the file holds %q", b)
	}
	if b, _ := os.ReadFile(f + ".moved"); len(b) != 40 {
		t.Errorf("the moved file was written to after Reopen: %d bytes", len(b))
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return -1
	}
	return fi.Size()
}

// TestProcessOutputToLog: stdout and stderr of a child both land in the
// Log, whole lines, and Done waits for the copy.
func TestProcessOutputToLog(t *testing.T) {
	s, _ := runSpawner(t, SpawnerOptions{})
	f := filepath.Join(t.TempDir(), "out.log")
	l, err := OpenLog(plan.Output{File: f, MaxSize: 4 << 10, Keep: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	spec := helperSpec(t, "write", "LINES=400")
	spec.Log = l
	p, err := s.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, "writer")
	seen := map[string]bool{}
	files, _ := filepath.Glob(f + "*")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 4<<10 {
			t.Errorf("%s is %d bytes, over MaxSize", name, len(b))
		}
		for _, ln := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			seen[ln] = true
		}
	}
	for i := 0; i < 400; i++ {
		want := fmt.Sprintf("out line %04d", i)
		if i%2 == 1 {
			want = fmt.Sprintf("err line %04d", i)
		}
		if !seen[want] {
			t.Fatalf("line %q missing from %d files", want, len(files))
		}
	}
}

// TestNoFDLeak: starting and reaping processes with output pipes leaves no
// descriptor behind.
func TestNoFDLeak(t *testing.T) {
	s, _ := runSpawner(t, SpawnerOptions{})
	l, err := OpenLog(plan.Output{File: filepath.Join(t.TempDir(), "x.log")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	run := func() {
		p, err := s.Start(context.Background(), Spec{Args: []string{"/bin/sh", "-c", "echo hi"}, Env: os.Environ(), Log: l})
		if err != nil {
			t.Fatal(err)
		}
		waitDone(t, p, "echo")
	}
	run() // warm up whatever the runtime opens once
	before := countFDs(t)
	for i := 0; i < 20; i++ {
		run()
	}
	if after := countFDs(t); after != before {
		t.Errorf("open descriptors: %d before, %d after", before, after)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestChildPIDs: both ways of listing this process's children find one.
func TestChildPIDs(t *testing.T) {
	c := exec.Command("sleep", "10")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	for name, list := range map[string]func() []int{"task children files": childPIDs, "/proc scan": childPIDsByScan} {
		found := false
		for _, pid := range list() {
			found = found || pid == c.Process.Pid
		}
		if !found {
			t.Errorf("%s: child %d not listed", name, c.Process.Pid)
		}
	}
}

// TestReaperWakesOnSIGCHLD: with ChildSignals the reaper needs no polling:
// the periodic scan is an hour away, and an orphan that exits after its
// parent is still reaped, woken by its SIGCHLD.
func TestReaperWakesOnSIGCHLD(t *testing.T) {
	if err := SetSubreaper(); err != nil {
		t.Fatal(err)
	}
	chld := make(chan os.Signal, 1)
	signal.Notify(chld, syscall.SIGCHLD)
	defer signal.Stop(chld)
	s, _ := runSpawner(t, SpawnerOptions{Shim: testBinary(t), ReapOrphans: true, ChildSignals: chld, ReapInterval: time.Hour, Logger: zerolog.Nop()})

	p, sc := startWithOutput(t, s, helperSpec(t, "orphan"))
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "orphan=") {
		t.Fatalf("orphan helper: %q %v", sc.Text(), sc.Err())
	}
	orphan, _ := strconv.Atoi(strings.TrimPrefix(sc.Text(), "orphan="))
	waitDone(t, p, "orphan helper")
	testutil.Eventually(t, "the orphan reaped on its SIGCHLD", 20*time.Second, func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan))
		return os.IsNotExist(err)
	})
}

// TestChildDiesWhenSpawnerStopsOnMainThread: Run called from the main
// thread (which Go never lets exit) still ends its children on return.
func TestChildDiesWhenSpawnerStopsOnMainThread(t *testing.T) {
	s := NewSpawner(SpawnerOptions{Shim: testBinary(t)})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() {
		mainThread <- func() {
			if unix.Gettid() != unix.Getpid() {
				ran <- fmt.Errorf("the test's main-thread runner is not on the main thread")
				return
			}
			ran <- s.Run(ctx)
		}
	}()
	p, err := s.Start(context.Background(), Spec{Args: []string{"sleep", "1000"}, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(20 * time.Second):
		_ = p.Kill()
		t.Fatal("child still alive after Run, called on the main thread, returned")
	}
}
