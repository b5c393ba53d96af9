package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options configure one invocation of the harness.
type Options struct {
	Restarts       int
	Clients        int
	StartupDelay   time.Duration
	Ready          string // "http", "http-held", "tcp-held" or "delay"
	ReadyDelay     time.Duration
	Sleep          time.Duration
	Think          time.Duration
	Timeout        time.Duration
	Pause          time.Duration
	Warmup         time.Duration
	Cooldown       time.Duration
	Idle           time.Duration
	RestartTimeout time.Duration
	MaxDuration    time.Duration
	MaxRequests    int64
	Baseline       bool
	Anchor         bool // the Server::Starter run, when start_server is on PATH
	AnchorInterval int  // start_server --interval, in seconds
	Steady         time.Duration
	LogLevel       string
	JSON           bool
	Keep           bool
	Quiet          bool

	// Progress receives one line per phase and restart; nil is silent.
	Progress io.Writer
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{
		Restarts:       100,
		Clients:        32,
		StartupDelay:   300 * time.Millisecond,
		Ready:          "http",
		ReadyDelay:     time.Second,
		Think:          time.Millisecond,
		Timeout:        5 * time.Second,
		Pause:          200 * time.Millisecond,
		Warmup:         time.Second,
		Cooldown:       time.Second,
		Idle:           3 * time.Second,
		RestartTimeout: 30 * time.Second,
		MaxDuration:    10 * time.Minute,
		MaxRequests:    4_000_000,
		Baseline:       true,
		Anchor:         true,
		AnchorInterval: 1,
		Steady:         5 * time.Second,
		LogLevel:       "info",
	}
}

// readyModes are the values of -ready: the readiness check dewy is given.
var readyModes = []string{"http", "http-held", "tcp-held", "delay"}

func (o Options) check() error {
	switch {
	case o.Restarts < 0:
		return errors.New("-restarts must be 0 or more")
	case o.Clients < 1:
		return errors.New("-clients must be at least 1")
	case !slices.Contains(readyModes, o.Ready):
		return fmt.Errorf("-ready %q: want one of %s", o.Ready, strings.Join(readyModes, ", "))
	case o.AnchorInterval < 0:
		return errors.New("-anchor-interval must be 0 or more (whole seconds)")
	case o.Timeout <= 0 || o.RestartTimeout <= 0 || o.MaxDuration <= 0:
		return errors.New("-timeout, -restart-timeout and -max-duration must be positive")
	case o.MaxRequests < 1:
		return errors.New("-max-requests must be at least 1")
	case o.StartupDelay < 0 || o.ReadyDelay < 0 || o.Sleep < 0 || o.Think < 0 || o.Pause < 0 ||
		o.Warmup < 0 || o.Cooldown < 0 || o.Idle < 0 || o.Steady < 0:
		return errors.New("durations must not be negative")
	case o.Sleep > time.Minute:
		return errors.New("-sleep is capped at 1m by the app")
	}
	return nil
}

func (o Options) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
	}
}

