package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHarness runs the whole harness with tiny numbers: every run, real
// processes, real signals. It checks that the report is well-formed and
// that dewy dropped no request; it asserts no timing. The Server::Starter
// run is part of it when start_server is on PATH.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dewy and runs real processes for ~10s")
	}
	_, err := exec.LookPath("start_server")
	anchor := err == nil
	if !anchor {
		t.Log("no start_server on PATH (apt-get install libserver-starter-perl): the Server::Starter run is skipped")
	}
	var stdout, stderr bytes.Buffer
	args := []string{
		"-restarts", "2", "-clients", "4", "-startup-delay", "50ms",
		"-warmup", "300ms", "-cooldown", "300ms", "-pause", "100ms", "-idle", "300ms", "-steady", "300ms",
		"-anchor-interval", "0", // start_server sends the old worker TERM at once: fast, and the same lines
		"-restart-timeout", "10s", "-max-duration", "15s", "-json",
	}
	start := time.Now()
	code := cli(args, &stdout, &stderr)
	t.Logf("harness took %s; progress:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stdout:\n%s", code, stdout.String())
	}

	var rep Report
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("report is not the JSON of a Report: %v\n%s", err, stdout.String())
	}
	if rep.Options.Restarts != 2 || rep.Options.Clients != 4 || rep.Options.StartupDelay != "50ms" || rep.Options.Steady != "300ms" || rep.Options.AnchorInterval != 0 {
		t.Errorf("options = %+v, want the flags given", rep.Options)
	}
	modes := []string{"dewy", "baseline"}
	if anchor {
		modes = append(modes, modeAnchor)
	} else if !strings.Contains(strings.Join(rep.Notes, "\n"), "apt-get install libserver-starter-perl") {
		t.Errorf("report notes %q do not say how to install start_server", rep.Notes)
	}
	var got []string
	for _, r := range rep.Runs {
		got = append(got, r.Mode)
	}
	if !slices.Equal(got, modes) {
		t.Fatalf("runs = %q, want %q:\n%s", got, modes, stdout.String())
	}
	for _, r := range rep.Runs {
		checkRun(t, r)
	}

	d := rep.Runs[0]
	if d.Failed.Total != 0 {
		t.Errorf("dewy run: %d failed requests (%+v), want 0; errors: %q; dewy log: %q", d.Failed.Total, d.Failed, d.ErrorSamples, d.LogProblems)
	}
	if d.Instances != 3 {
		t.Errorf("dewy run: %d generations answered, want 3 (1 + 2 restarts)", d.Instances)
	}
	if len(d.LogProblems) > 0 {
		t.Logf("dewy logged warnings or errors:\n%s", strings.Join(d.LogProblems, "\n"))
	}
	if rep.Runs[1].Supervisor != nil {
		t.Errorf("baseline run has supervisor figures: %+v", rep.Runs[1].Supervisor)
	}
	for _, r := range rep.Runs {
		if r.Mode == "baseline" {
			continue
		}
		if s := r.Supervisor; s == nil || s.Pid <= 0 || s.RSSStartKB <= 0 || s.RSSLoadPeakKB <= 0 || s.RSSIdleKB <= 0 || s.Samples == 0 || s.LoadSeconds <= 0 || s.IdleSeconds <= 0 {
			t.Errorf("%s run: supervisor figures = %+v, want its pid, RSS and CPU", r.Mode, s)
		} else if !s.SteadyMeasured || s.SteadyThreads < 1 || s.SteadyWakeupsPerConn < 0 || s.SteadyCPUSeconds < 0 {
			t.Errorf("%s run: steady supervisor figures = %+v", r.Mode, s)
		}
		if r.Mode == modeAnchor && r.Instances != 3 {
			t.Errorf("Server::Starter run: %d worker pids answered, want 3 (1 + 2 restarts)", r.Instances)
		}
	}

	// The table renders the same report.
	var table bytes.Buffer
	rep.WriteTable(&table)
	want := []string{"dewy/baseline", "FAILED requests", "restart latency p99 (ms)", "supervisor RSS idle after load",
		"restart-window p99 / steady-phase p99", "steady: wake-ups per new connection", "dewy: "}
	if anchor {
		want = append(want, "dewy/Server::Starter", "Server::Starter: ")
	}
	for _, w := range want {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table has no %q:\n%s", w, table.String())
		}
	}
}

