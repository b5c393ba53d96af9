package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Report is the harness's output: one RunReport per run, dewy first, then
// the baseline and Server::Starter when they ran.
type Report struct {
	Options ReportOptions `json:"options"`
	Runs    []*RunReport  `json:"runs"`
	Notes   []string      `json:"notes,omitempty"` // e.g. a run that was skipped, and why
}

// ReportOptions echo what the runs were asked to do.
type ReportOptions struct {
	Restarts     int    `json:"restarts"`
	Clients      int    `json:"clients"`
	StartupDelay string `json:"startup_delay"`
	Ready        string `json:"ready"`
	ReadyDelay   string `json:"ready_delay,omitempty"`
	Sleep        string `json:"sleep"`
	Think        string `json:"think"`
	Timeout      string `json:"timeout"`
	Pause        string `json:"pause"`
	Steady       string `json:"steady"`
	// AnchorInterval is start_server's --interval in seconds, -1 when the
	// Server::Starter run was not asked for.
	AnchorInterval int    `json:"anchor_interval_s"`
	GoVersion      string `json:"go_version"`
	CPUs           int    `json:"cpus"`
}

// RunReport is what one run measured. Latencies are of successful
// requests only; failures are counted by kind.
type RunReport struct {
	Mode              string  `json:"mode"` // "dewy", "baseline" or "server-starter"
	RestartsRequested int     `json:"restarts_requested"`
	RestartsDone      int     `json:"restarts_done"`
	RestartsFailed    int     `json:"restarts_failed"`
	Instances         int     `json:"instances_seen"` // generations (dewy) or pids (baseline, Server::Starter) that answered
	LoadSeconds       float64 `json:"load_seconds"`
	Requests          int64   `json:"requests"`
	OK                int64   `json:"ok"`
	Throughput        float64 `json:"requests_per_second"`
	RequestsInWindows int64   `json:"requests_in_restart_windows"`
	Failed            Kinds   `json:"failed"`
	FailedInWindows   Kinds   `json:"failed_in_restart_windows"`
	// Retried counts requests Go's transport sent twice, by itself, because
	// a reused keep-alive connection was closed under them; they are not
	// failures (a GET's retry is what Go clients do), but a client that does
	// not retry would have failed there.
	Retried          int64     `json:"transport_retries"`
	RetriedInWindows int64     `json:"transport_retries_in_restart_windows"`
	Latency          Latencies `json:"latency"`
	// RestartLatency: signal sent -> first response served by the new
	// generation (dewy) or the new process (baseline, Server::Starter).
	RestartLatency Summary `json:"restart_latency"`
	// RestartDuration: signal sent -> end of the restart window (dewy's
	// "restart complete", after the old generation exited; the new
	// process's first response in the baseline; Server::Starter's "old
	// worker ... died" and the new worker's first response, the later).
	RestartDuration Summary `json:"restart_duration"`
	// Steady is the phase of load without restarts after the cool-down.
	Steady       *SteadyPhase `json:"steady,omitempty"`
	Supervisor   *ProcStats   `json:"supervisor,omitempty"` // dewy or start_server itself, not the apps; none in the baseline
	ErrorSamples []string     `json:"error_samples,omitempty"`
	LogProblems  []string     `json:"dewy_log_problems,omitempty"` // dewy's warn and error lines
	Notes        []string     `json:"notes,omitempty"`
}

// Kinds counts failed requests by kind.
type Kinds struct {
	Total   int64 `json:"total"`
	Refused int64 `json:"refused"`
	Reset   int64 `json:"reset"`
	EOF     int64 `json:"eof"`
	Timeout int64 `json:"timeout"`
	Non2xx  int64 `json:"non_2xx"`
	Other   int64 `json:"other"`
}

func (k *Kinds) add(kind uint8, n int64) {
	k.Total += n
	switch kind {
	case kindRefused:
		k.Refused += n
	case kindReset:
		k.Reset += n
	case kindEOF:
		k.EOF += n
	case kindTimeout:
		k.Timeout += n
	case kindNon2xx:
		k.Non2xx += n
	default:
		k.Other += n
	}
}

