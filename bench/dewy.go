package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The dewy log messages the harness follows (engine/supervisor and
// engine/engine.go).
const (
	msgNewGenBeside  = "restart: new generation started beside the old one; waiting until it is ready"
	msgNewGenNoOld   = "restart: no worker was running; new generation started"
	msgGenStarted    = "generation started"
	msgGenReady      = "generation ready"
	msgNewGenReady   = "new generation ready"
	msgRestartDone   = "restart complete"
	msgRestartFailed = "restart failed"
)

// writeConfig writes the dewy config of the run and returns its path.
func writeConfig(dir, app string, port int, o Options) (string, error) {
	cfg := fmt.Sprintf(`# Written by dewy's bench harness.
app "bench" {
  command = [%q, "-startup-delay", %q]
  listen  = ["127.0.0.1:%d"]
  %s
  stop {
    signal  = "TERM"
    timeout = "10s"
  }
}
`, app, o.StartupDelay.String(), port, readyBlock(o, port))
	path := filepath.Join(dir, "dewy.hcl")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// readyBlock is the app's ready block for -ready: "http" probes the
// per-generation readiness socket, "http-held" and "tcp-held" probe the
// held address the clients use (which the old generation may answer, or
// dewy's own held socket accept), "delay" waits -ready-delay.
func readyBlock(o Options, port int) string {
	held := "127.0.0.1:" + strconv.Itoa(port)
	switch o.Ready {
	case "http-held":
		return fmt.Sprintf(`ready {
    http     = %q
    timeout  = "30s"
  }`, "http://"+held+"/healthz")
	case "tcp-held":
		return fmt.Sprintf(`ready {
    tcp      = %q
    timeout  = "30s"
  }`, held)
	case "delay":
		return fmt.Sprintf(`ready {
    delay = %q
  }`, o.ReadyDelay.String())
	}
	return `ready {
    http     = "/healthz"
    timeout  = "30s"
  }`
}

// logLine is one JSON line of dewy's log, stamped with when the harness
// read it (the log's own time has a resolution of one second).
type logLine struct {
	at         time.Duration
	raw        string
	Level      string `json:"level"`
	Message    string `json:"message"`
	Generation int    `json:"generation"`
	Pid        int    `json:"pid"`
	Error      string `json:"error"`
}

// dewyProc is the running dewy and what it has logged.
type dewyProc struct {
	cmd        *exec.Cmd
	pid        int
	dir        string
	t0         time.Time
	exited     chan struct{}
	waitErr    error
	readerDone chan struct{}

	mu       sync.Mutex
	lines    []logLine
	notify   chan struct{}
	appPids  map[int]bool
	current  int // generation that last became ready
	problems []string
	tail     []string // the last lines of output, JSON or not
}

func startDewy(o Options, bin, cfg, dir string, t0 time.Time) (*dewyProc, error) {
	logFile, err := os.Create(filepath.Join(dir, "dewy.log"))
	if err != nil {
		return nil, err
	}
	// The apps inherit dewy's stderr, so the pipe closes only when dewy and
	// every app are gone: the reader never waits on exec's Wait.
	pr, pw, err := os.Pipe()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	cmd := exec.Command(bin, "-c", cfg, "--log-format", "json", "--log-level", o.LogLevel, "--state-dir", filepath.Join(dir, "state"), "--admin-socket", filepath.Join(dir, "dewy.sock"))
	cmd.Dir = dir
	cmd.Env = cleanEnviron()
	cmd.Stdout = pw
	cmd.Stderr = pw
	// Its own process group: a Ctrl-C at the terminal reaches the harness
	// only, which then stops dewy with one SIGTERM. If the harness dies,
	// dewy gets SIGTERM and stops its apps.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		logFile.Close()
		return nil, fmt.Errorf("start dewy: %w", err)
	}
	pw.Close()
	d := &dewyProc{
		cmd: cmd, pid: cmd.Process.Pid, dir: dir, t0: t0,
		exited: make(chan struct{}), readerDone: make(chan struct{}),
		notify: make(chan struct{}, 1), appPids: map[int]bool{},
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	go d.read(pr, logFile)
	return d, nil
}

// read copies dewy's output (and the apps') to dewy.log and keeps dewy's
// JSON lines.
func (d *dewyProc) read(pr *os.File, logFile *os.File) {
	defer close(d.readerDone)
	defer pr.Close()
	defer logFile.Close()
	w := bufio.NewWriter(logFile)
	defer w.Flush()
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		raw := sc.Text()
		at := time.Since(d.t0)
		fmt.Fprintf(w, "%10.3f %s\n", at.Seconds(), raw)
		d.mu.Lock()
		d.tail = append(d.tail, raw)
		if len(d.tail) > 20 {
			d.tail = d.tail[1:]
		}
		d.mu.Unlock()
		if !strings.HasPrefix(raw, "{") {
			continue // the app's own log
		}
		var l logLine
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			continue
		}
		l.at, l.raw = at, raw
		d.mu.Lock()
		d.lines = append(d.lines, l)
		if l.Generation > 0 && l.Pid > 0 {
			d.appPids[l.Pid] = true
		}
		if l.Message == msgGenReady || l.Message == msgNewGenReady {
			d.current = l.Generation
		}
		if (l.Level == "warn" || l.Level == "error" || l.Level == "fatal" || l.Level == "panic") && len(d.problems) < 50 {
			d.problems = append(d.problems, fmt.Sprintf("+%.3fs %s", at.Seconds(), raw))
		}
		d.mu.Unlock()
		select {
		case d.notify <- struct{}{}:
		default:
		}
	}
	// A line beyond the scanner's limit ends the scan: keep draining, so
	// dewy and the apps never block on a full pipe.
	_, _ = io.Copy(w, pr)
}

