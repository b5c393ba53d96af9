package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// modeAnchor is the Mode of the Server::Starter run: the same app, the same
// load and the same number of restarts under Perl's start_server, the
// long-standing tool that holds a socket across restarts (the anchor dewy
// is measured against).
const modeAnchor = "server-starter"

// start_server's lines on its stderr that the harness follows
// (Server/Starter.pm, 0.35). On SIGHUP it prints "received HUP, spawning a
// new worker", forks ("starting new worker <pid>"), sleeps --interval
// seconds, and if the worker still runs prints "new worker is now running,
// sending TERM to old workers:<pids>" and "killing old workers", then
// reaps the old one: "old worker <pid> died, status:<wait status>". A
// worker that exited within the interval: "new worker <pid> seems to have
// failed to start, exit status:<s>", and it forks another.
var (
	ssStarting    = regexp.MustCompile(`^starting new worker (\d+)$`)
	ssFailedStart = regexp.MustCompile(`^new worker (\d+) seems to have failed to start, exit status:(-?\d+)`)
	ssOldDied     = regexp.MustCompile(`^old worker (\d+) died, status:(-?\d+)`)
	ssDiedUnexp   = regexp.MustCompile(`^worker (\d+) died unexpectedly with status:(-?\d+)`)
)

// The list of old pids follows in a second write, which another process's
// line may come between: only the prefix is relied on.
const ssRunning = "new worker is now running, sending "

type ssKind uint8

const (
	ssEvStarting ssKind = iota
	ssEvFailedStart
	ssEvRunning
	ssEvOldDied
	ssEvDiedUnexp
)

// ssEvent is one start_server line the harness follows, stamped with when
// the harness read it.
type ssEvent struct {
	at     time.Duration
	kind   ssKind
	pid    int
	status string
	raw    string
}

func parseStarterLine(s string) (ssEvent, bool) {
	atoi := func(x string) int { n, _ := strconv.Atoi(x); return n }
	if m := ssStarting.FindStringSubmatch(s); m != nil {
		return ssEvent{kind: ssEvStarting, pid: atoi(m[1]), raw: s}, true
	}
	if m := ssFailedStart.FindStringSubmatch(s); m != nil {
		return ssEvent{kind: ssEvFailedStart, pid: atoi(m[1]), status: m[2], raw: s}, true
	}
	if strings.HasPrefix(s, ssRunning) {
		return ssEvent{kind: ssEvRunning, raw: s}, true
	}
	if m := ssOldDied.FindStringSubmatch(s); m != nil {
		return ssEvent{kind: ssEvOldDied, pid: atoi(m[1]), status: m[2], raw: s}, true
	}
	if m := ssDiedUnexp.FindStringSubmatch(s); m != nil {
		return ssEvent{kind: ssEvDiedUnexp, pid: atoi(m[1]), status: m[2], raw: s}, true
	}
	return ssEvent{}, false
}

// anchorProc is the running start_server and what it has printed.
type anchorProc struct {
	cmd        *exec.Cmd
	pid        int
	dir        string
	t0         time.Time
	exited     chan struct{}
	waitErr    error
	readerDone chan struct{}

	mu       sync.Mutex
	events   []ssEvent
	notify   chan struct{}
	workers  []int // every worker start_server forked
	current  int   // the worker it forked last
	problems []string
	tail     []string
}

// starterEnviron is cleanEnviron without the variables start_server itself
// reads (they would change when it kills the old worker, or restart on a
// timer).
func starterEnviron() []string {
	var out []string
	for _, kv := range cleanEnviron() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "ENVDIR", "KILL_OLD_DELAY", "ENABLE_AUTO_RESTART", "AUTO_RESTART_INTERVAL":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func startAnchor(o Options, starter, app string, port int, dir string, t0 time.Time) (*anchorProc, error) {
	logFile, err := os.Create(filepath.Join(dir, "server-starter.log"))
	if err != nil {
		return nil, err
	}
	// The workers inherit start_server's stderr: the pipe closes only when
	// all of them are gone.
	pr, pw, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd := exec.Command(starter, "--port=127.0.0.1:"+strconv.Itoa(port), "--interval="+strconv.Itoa(o.AnchorInterval),
		"--", app, "-startup-delay", o.StartupDelay.String())
	cmd.Dir = dir
	cmd.Env = starterEnviron()
	cmd.Stdout = pw
	cmd.Stderr = pw
	// Its own process group, as dewy; if the harness dies, start_server
	// gets SIGTERM, which it passes to its workers before it exits.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", starter, err)
	}
	pw.Close()
	a := &anchorProc{
		cmd: cmd, pid: cmd.Process.Pid, dir: dir, t0: t0,
		exited: make(chan struct{}), readerDone: make(chan struct{}), notify: make(chan struct{}, 1),
	}
	go func() {
		a.waitErr = cmd.Wait()
		close(a.exited)
	}()
	go a.read(pr, logFile)
	return a, nil
}