// Run builds the binaries and runs the dewy run, with o.Baseline the
// baseline run, and with o.Anchor the Server::Starter run when start_server
// is on PATH. It returns the report of the runs that finished, also with
// an error. Everything it starts is stopped before it returns, also when
// ctx is cancelled.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dewy-bench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		defer o.logf("kept %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bins, err := build(ctx, o, dir)
	if err != nil {
		return nil, err
	}
	rep := newReport(o)
	var startServer string
	if o.Anchor {
		startServer, err = exec.LookPath("start_server")
		if err != nil {
			note := "Server::Starter run skipped: no start_server on PATH; install it with `apt-get install libserver-starter-perl` (Debian, Ubuntu) or `cpanm Server::Starter`"
			rep.Notes = append(rep.Notes, note)
			o.logf("%s", note)
		}
	}

	n := 1
	o.logf("run %d: dewy (graceful restart by SIGUSR1, ready=%s)", n, o.Ready)
	r, err := runDewy(ctx, o, bins, dir)
	if r != nil {
		rep.Runs = append(rep.Runs, r)
	}
	if err != nil {
		return rep, fmt.Errorf("dewy run: %w", err)
	}
	if o.Baseline {
		n++
		o.logf("run %d: baseline (SIGTERM, wait for exit, start a new process)", n)
		r, err := runBaseline(ctx, o, bins, dir)
		if r != nil {
			rep.Runs = append(rep.Runs, r)
		}
		if err != nil {
			return rep, fmt.Errorf("baseline run: %w", err)
		}
	}
	if startServer != "" {
		n++
		o.logf("run %d: Server::Starter (%s --interval=%d, restart by SIGHUP)", n, startServer, o.AnchorInterval)
		r, err := runAnchor(ctx, o, bins, startServer, dir)
		if r != nil {
			rep.Runs = append(rep.Runs, r)
		}
		if err != nil {
			return rep, fmt.Errorf("Server::Starter run: %w", err)
		}
	}
	return rep, nil
}

type binaries struct{ dewy, app string }

// build compiles dewy and the example app into dir with the go command
// found on PATH; the package paths work from anywhere inside the module.
func build(ctx context.Context, o Options, dir string) (binaries, error) {
	o.logf("building dewy and examples/apps/httpserver into %s", dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"github.com/dewyhq/dewy/cmd/dewy", "github.com/dewyhq/dewy/examples/apps/httpserver")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return binaries{}, fmt.Errorf("go build: %v\n%s", err, out)
	}
	o.logf("built in %s", time.Since(start).Round(time.Millisecond))
	return binaries{dewy: filepath.Join(dir, "dewy"), app: filepath.Join(dir, "httpserver")}, nil
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnviron is the harness's environment without the variables that
// would change what dewy or the app does: dewy's own settings and the
// socket-passing and notify protocols (the harness may itself run under a
// supervisor).
func cleanEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "DEWY_"), strings.HasPrefix(k, "LISTEN_"),
			strings.HasPrefix(k, "SERVER_STARTER_"), k == "NOTIFY_SOCKET":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// restart is one restart as the harness saw it; times are offsets from the
// run's start.
type restart struct {
	Signal time.Duration // signal sent
	End    time.Duration // restart complete (dewy) or new process first served (baseline)
	OldKey int64         // instance serving before: generation (dewy) or pid (baseline)
	NewKey int64         // instance serving after
	Failed string        // why the restart failed, "" when it worked
	NewPid int
	// Unserved: how long before the new instance's first response the
	// supervisor reported the restart over (dewy's "restart complete",
	// Server::Starter's "old worker ... died"): the old instance was gone
	// while the new one did not serve yet. End is then that first response.
	Unserved time.Duration
}

// restarter performs one restart and reports it; it returns an error only
// when the run cannot go on.
type restarter func(ctx context.Context, i int) (restart, error)

