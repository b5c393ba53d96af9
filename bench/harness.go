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
	"strings"
	"time"
)

// Options configure one invocation of the harness.
type Options struct {
	Restarts       int
	Clients        int
	StartupDelay   time.Duration
	Ready          string // "http" or "delay"
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
		LogLevel:       "info",
	}
}

func (o Options) check() error {
	switch {
	case o.Restarts < 0:
		return errors.New("-restarts must be 0 or more")
	case o.Clients < 1:
		return errors.New("-clients must be at least 1")
	case o.Ready != "http" && o.Ready != "delay":
		return fmt.Errorf("-ready %q: want http or delay", o.Ready)
	case o.Timeout <= 0 || o.RestartTimeout <= 0 || o.MaxDuration <= 0:
		return errors.New("-timeout, -restart-timeout and -max-duration must be positive")
	case o.MaxRequests < 1:
		return errors.New("-max-requests must be at least 1")
	case o.StartupDelay < 0 || o.ReadyDelay < 0 || o.Sleep < 0 || o.Think < 0 || o.Pause < 0 ||
		o.Warmup < 0 || o.Cooldown < 0 || o.Idle < 0:
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

// Run builds the binaries and runs the dewy run and, with o.Baseline, the
// baseline run. It returns the report of the runs that finished, also
// with an error. Everything it starts is stopped before it returns, also
// when ctx is cancelled.
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

	o.logf("run 1: dewy (graceful restart by SIGUSR1, ready=%s)", o.Ready)
	r, err := runDewy(ctx, o, bins, dir)
	if r != nil {
		rep.Runs = append(rep.Runs, r)
	}
	if err != nil {
		return rep, fmt.Errorf("dewy run: %w", err)
	}
	if o.Baseline {
		o.logf("run 2: baseline (SIGTERM, wait for exit, start a new process)")
		r, err := runBaseline(ctx, o, bins, dir)
		if r != nil {
			rep.Runs = append(rep.Runs, r)
		}
		if err != nil {
			return rep, fmt.Errorf("baseline run: %w", err)
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
}

// restarter performs one restart and reports it; it returns an error only
// when the run cannot go on.
type restarter func(ctx context.Context, i int) (restart, error)

// drive runs the load and the restarts of one run and fills r with what it
// measured. It stops the load before it returns.
func drive(ctx context.Context, o Options, r *RunReport, l *load, do restarter) error {
	runCtx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	defer cancel()
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
	if warm && err == nil && runCtx.Err() == nil && !isClosed(l.capped) {
		wait(o.Cooldown)
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
	l.summarize(r, restarts)
	if stoppedBy != "" {
		r.Notes = append(r.Notes, "load stopped early: "+stoppedBy)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
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
	c := newClient(false, time.Second)
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