// read copies start_server's output (and its workers') to
// server-starter.log and keeps the lines it follows.
func (a *anchorProc) read(pr, logFile *os.File) {
	defer close(a.readerDone)
	defer pr.Close()
	defer logFile.Close()
	w := bufio.NewWriter(logFile)
	defer w.Flush()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		raw := sc.Text()
		at := time.Since(a.t0)
		fmt.Fprintf(w, "%10.3f %s\n", at.Seconds(), raw)
		ev, ok := parseStarterLine(raw)
		a.mu.Lock()
		a.tail = append(a.tail, raw)
		if len(a.tail) > 20 {
			a.tail = a.tail[1:]
		}
		if ok {
			ev.at = at
			a.events = append(a.events, ev)
			switch ev.kind {
			case ssEvStarting:
				a.workers = append(a.workers, ev.pid)
				a.current = ev.pid
			case ssEvFailedStart, ssEvDiedUnexp:
				if len(a.problems) < 50 {
					a.problems = append(a.problems, fmt.Sprintf("+%.3fs start_server: %s", at.Seconds(), raw))
				}
			case ssEvOldDied:
				if ev.status != "0" && len(a.problems) < 50 {
					a.problems = append(a.problems, fmt.Sprintf("+%.3fs start_server: %s (not a clean exit)", at.Seconds(), raw))
				}
			}
		}
		a.mu.Unlock()
		if ok {
			select {
			case a.notify <- struct{}{}:
			default:
			}
		}
	}
	_, _ = io.Copy(w, pr)
}

func (a *anchorProc) alive() error {
	select {
	case <-a.exited:
		return fmt.Errorf("start_server exited (%v); its last output:\n  %s", a.waitErr, strings.Join(a.lastOutput(), "\n  "))
	default:
		return nil
	}
}

func (a *anchorProc) lastOutput() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tail...)
}

func (a *anchorProc) snapshot(from int) ([]ssEvent, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ssEvent(nil), a.events[from:]...), len(a.events)
}

// position is the number of events so far and the worker forked last.
func (a *anchorProc) position() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.events), a.current
}

// restarter returns the restart of the Server::Starter run: SIGHUP to
// start_server; the restart is over when the old worker has exited
// ("old worker <pid> died", after "new worker is now running") and the new
// worker has answered a request. Its window ends at the later of the two.
func (a *anchorProc) restarter(o Options, track *tracker, r *RunReport) restarter {
	return func(ctx context.Context, i int) (restart, error) {
		cursor, old := a.position()
		rs := restart{OldKey: int64(old)}
		rs.Signal = time.Since(a.t0)
		if err := syscall.Kill(a.pid, syscall.SIGHUP); err != nil {
			return rs, fmt.Errorf("restart %d: SIGHUP to start_server: %w", i, err)
		}
		deadline := time.NewTimer(o.RestartTimeout)
		defer deadline.Stop()
		running, oldGone := false, false
		for !running || !oldGone {
			var evs []ssEvent
			evs, cursor = a.snapshot(cursor)
			for _, e := range evs {
				switch e.kind {
				case ssEvStarting:
					if e.pid != old {
						rs.NewKey, rs.NewPid = int64(e.pid), e.pid
					}
				case ssEvFailedStart:
					r.Notes = append(r.Notes, fmt.Sprintf("restart %d: new worker %d failed to start (exit status %s); start_server forked another", i, e.pid, e.status))
				case ssEvRunning:
					running = rs.NewKey != 0
				case ssEvOldDied:
					if e.pid == old {
						oldGone, rs.End = true, e.at
					}
				case ssEvDiedUnexp:
					if e.pid == old {
						// start_server forks a replacement at once: not a
						// graceful restart any more.
						oldGone, rs.End = true, e.at
						rs.Failed = fmt.Sprintf("old worker %d died unexpectedly (status %s) during the restart", e.pid, e.status)
					}
				}
			}
			if running && oldGone {
				break
			}
			select {
			case <-a.notify:
			case <-a.exited:
				return rs, a.alive()
			case <-ctx.Done():
				return rs, ctx.Err()
			case <-deadline.C:
				return rs, fmt.Errorf("restart %d: start_server did not report the new worker running (%v) and the old worker %d gone (%v) within %s of SIGHUP; last output:\n  %s",
					i, running, old, oldGone, o.RestartTimeout, strings.Join(a.lastOutput(), "\n  "))
			}
		}
		if rs.Failed != "" {
			return rs, nil
		}
		select {
		case <-track.wait(rs.NewKey):
			if f, ok := track.firstSeen(rs.NewKey); ok && f > rs.End {
				rs.Unserved, rs.End = f-rs.End, f
			}
		case <-ctx.Done():
			return rs, ctx.Err()
		case <-deadline.C:
			rs.Failed = fmt.Sprintf("worker %d served no request within %s of SIGHUP", rs.NewKey, o.RestartTimeout)
			rs.End = time.Since(a.t0)
		}
		return rs, nil
	}
}