func checkRun(t *testing.T, r *RunReport) {
	t.Helper()
	if r.RestartsRequested != 2 || r.RestartsDone != 2 || r.RestartsFailed != 0 {
		t.Errorf("%s: restarts %d done, %d failed of %d, want 2 of 2; notes %q", r.Mode, r.RestartsDone, r.RestartsFailed, r.RestartsRequested, r.Notes)
	}
	if r.Requests <= 0 || r.OK <= 0 || r.OK+r.Failed.Total != r.Requests {
		t.Errorf("%s: %d requests, %d ok, %d failed: do not add up", r.Mode, r.Requests, r.OK, r.Failed.Total)
	}
	for _, k := range []Kinds{r.Failed, r.FailedInWindows} {
		if sum := k.Refused + k.Reset + k.EOF + k.Timeout + k.Non2xx + k.Other; sum != k.Total {
			t.Errorf("%s: failures by kind %+v add up to %d", r.Mode, k, sum)
		}
	}
	if r.FailedInWindows.Total > r.Failed.Total || r.RequestsInWindows > r.Requests {
		t.Errorf("%s: more in the restart windows than in all", r.Mode)
	}
	l := r.Latency
	if l.Overall.Count != int(r.OK) || l.InWindows.Count+l.OutsideWindows.Count != l.Overall.Count {
		t.Errorf("%s: latency counts %d = %d + %d, want %d ok requests", r.Mode, l.Overall.Count, l.InWindows.Count, l.OutsideWindows.Count, r.OK)
	}
	if r.Steady == nil || r.Steady.Seconds <= 0 || r.Steady.Requests <= 0 || r.Steady.NewConnections <= 0 || r.Latency.Steady.Count <= 0 {
		t.Errorf("%s: steady phase = %+v, latency %+v; want requests and new connections", r.Mode, r.Steady, r.Latency.Steady)
	}
	if r.RestartLatency.Count != 2 || r.RestartDuration.Count != 2 {
		t.Errorf("%s: restart latency over %d restarts, duration over %d, want 2", r.Mode, r.RestartLatency.Count, r.RestartDuration.Count)
	}
	for name, s := range map[string]Summary{"overall": l.Overall, "restart latency": r.RestartLatency, "restart duration": r.RestartDuration} {
		if s.Count > 0 && !(0 <= s.P50 && s.P50 <= s.P99 && s.P99 <= s.Max) {
			t.Errorf("%s: %s = %+v, want 0 <= p50 <= p99 <= max", r.Mode, name, s)
		}
	}
}

func TestParseBody(t *testing.T) {
	for _, tc := range []struct {
		in       string
		pid, gen int
		ok       bool
	}{
		{"pid=123 generation=4\n", 123, 4, true},
		{"pid=9 generation=0\n", 9, 0, true},
		{"ok\n", 0, 0, false},
		{"pid=x generation=1\n", 0, 0, false},
	} {
		pid, gen, ok := parseBody(tc.in)
		if pid != tc.pid || gen != tc.gen || ok != tc.ok {
			t.Errorf("parseBody(%q) = %d, %d, %v; want %d, %d, %v", tc.in, pid, gen, ok, tc.pid, tc.gen, tc.ok)
		}
	}
}