func (d *dewyProc) alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("dewy exited (%v); its last output:\n  %s", d.waitErr, strings.Join(d.lastOutput(), "\n  "))
	default:
		return nil
	}
}

func (d *dewyProc) lastOutput() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.tail...)
}

func (d *dewyProc) snapshot(from int) ([]logLine, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]logLine(nil), d.lines[from:]...), len(d.lines)
}

// position is the number of JSON lines read so far and the generation
// that last became ready.
func (d *dewyProc) position() (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lines), d.current
}

// restarter returns the restart of the dewy run: SIGUSR1, then the log
// says which generation started and when the restart completed (after the
// old generation exited), then the new generation must answer a request.
// The restart's window ends at the later of the two.
func (d *dewyProc) restarter(o Options, track *tracker) restarter {
	return func(ctx context.Context, i int) (restart, error) {
		cursor, cur := d.position()
		rs := restart{OldKey: int64(cur)}
		rs.Signal = time.Since(d.t0)
		if err := syscall.Kill(d.pid, syscall.SIGUSR1); err != nil {
			return rs, fmt.Errorf("restart %d: SIGUSR1 to dewy: %w", i, err)
		}
		deadline := time.NewTimer(o.RestartTimeout)
		defer deadline.Stop()
		for done := false; !done; {
			var lines []logLine
			lines, cursor = d.snapshot(cursor)
			for _, l := range lines {
				switch {
				case (l.Message == msgNewGenBeside || l.Message == msgNewGenNoOld) && int64(l.Generation) > rs.OldKey:
					rs.NewKey, rs.NewPid = int64(l.Generation), l.Pid
				case l.Message == msgRestartDone && rs.NewKey != 0:
					rs.End, done = l.at, true
				case l.Message == msgRestartFailed:
					rs.End, rs.Failed, done = l.at, "dewy: "+l.Error, true
				}
				if done {
					break
				}
			}
			if done {
				break
			}
			select {
			case <-d.notify:
			case <-d.exited:
				return rs, d.alive()
			case <-ctx.Done():
				return rs, ctx.Err()
			case <-deadline.C:
				return rs, fmt.Errorf("restart %d: no %q in dewy's log within %s of SIGUSR1 (new generation %d); last output:\n  %s",
					i, msgRestartDone, o.RestartTimeout, rs.NewKey, strings.Join(d.lastOutput(), "\n  "))
			}
		}
		if rs.Failed != "" {
			return rs, nil
		}
		// The log says the new generation is ready and the old one gone;
		// the restart counts once the new one has served a request.
		select {
		case <-track.wait(rs.NewKey):
			// The window lasts until the new generation serves, also when
			// dewy called the restart complete before (a readiness check
			// the old generation or the held socket itself passed).
			if f, ok := track.firstSeen(rs.NewKey); ok && f > rs.End {
				rs.Unserved, rs.End = f-rs.End, f
			}
		case <-ctx.Done():
			return rs, ctx.Err()
		case <-deadline.C:
			rs.Failed = fmt.Sprintf("generation %d served no request within %s of SIGUSR1", rs.NewKey, o.RestartTimeout)
			rs.End = time.Since(d.t0)
		}
		return rs, nil
	}
}