// stop sends start_server SIGTERM (it sends its workers TERM and waits for
// them), waits for it and checks that no worker is left.
func (a *anchorProc) stop(timeout time.Duration) error {
	var errs []error
	select {
	case <-a.exited:
		errs = append(errs, fmt.Errorf("start_server had already exited: %v", a.waitErr))
	default:
		_ = syscall.Kill(a.pid, syscall.SIGTERM)
		select {
		case <-a.exited:
			if a.waitErr != nil {
				errs = append(errs, fmt.Errorf("start_server exited after SIGTERM with %v", a.waitErr))
			}
		case <-time.After(timeout):
			_ = syscall.Kill(-a.pid, syscall.SIGKILL)
			<-a.exited
			errs = append(errs, fmt.Errorf("start_server did not exit within %s of SIGTERM; killed", timeout))
		}
	}
	a.mu.Lock()
	pids := append([]int(nil), a.workers...)
	a.mu.Unlock()
	if left := waitGone(pids, a.dir, 3*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("workers %v still ran after start_server exited; killed them", left))
	}
	select {
	case <-a.readerDone:
	case <-time.After(3 * time.Second):
		errs = append(errs, errors.New("start_server's stderr stayed open after it exited: some process still holds it"))
	}
	return errors.Join(errs...)
}

// runAnchor is the Server::Starter run: start_server binds the port and
// passes it to httpserver in SERVER_STARTER_PORT; each restart is SIGHUP.
func runAnchor(ctx context.Context, o Options, bins binaries, starter, dir string) (*RunReport, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	a, err := startAnchor(o, starter, bins.app, port, dir, t0)
	if err != nil {
		return nil, err
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		return a.stop(20 * time.Second)
	}
	defer stop()
	o.logf("start_server pid %d serving 127.0.0.1:%d; waiting for its worker to answer", a.pid, port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitServing(ctx, base+"/", 30*time.Second, a.alive); err != nil {
		return nil, errors.Join(err, stop())
	}
	// The first worker answered, so start_server printed its pid before;
	// the reader may lag a little behind.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, cur := a.position(); cur != 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("start_server printed no %q line; its output:\n  %s", "starting new worker <pid>", strings.Join(a.lastOutput(), "\n  ")), stop())
		}
	}

	// start_server sleeps --interval after forking the first worker too; a
	// SIGHUP in that sleep would cut it short. The warm-up usually covers it.
	var firstAt time.Duration
	a.mu.Lock()
	for _, e := range a.events {
		if e.kind == ssEvStarting {
			firstAt = e.at
			break
		}
	}
	a.mu.Unlock()
	if d := firstAt + time.Duration(o.AnchorInterval)*time.Second + 100*time.Millisecond - time.Since(t0) - o.Warmup; d > 0 {
		o.logf("waiting %s for start_server's first --interval to pass", d.Round(time.Millisecond))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), stop())
		}
	}

	r := &RunReport{Mode: modeAnchor}
	l, err := newLoad(o, base, t0, func(pid, _ int) int64 { return int64(pid) })
	if err != nil {
		return nil, errors.Join(err, stop())
	}
	derr := drive(ctx, o, r, l, a.restarter(o, l.track, r), a.pid)
	oi := o
	if derr != nil {
		oi.Idle = 0 // RSS only
	} else if o.Idle > 0 {
		o.logf("load stopped; measuring start_server idle for %s", o.Idle)
	}
	measureIdle(ctx, oi, r.Supervisor)

	o.logf("stopping start_server (SIGTERM) and checking that no worker is left")
	serr := stop()
	a.mu.Lock()
	r.Notes = append(r.Notes, a.problems...)
	a.mu.Unlock()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, errors.Join(derr, serr)
}
