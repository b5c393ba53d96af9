package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestHarness runs the whole harness with tiny numbers: both runs, real
// processes, real signals. It checks that the report is well-formed and
// that dewy dropped no request; it asserts no timing.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dewy and runs real processes for ~10s")
	}
	var stdout, stderr bytes.Buffer
	args := []string{
		"-restarts", "2", "-clients", "4", "-startup-delay", "50ms",
		"-warmup", "300ms", "-cooldown", "300ms", "-pause", "100ms", "-idle", "500ms",
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
	if rep.Options.Restarts != 2 || rep.Options.Clients != 4 || rep.Options.StartupDelay != "50ms" {
		t.Errorf("options = %+v, want the flags given", rep.Options)
	}
	if len(rep.Runs) != 2 || rep.Runs[0].Mode != "dewy" || rep.Runs[1].Mode != "baseline" {
		t.Fatalf("runs = %d, want dewy then baseline:\n%s", len(rep.Runs), stdout.String())
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
	if s := d.Supervisor; s == nil || s.Pid <= 0 || s.RSSStartKB <= 0 || s.RSSLoadPeakKB <= 0 || s.RSSIdleKB <= 0 || s.Samples == 0 || s.LoadSeconds <= 0 {
		t.Errorf("dewy run: supervisor figures = %+v, want dewy's pid, RSS and CPU", s)
	}
	if len(d.LogProblems) > 0 {
		t.Logf("dewy logged warnings or errors:\n%s", strings.Join(d.LogProblems, "\n"))
	}
	if rep.Runs[1].Supervisor != nil {
		t.Errorf("baseline run has supervisor figures: %+v", rep.Runs[1].Supervisor)
	}

	// The table renders the same report.
	var table bytes.Buffer
	rep.WriteTable(&table)
	for _, want := range []string{"dewy/baseline", "FAILED requests", "restart latency p99 (ms)", "dewy RSS idle after load", "dewy: "} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table has no %q:\n%s", want, table.String())
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