// stop sends dewy SIGTERM, waits for it and checks that no app is left.
func (d *dewyProc) stop(timeout time.Duration) error {
	var errs []error
	select {
	case <-d.exited:
		errs = append(errs, fmt.Errorf("dewy had already exited: %v", d.waitErr))
	default:
		_ = syscall.Kill(d.pid, syscall.SIGTERM)
		select {
		case <-d.exited:
			if d.waitErr != nil {
				errs = append(errs, fmt.Errorf("dewy exited after SIGTERM with %v", d.waitErr))
			}
		case <-time.After(timeout):
			_ = syscall.Kill(-d.pid, syscall.SIGKILL)
			<-d.exited
			errs = append(errs, fmt.Errorf("dewy did not exit within %s of SIGTERM; killed", timeout))
		}
	}
	d.mu.Lock()
	var pids []int
	for p := range d.appPids {
		pids = append(pids, p)
	}
	d.mu.Unlock()
	if left := waitGone(pids, d.dir, 3*time.Second); len(left) > 0 {
		errs = append(errs, fmt.Errorf("app processes %v still ran after dewy exited; killed them", left))
	}
	select {
	case <-d.readerDone:
	case <-time.After(3 * time.Second):
		errs = append(errs, errors.New("dewy's stderr stayed open after dewy exited: some process still holds it"))
	}
	return errors.Join(errs...)
}

// runDewy is the dewy run.
func runDewy(ctx context.Context, o Options, bins binaries, dir string) (*RunReport, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg, err := writeConfig(dir, bins.app, port, o)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	d, err := startDewy(o, bins.dewy, cfg, dir, t0)
	if err != nil {
		return nil, err
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		return d.stop(20 * time.Second)
	}
	defer stop()
	o.logf("dewy pid %d serving 127.0.0.1:%d; waiting for it to answer", d.pid, port)

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitServing(ctx, base+"/", 30*time.Second, d.alive); err != nil {
		return nil, errors.Join(err, stop())
	}
	r := &RunReport{Mode: "dewy"}
	l, err := newLoad(o, base, t0, func(_, gen int) int64 { return int64(gen) })
	if err != nil {
		return nil, errors.Join(err, stop())
	}
	derr := drive(ctx, o, r, l, d.restarter(o, l.track), d.pid)
	oi := o
	if derr != nil {
		oi.Idle = 0 // RSS only
	} else if o.Idle > 0 {
		o.logf("load stopped; measuring dewy idle for %s", o.Idle)
	}
	measureIdle(ctx, oi, r.Supervisor)

	o.logf("stopping dewy (SIGTERM) and checking that no app is left")
	serr := stop()
	d.mu.Lock()
	r.LogProblems = append(r.LogProblems, d.problems...)
	d.mu.Unlock()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, errors.Join(derr, serr)
}