func TestSummary(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	s := summary(ds)
	if s.Count != 100 || s.P50 != 50 || s.P99 != 99 || s.Max != 100 {
		t.Errorf("summary(1..100ms) = %+v, want p50 50, p99 99, max 100", s)
	}
	if s := summary(nil); s != (Summary{}) {
		t.Errorf("summary(nil) = %+v, want zero", s)
	}
}

// TestParseStarterLine checks the start_server lines the harness follows,
// as Server/Starter.pm 0.35 prints them.
func TestParseStarterLine(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ok     bool
		kind   ssKind
		pid    int
		status string
	}{
		{"starting new worker 4242", true, ssEvStarting, 4242, ""},
		{"new worker 4242 seems to have failed to start, exit status:256", true, ssEvFailedStart, 4242, "256"},
		{"new worker is now running, sending TERM to old workers:4241", true, ssEvRunning, 0, ""},
		{"new worker is now running, sending TERM to old workers:time=2025-01-01 level=INFO msg=serving", true, ssEvRunning, 0, ""},
		{"old worker 4241 died, status:0", true, ssEvOldDied, 4241, "0"},
		{"worker 4242 died unexpectedly with status:9, restarting", true, ssEvDiedUnexp, 4242, "9"},
		{"start_server (pid:4240) starting now...", false, 0, 0, ""},
		{"received HUP, spawning a new worker", false, 0, 0, ""},
		{"killing old workers", false, 0, 0, ""},
		{"worker 4242 died, status:0", false, 0, 0, ""},
		{`time=2025-01-01T00:00:00Z level=INFO msg=serving addr=127.0.0.1:1234 generation=2 pid=4242`, false, 0, 0, ""},
	} {
		ev, ok := parseStarterLine(tc.in)
		if ok != tc.ok || ok && (ev.kind != tc.kind || ev.pid != tc.pid || ev.status != tc.status) {
			t.Errorf("parseStarterLine(%q) = %+v, %v; want kind %d pid %d status %q, %v", tc.in, ev, ok, tc.kind, tc.pid, tc.status, tc.ok)
		}
	}
	// The harness follows what the installed Server::Starter prints.
	src, err := os.ReadFile("/usr/share/perl5/Server/Starter.pm")
	if err != nil {
		t.Skip("Server::Starter is not installed here")
	}
	for _, s := range []string{`"starting new worker $pid\n"`, `"new worker $pid seems to have failed to start, exit status:$?\n"`,
		`"new worker is now running, sending $opts->{signal_on_hup} to old workers:"`, `"old worker $died_worker died, status:$status\n"`,
		`"worker $died_worker died unexpectedly with status:$status, restarting\n"`} {
		if !bytes.Contains(src, []byte(s)) {
			t.Errorf("Server/Starter.pm no longer prints %s", s)
		}
	}
}

// TestReadCtxSwitches reads the harness's own threads: each sleeping
// goroutine's wake-ups show as context switches.
func TestReadCtxSwitches(t *testing.T) {
	pid := os.Getpid()
	before, err := readCtxSwitches(pid)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				time.Sleep(time.Millisecond)
			}
		})
	}
	wg.Wait()
	after, err := readCtxSwitches(pid)
	if err != nil {
		t.Fatal(err)
	}
	vol, nonvol, _ := after.since(before)
	if vol+nonvol < 20 || vol < 0 || nonvol < 0 {
		t.Errorf("context switches over 80 sleeps: %d voluntary, %d nonvoluntary; want at least 20", vol, nonvol)
	}
	// Thread 1 ran on, 2 exited, 3 is new, 4's tid was reused by a new thread.
	now := ctxSwitches{1: {5, 5}, 3: {2, 1}, 4: {1, 0}}
	then := ctxSwitches{1: {3, 4}, 2: {1, 1}, 4: {7, 7}}
	if v, nv, ex := now.since(then); v != 2+2+1 || nv != 1+1+0 || ex != 2 {
		t.Errorf("since = %d, %d, %d exited; want 5, 2, 2", v, nv, ex)
	}
}
