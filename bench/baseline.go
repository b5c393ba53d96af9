package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// appProc is one httpserver the baseline runs directly: it binds the port
// itself (-addr), as any app restarted by stop-and-start does.
type appProc struct {
	cmd     *exec.Cmd
	pid     int
	exited  chan struct{}
	waitErr error
}

func startApp(bin string, port int, o Options, out io.Writer) (*appProc, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:"+strconv.Itoa(port), "-startup-delay", o.StartupDelay.String())
	cmd.Env = cleanEnviron()
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so a Ctrl-C reaches only the harness, and
	// killed with the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	a := &appProc{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	go func() {
		a.waitErr = cmd.Wait()
		close(a.exited)
	}()
	return a, nil
}

func (a *appProc) alive() error {
	select {
	case <-a.exited:
		return fmt.Errorf("httpserver pid %d exited: %v", a.pid, a.waitErr)
	default:
		return nil
	}
}

// stop sends SIGTERM and waits up to timeout, then SIGKILL. It reports
// whether the process exited within the timeout.
func (a *appProc) stop(timeout time.Duration) bool {
	select {
	case <-a.exited:
		return true
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		return true
	case <-time.After(timeout):
		_ = syscall.Kill(-a.pid, syscall.SIGKILL)
		<-a.exited
		return false
	}
}

// runBaseline is the stop-and-start run: for each restart the harness
// sends SIGTERM, waits for the exit, and starts a new process, which binds
// the port itself.
func runBaseline(ctx context.Context, o Options, bins binaries, dir string) (*RunReport, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "baseline-app.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	t0 := time.Now()
	cur, err := startApp(bins.app, port, o, logFile)
	if err != nil {
		return nil, err
	}
	var pids []int
	pids = append(pids, cur.pid)
	defer func() {
		cur.stop(10 * time.Second)
		waitGone(pids, dir, 3*time.Second)
	}()
	o.logf("httpserver pid %d on 127.0.0.1:%d; waiting for it to answer", cur.pid, port)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitServing(ctx, base+"/", 30*time.Second, cur.alive); err != nil {
		return nil, err
	}

	r := &RunReport{Mode: "baseline"}
	l, err := newLoad(o, base, t0, func(pid, _ int) int64 { return int64(pid) })
	if err != nil {
		return nil, err
	}
	do := func(ctx context.Context, i int) (restart, error) {
		rs := restart{OldKey: int64(cur.pid), Signal: time.Since(t0)}
		if !cur.stop(o.RestartTimeout) {
			r.Notes = append(r.Notes, fmt.Sprintf("restart %d: pid %d did not exit within %s of SIGTERM; killed", i, cur.pid, o.RestartTimeout))
		}
		next, err := startApp(bins.app, port, o, logFile)
		if err != nil {
			return rs, err
		}
		cur = next
		pids = append(pids, cur.pid)
		rs.NewKey, rs.NewPid = int64(cur.pid), cur.pid
		deadline := time.NewTimer(o.RestartTimeout)
		defer deadline.Stop()
		select {
		case <-l.track.wait(rs.NewKey):
			rs.End, _ = l.track.firstSeen(rs.NewKey)
		case <-cur.exited:
			return rs, fmt.Errorf("restart %d: %w (see baseline-app.log, -keep)", i, cur.alive())
		case <-ctx.Done():
			return rs, ctx.Err()
		case <-deadline.C:
			return rs, fmt.Errorf("restart %d: pid %d served no request within %s", i, cur.pid, o.RestartTimeout)
		}
		return rs, nil
	}
	derr := drive(ctx, o, r, l, do, 0)
	o.logf("stopping the last httpserver (SIGTERM)")
	if !cur.stop(10 * time.Second) {
		r.Notes = append(r.Notes, fmt.Sprintf("the last httpserver (pid %d) did not exit within 10s of SIGTERM; killed", cur.pid))
	}
	if left := waitGone(pids, dir, 3*time.Second); len(left) > 0 {
		derr = errors.Join(derr, fmt.Errorf("httpserver processes %v still ran; killed them", left))
	}
	return r, derr
}