// Latencies split the successful requests by restart windows: a request is
// inside when it overlaps the window from the signal to the restart's end.
type Latencies struct {
	Overall        Summary `json:"overall"`
	InWindows      Summary `json:"in_restart_windows"`
	OutsideWindows Summary `json:"outside_restart_windows"`
	Steady         Summary `json:"steady_phase"` // requests that started and ended in the steady phase
}

// SteadyPhase is the load of the steady phase: no restart, -steady long.
type SteadyPhase struct {
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	// NewConnections are the connections the clients opened in the phase
	// (httptrace GotConn with Reused false): mostly the odd-numbered
	// clients, one per request.
	NewConnections int64 `json:"new_connections"`
}

// Summary is a distribution in milliseconds.
type Summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summary(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return Summary{Count: len(ds), P50: ms(rank(ds, 0.50)), P99: ms(rank(ds, 0.99)), Max: ms(ds[len(ds)-1])}
}

// rank is the nearest-rank percentile of sorted ds.
func rank(ds []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// ProcStats are the supervisor's own resource figures (dewy's or
// start_server's, not their apps'), from /proc. CPU is utime+stime per
// second of wall time, in percent of one core. Context switches are summed
// over /proc/<pid>/task/*/status (voluntary and nonvoluntary): each one is
// a thread of the supervisor that ran, i.e. a wake-up.
type ProcStats struct {
	Pid           int     `json:"pid"`
	RSSStartKB    int64   `json:"rss_before_load_kb"`
	RSSLoadPeakKB int64   `json:"rss_load_peak_kb"`
	RSSLoadMeanKB int64   `json:"rss_load_mean_kb"`
	RSSIdleKB     int64   `json:"rss_idle_kb"`
	CPULoadPct    float64 `json:"cpu_load_pct"`
	CPUIdlePct    float64 `json:"cpu_idle_pct"`
	LoadSeconds   float64 `json:"cpu_load_seconds_measured"`
	IdleSeconds   float64 `json:"cpu_idle_seconds_measured"`
	Samples       int     `json:"rss_samples"`
	// IdleWakeupsPerSec: context switches per second in the idle period.
	IdleWakeupsPerSec float64 `json:"idle_wakeups_per_second"`

	// The steady phase (see SteadyPhase), when it ran to its end.
	SteadyMeasured         bool    `json:"steady_measured"`
	SteadyCPUSeconds       float64 `json:"steady_cpu_seconds"`
	SteadyCPUPct           float64 `json:"steady_cpu_pct"`
	SteadyCPUMicrosPerConn float64 `json:"steady_cpu_us_per_new_connection"`
	SteadyVoluntary        int64   `json:"steady_voluntary_ctxt_switches"`
	SteadyNonvoluntary     int64   `json:"steady_nonvoluntary_ctxt_switches"`
	SteadyWakeupsPerSec    float64 `json:"steady_wakeups_per_second"`
	// SteadyWakeupsPerConn: context switches per new connection.
	SteadyWakeupsPerConn float64 `json:"steady_wakeups_per_new_connection"`
	SteadyThreads        int     `json:"steady_threads"`
	SteadyThreadsExited  int     `json:"steady_threads_exited"` // their switches are not counted
}

func newReport(o Options) *Report {
	ro := ReportOptions{
		Restarts: o.Restarts, Clients: o.Clients, StartupDelay: o.StartupDelay.String(), Ready: o.Ready,
		Sleep: o.Sleep.String(), Think: o.Think.String(), Timeout: o.Timeout.String(), Pause: o.Pause.String(),
		Steady: o.Steady.String(), AnchorInterval: -1, GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
	}
	if o.Anchor {
		ro.AnchorInterval = o.AnchorInterval
	}
	if o.Ready == "delay" {
		ro.ReadyDelay = o.ReadyDelay.String()
	}
	return &Report{Options: ro, Runs: []*RunReport{}}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// label is the run's column header.
func (run *RunReport) label() string {
	if run.Mode == modeAnchor {
		return "Server::Starter"
	}
	return run.Mode
}

// WriteTable writes the runs side by side, with the ratios of the first
// run (dewy) to each of the others: dewy/baseline, dewy/Server::Starter.
func (r *Report) WriteTable(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "\ndewy restart benchmark: %d restarts, %d clients (%d keep-alive, %d new connection per request), app -startup-delay %s, ready=%s",
		o.Restarts, o.Clients, (o.Clients+1)/2, o.Clients/2, o.StartupDelay, o.Ready)
	if o.ReadyDelay != "" {
		fmt.Fprintf(w, " (%s)", o.ReadyDelay)
	}
	fmt.Fprintf(w, "\nrequest GET /%s, think %s, timeout %s, pause %s, steady phase %s",
		map[bool]string{true: "?sleep=" + o.Sleep, false: ""}[o.Sleep != "0s"], o.Think, o.Timeout, o.Pause, o.Steady)
	for _, run := range r.Runs {
		if run.Mode == modeAnchor {
			fmt.Fprintf(w, ", start_server --interval=%d", o.AnchorInterval)
		}
	}
	fmt.Fprintf(w, "; %s, %d CPUs\n\n", o.GoVersion, o.CPUs)
	if len(r.Runs) == 0 {
		fmt.Fprintln(w, "no run finished")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
		return
	}
	var rows [][]string
	header := []string{"metric"}
	for _, run := range r.Runs {
		header = append(header, run.label())
	}
	for _, run := range r.Runs[1:] {
		header = append(header, r.Runs[0].label()+"/"+run.label())
	}
	row := func(cells ...string) { rows = append(rows, cells) }
	row(header...)
	type metric struct {
		label string
		val   func(*RunReport) (string, float64, bool) // text, number for the ratio, has a value
		ratio bool
	}
	num := func(f func(*RunReport) int64) func(*RunReport) (string, float64, bool) {
		return func(run *RunReport) (string, float64, bool) {
			v := f(run)
			return fmt.Sprint(v), float64(v), true
		}
	}
	ms := func(f func(*RunReport) (float64, int)) func(*RunReport) (string, float64, bool) {
		return func(run *RunReport) (string, float64, bool) {
			v, n := f(run)
			if n == 0 {
				return "-", 0, false
			}
			return fmtMS(v), v, true
		}
	}
	sup := func(f func(*ProcStats) (string, float64)) func(*RunReport) (string, float64, bool) {
		return func(run *RunReport) (string, float64, bool) {
			if run.Supervisor == nil {
				return "-", 0, false
			}
			s, v := f(run.Supervisor)
			return s, v, true
		}
	}
	steadySup := func(f func(*ProcStats, *SteadyPhase) (string, float64)) func(*RunReport) (string, float64, bool) {
		return func(run *RunReport) (string, float64, bool) {
			if run.Supervisor == nil || !run.Supervisor.SteadyMeasured || run.Steady == nil {
				return "-", 0, false
			}
			s, v := f(run.Supervisor, run.Steady)
			return s, v, true
		}
	}
	mib := func(kb int64) (string, float64) { return fmt.Sprintf("%.1f MiB", float64(kb)/1024), float64(kb) }
	pct := func(p float64) (string, float64) { return fmt.Sprintf("%.1f%%", p), p }
	float := func(format string) func(float64) (string, float64) {
		return func(v float64) (string, float64) { return fmt.Sprintf(format, v), v }
	}
	dist := func(label string, f func(*RunReport) Summary) []metric {
		return []metric{
			{label + " p50 (ms)", ms(func(r *RunReport) (float64, int) { s := f(r); return s.P50, s.Count }), true},
			{label + " p99 (ms)", ms(func(r *RunReport) (float64, int) { s := f(r); return s.P99, s.Count }), true},
			{label + " max (ms)", ms(func(r *RunReport) (float64, int) { s := f(r); return s.Max, s.Count }), true},
		}
	}
	// The p99 inside the restart windows over the p99 without restarts:
	// the steady phase's when it ran, else outside the windows.
	calm, calmLabel := func(r *RunReport) Summary { return r.Latency.Steady }, "steady-phase p99"
	if o.Steady == "0s" {
		calm, calmLabel = func(r *RunReport) Summary { return r.Latency.OutsideWindows }, "outside-windows p99"
	}
	inflation := func(run *RunReport) (string, float64, bool) {
		in, c := run.Latency.InWindows, calm(run)
		if in.Count == 0 || c.Count == 0 || c.P99 == 0 {
			return "-", 0, false
		}
		v := in.P99 / c.P99
		return fmt.Sprintf("%.2fx", v), v, true
	}
	metrics := []metric{
		{"restarts done/requested", func(r *RunReport) (string, float64, bool) {
			return fmt.Sprintf("%d/%d", r.RestartsDone, r.RestartsRequested), 0, true
		}, false},
		{"restarts failed", num(func(r *RunReport) int64 { return int64(r.RestartsFailed) }), false},
		{"instances that answered", num(func(r *RunReport) int64 { return int64(r.Instances) }), false},
		{"load duration (s)", func(r *RunReport) (string, float64, bool) {
			return fmt.Sprintf("%.1f", r.LoadSeconds), r.LoadSeconds, true
		}, true},
		{"requests", num(func(r *RunReport) int64 { return r.Requests }), true},
		{"requests/s", func(r *RunReport) (string, float64, bool) {
			return fmt.Sprintf("%.0f", r.Throughput), r.Throughput, true
		}, true},
		{"requests in restart windows", num(func(r *RunReport) int64 { return r.RequestsInWindows }), true},
		{"FAILED requests", num(func(r *RunReport) int64 { return r.Failed.Total }), true},
		{"  refused", num(func(r *RunReport) int64 { return r.Failed.Refused }), true},
		{"  reset", num(func(r *RunReport) int64 { return r.Failed.Reset }), true},
		{"  EOF", num(func(r *RunReport) int64 { return r.Failed.EOF }), true},
		{"  timeout", num(func(r *RunReport) int64 { return r.Failed.Timeout }), true},
		{"  non-2xx", num(func(r *RunReport) int64 { return r.Failed.Non2xx }), true},
		{"  other", num(func(r *RunReport) int64 { return r.Failed.Other }), true},
		{"failed in restart windows", num(func(r *RunReport) int64 { return r.FailedInWindows.Total }), true},
		{"resent by Go's transport (not failed)", num(func(r *RunReport) int64 { return r.Retried }), true},
		{"  of which in restart windows", num(func(r *RunReport) int64 { return r.RetriedInWindows }), true},
	}
	metrics = append(metrics, dist("latency overall", func(r *RunReport) Summary { return r.Latency.Overall })...)
	metrics = append(metrics, dist("latency in restart windows", func(r *RunReport) Summary { return r.Latency.InWindows })...)
	metrics = append(metrics, dist("latency outside windows", func(r *RunReport) Summary { return r.Latency.OutsideWindows })...)
	if o.Steady != "0s" {
		metrics = append(metrics, dist("latency in steady phase", func(r *RunReport) Summary { return r.Latency.Steady })...)
	}
	metrics = append(metrics, metric{"restart-window p99 / " + calmLabel, inflation, true})
	metrics = append(metrics, dist("restart latency", func(r *RunReport) Summary { return r.RestartLatency })...)
	metrics = append(metrics, dist("restart duration", func(r *RunReport) Summary { return r.RestartDuration })...)
	metrics = append(metrics,
		metric{"supervisor RSS before load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSStartKB) }), true},
		metric{"supervisor RSS peak under load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSLoadPeakKB) }), true},
		metric{"supervisor RSS mean under load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSLoadMeanKB) }), true},
		metric{"supervisor RSS idle after load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSIdleKB) }), true},
		metric{"supervisor CPU under load (1 core)", sup(func(p *ProcStats) (string, float64) { return pct(p.CPULoadPct) }), true},
		metric{"supervisor CPU idle after load", sup(func(p *ProcStats) (string, float64) { return pct(p.CPUIdlePct) }), true},
		metric{"supervisor wake-ups/s idle after load", sup(func(p *ProcStats) (string, float64) { return float("%.1f")(p.IdleWakeupsPerSec) }), true},
	)
	if o.Steady != "0s" {
		metrics = append(metrics,
			metric{"steady: new connections", func(r *RunReport) (string, float64, bool) {
				if r.Steady == nil {
					return "-", 0, false
				}
				return fmt.Sprint(r.Steady.NewConnections), float64(r.Steady.NewConnections), true
			}, true},
			metric{"steady: requests/s", func(r *RunReport) (string, float64, bool) {
				if r.Steady == nil || r.Steady.Seconds == 0 {
					return "-", 0, false
				}
				v := float64(r.Steady.Requests) / r.Steady.Seconds
				return fmt.Sprintf("%.0f", v), v, true
			}, true},
			metric{"steady: new connections/s", func(r *RunReport) (string, float64, bool) {
				if r.Steady == nil || r.Steady.Seconds == 0 {
					return "-", 0, false
				}
				v := float64(r.Steady.NewConnections) / r.Steady.Seconds
				return fmt.Sprintf("%.0f", v), v, true
			}, true},
			metric{"steady: supervisor CPU (1 core)", steadySup(func(p *ProcStats, _ *SteadyPhase) (string, float64) { return pct(p.SteadyCPUPct) }), true},
			metric{"steady: supervisor CPU per new conn (us)", steadySup(func(p *ProcStats, _ *SteadyPhase) (string, float64) {
				return float("%.2f")(p.SteadyCPUMicrosPerConn)
			}), true},
			metric{"steady: supervisor context switches", steadySup(func(p *ProcStats, _ *SteadyPhase) (string, float64) {
				v := p.SteadyVoluntary + p.SteadyNonvoluntary
				return fmt.Sprint(v), float64(v)
			}), true},
			metric{"steady: supervisor wake-ups/s", steadySup(func(p *ProcStats, _ *SteadyPhase) (string, float64) { return float("%.1f")(p.SteadyWakeupsPerSec) }), true},
			metric{"steady: wake-ups per new connection", steadySup(func(p *ProcStats, _ *SteadyPhase) (string, float64) {
				return float("%.3f")(p.SteadyWakeupsPerConn)
			}), true},
		)
	}
	for _, m := range metrics {
		cells := []string{m.label}
		var vals []float64
		var oks []bool
		for _, run := range r.Runs {
			s, v, ok := m.val(run)
			cells = append(cells, s)
			vals = append(vals, v)
			oks = append(oks, ok)
		}
		for i := 1; i < len(r.Runs); i++ {
			c := ""
			if m.ratio && oks[0] && oks[i] {
				c = fmtRatio(vals[0], vals[i])
			}
			cells = append(cells, c)
		}
		row(cells...)
	}
	writeRows(w, rows)

	for _, run := range r.Runs {
		lines := slices.Concat(prefixed("error: ", run.ErrorSamples), prefixed("dewy log: ", run.LogProblems), prefixed("note: ", run.Notes))
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", run.label())
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
	fmt.Fprintln(w)
	for _, run := range r.Runs {
		fmt.Fprintf(w, "%s: %d requests, %d failed (%d inside restart windows) over %d/%d restarts\n",
			run.label(), run.Requests, run.Failed.Total, run.FailedInWindows.Total, run.RestartsDone, run.RestartsRequested)
	}
}

// writeRows prints rows as a table: the first column left-aligned, the
// others right-aligned.
func writeRows(w io.Writer, rows [][]string) {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "  %*s", width[i], c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func prefixed(p string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = p + s
	}
	return out
}

func fmtMS(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func fmtRatio(a, b float64) string {
	switch {
	case a == 0 && b == 0:
		return "-"
	case b == 0:
		return "inf"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