// drive runs the load and the restarts of one run and fills r with what it
// measured. It stops the load before it returns. supervisor is the pid of
// the process that holds the sockets and restarts the app (dewy,
// start_server), 0 when there is none (the baseline): drive then records
// its RSS and CPU under load, and its costs in the steady phase.
//
// The phases: -warmup, the restarts (each followed by -pause), -cooldown,
// then -steady: the same load, no restart, measured on its own.
func drive(ctx context.Context, o Options, r *RunReport, l *load, do restarter, supervisor int) error {
	runCtx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	defer cancel()
	var sw *supWatch
	if supervisor > 0 {
		sw = watchSupervisor(supervisor)
		r.Supervisor = sw.ps
		defer sw.stop()
	}
	l.start(runCtx)
	defer l.stop()
	// A restart gives up when the load stops by its request cap: without
	// load, no response can show the new instance.
	doCtx, doCancel := context.WithCancel(runCtx)
	defer doCancel()
	go func() {
		select {
		case <-l.capped:
			doCancel()
		case <-doCtx.Done():
		}
	}()

	var restarts []restart
	var err error
	stoppedBy := ""
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-runCtx.Done():
			return false
		case <-l.capped:
			return false
		}
	}
	warm := wait(o.Warmup)
	for i := 1; warm && i <= o.Restarts; i++ {
		rs, rerr := do(doCtx, i)
		if rerr != nil {
			if doCtx.Err() == nil {
				err = rerr
			}
			break
		}
		restarts = append(restarts, rs)
		if rs.Failed != "" {
			o.logf("%s restart %d/%d FAILED after %s: %s", r.Mode, i, o.Restarts, (rs.End - rs.Signal).Round(time.Millisecond), rs.Failed)
		} else if i == 1 || i == o.Restarts || i%10 == 0 || o.Restarts <= 20 {
			o.logf("%s restart %d/%d done in %s (%d -> %d); %d requests, %d failed so far",
				r.Mode, i, o.Restarts, (rs.End - rs.Signal).Round(time.Millisecond), rs.OldKey, rs.NewKey, l.count(), l.failed())
		}
		if i < o.Restarts && !wait(o.Pause) {
			break
		}
	}
	going := func() bool { return warm && err == nil && runCtx.Err() == nil && !isClosed(l.capped) }
	if going() {
		wait(o.Cooldown)
	}
	if sw != nil {
		sw.loadDone()
	}
	var steadyFrom, steadyTo time.Duration
	if going() && o.Steady > 0 {
		o.logf("%s: steady phase, %s of load without restarts", r.Mode, o.Steady)
		var st steadyStart
		if sw != nil {
			st = sw.steadyStart()
		}
		conns0, reqs0 := l.newConns.Load(), l.count()
		steadyFrom = l.since()
		full := wait(o.Steady)
		steadyTo = l.since()
		if full {
			sp := &SteadyPhase{
				Seconds:        (steadyTo - steadyFrom).Seconds(),
				Requests:       l.count() - reqs0,
				NewConnections: l.newConns.Load() - conns0,
			}
			r.Steady = sp
			if sw != nil {
				if serr := sw.steadyEnd(st, sp); serr != nil {
					r.Notes = append(r.Notes, "steady phase: "+serr.Error())
				}
			}
		} else {
			steadyFrom, steadyTo = 0, 0
		}
	}
	switch {
	case ctx.Err() != nil:
		stoppedBy = "interrupted"
	case runCtx.Err() != nil:
		stoppedBy = fmt.Sprintf("-max-duration %s reached", o.MaxDuration)
	case isClosed(l.capped):
		stoppedBy = fmt.Sprintf("-max-requests %d reached", o.MaxRequests)
	}
	l.stop()
	if sw != nil {
		sw.stop()
	}
	l.summarize(r, restarts, steadyFrom, steadyTo)
	if stoppedBy != "" {
		r.Notes = append(r.Notes, "load stopped early: "+stoppedBy)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// supWatch measures the supervisor of a run from /proc while the load
// runs: its RSS every 100ms, its CPU under load, its CPU and context
// switches in the steady phase.
type supWatch struct {
	ps      *ProcStats
	sampler *rssSampler
	cpu0    time.Duration
	w0      time.Time
	loaded  bool
}

func watchSupervisor(pid int) *supWatch {
	ps := &ProcStats{Pid: pid}
	ps.RSSStartKB, _ = readRSS(pid)
	cpu0, _ := readCPU(pid)
	return &supWatch{ps: ps, sampler: sampleRSS(pid, 100*time.Millisecond), cpu0: cpu0, w0: time.Now()}
}

// loadDone ends the CPU measurement under load (warm-up to cool-down, the
// restarts included).
func (s *supWatch) loadDone() {
	if s.loaded {
		return
	}
	s.loaded = true
	cpu1, _ := readCPU(s.ps.Pid)
	s.ps.LoadSeconds = time.Since(s.w0).Seconds()
	if s.ps.LoadSeconds > 0 {
		s.ps.CPULoadPct = 100 * (cpu1 - s.cpu0).Seconds() / s.ps.LoadSeconds
	}
}

// stop ends the RSS sampling (the steady phase included).
func (s *supWatch) stop() {
	if s.sampler == nil {
		return
	}
	s.ps.RSSLoadPeakKB, s.ps.RSSLoadMeanKB, s.ps.Samples = s.sampler.stop()
	s.sampler = nil
}

type steadyStart struct {
	cpu time.Duration
	sw  ctxSwitches
	err error
}

func (s *supWatch) steadyStart() steadyStart {
	var st steadyStart
	var err1, err2 error
	st.cpu, err1 = readCPU(s.ps.Pid)
	st.sw, err2 = readCtxSwitches(s.ps.Pid)
	st.err = errors.Join(err1, err2)
	return st
}

// steadyEnd fills the supervisor's steady figures of sp: CPU and context
// switches over the phase, per new connection the clients opened in it.
func (s *supWatch) steadyEnd(st steadyStart, sp *SteadyPhase) error {
	if st.err != nil {
		return st.err
	}
	cpu, err1 := readCPU(s.ps.Pid)
	sw, err2 := readCtxSwitches(s.ps.Pid)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	p := s.ps
	p.SteadyMeasured = true
	p.SteadyCPUSeconds = (cpu - st.cpu).Seconds()
	p.SteadyCPUPct = 100 * p.SteadyCPUSeconds / sp.Seconds
	p.SteadyVoluntary, p.SteadyNonvoluntary, p.SteadyThreadsExited = sw.since(st.sw)
	p.SteadyThreads = len(sw)
	wakeups := p.SteadyVoluntary + p.SteadyNonvoluntary
	p.SteadyWakeupsPerSec = float64(wakeups) / sp.Seconds
	if sp.NewConnections > 0 {
		p.SteadyWakeupsPerConn = float64(wakeups) / float64(sp.NewConnections)
		p.SteadyCPUMicrosPerConn = 1e6 * p.SteadyCPUSeconds / float64(sp.NewConnections)
	}
	if p.SteadyThreadsExited > 0 {
		return fmt.Errorf("%d of the supervisor's threads exited during it; their context switches are not counted", p.SteadyThreadsExited)
	}
	return nil
}

// measureIdle measures the supervisor idle for o.Idle after the load:
// CPU, context switches per second, and RSS at the end.
func measureIdle(ctx context.Context, o Options, ps *ProcStats) {
	if ps == nil {
		return
	}
	if o.Idle > 0 {
		cpu1, _ := readCPU(ps.Pid)
		sw1, err1 := readCtxSwitches(ps.Pid)
		w1 := time.Now()
		select {
		case <-time.After(o.Idle):
		case <-ctx.Done():
		}
		cpu2, _ := readCPU(ps.Pid)
		sw2, err2 := readCtxSwitches(ps.Pid)
		ps.IdleSeconds = time.Since(w1).Seconds()
		ps.CPUIdlePct = 100 * (cpu2 - cpu1).Seconds() / ps.IdleSeconds
		if err1 == nil && err2 == nil {
			v, n, _ := sw2.since(sw1)
			ps.IdleWakeupsPerSec = float64(v+n) / ps.IdleSeconds
		}
	}
	ps.RSSIdleKB, _ = readRSS(ps.Pid)
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// waitServing polls url until it answers 200 or the deadline passes; alive
// reports whether the process under test still runs.
func waitServing(ctx context.Context, url string, d time.Duration, alive func() error) error {
	c := newClient(false, time.Second, nil)
	deadline := time.Now().Add(d)
	for {
		if err := alive(); err != nil {
			return err
		}
		res := c.get(ctx, url)
		if res.kind == kindOK {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s (last: %s)", url, d, res.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
