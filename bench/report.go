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

// Report is the harness's output: one RunReport per run, dewy first.
type Report struct {
	Options ReportOptions `json:"options"`
	Runs    []*RunReport  `json:"runs"`
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
	GoVersion    string `json:"go_version"`
	CPUs         int    `json:"cpus"`
}

// RunReport is what one run measured. Latencies are of successful
// requests only; failures are counted by kind.
type RunReport struct {
	Mode              string  `json:"mode"` // "dewy" or "baseline"
	RestartsRequested int     `json:"restarts_requested"`
	RestartsDone      int     `json:"restarts_done"`
	RestartsFailed    int     `json:"restarts_failed"`
	Instances         int     `json:"instances_seen"` // generations (dewy) or pids (baseline) that answered
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
	// generation (dewy) or the new process (baseline).
	RestartLatency Summary `json:"restart_latency"`
	// RestartDuration: signal sent -> end of the restart window (dewy's
	// "restart complete", after the old generation exited; the new
	// process's first response in the baseline).
	RestartDuration Summary    `json:"restart_duration"`
	Supervisor      *ProcStats `json:"supervisor,omitempty"` // dewy's own process; none in the baseline
	ErrorSamples    []string   `json:"error_samples,omitempty"`
	LogProblems     []string   `json:"dewy_log_problems,omitempty"` // dewy's warn and error lines
	Notes           []string   `json:"notes,omitempty"`
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

// ProcStats are dewy's own resource figures, from /proc. CPU is utime+stime
// per second of wall time, in percent of one core.
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
}

func newReport(o Options) *Report {
	ro := ReportOptions{
		Restarts: o.Restarts, Clients: o.Clients, StartupDelay: o.StartupDelay.String(), Ready: o.Ready,
		Sleep: o.Sleep.String(), Think: o.Think.String(), Timeout: o.Timeout.String(), Pause: o.Pause.String(),
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(),
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

// WriteTable writes the runs side by side, with dewy/baseline ratios.
func (r *Report) WriteTable(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "\ndewy restart benchmark: %d restarts, %d clients (%d keep-alive, %d new connection per request), app -startup-delay %s, ready=%s",
		o.Restarts, o.Clients, (o.Clients+1)/2, o.Clients/2, o.StartupDelay, o.Ready)
	if o.ReadyDelay != "" {
		fmt.Fprintf(w, " (%s)", o.ReadyDelay)
	}
	fmt.Fprintf(w, "\nrequest GET /%s, think %s, timeout %s, pause %s; %s, %d CPUs\n\n",
		map[bool]string{true: "?sleep=" + o.Sleep, false: ""}[o.Sleep != "0s"], o.Think, o.Timeout, o.Pause, o.GoVersion, o.CPUs)
	if len(r.Runs) == 0 {
		fmt.Fprintln(w, "no run finished")
		return
	}
	var rows [][]string
	header := []string{"metric"}
	for _, run := range r.Runs {
		header = append(header, run.Mode)
	}
	ratio := len(r.Runs) == 2
	if ratio {
		header = append(header, r.Runs[0].Mode+"/"+r.Runs[1].Mode)
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
	mib := func(kb int64) (string, float64) { return fmt.Sprintf("%.1f MiB", float64(kb)/1024), float64(kb) }
	pct := func(p float64) (string, float64) { return fmt.Sprintf("%.1f%%", p), p }
	dist := func(label string, f func(*RunReport) Summary) []metric {
		return []metric{
			{label + " p50 (ms)", ms(func(r *RunReport) (float64, int) { s := f(r); return s.P50, s.Count }), true},
			{label + " p99 (ms)", ms(func(r *RunReport) (float64, int) { s := f(r); return s.P99, s.Count }), true},
			{label + " max (ms)", ms(func(r *RunReport) (float64, int) { s := f(r); return s.Max, s.Count }), true},
		}
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
	metrics = append(metrics, dist("restart latency", func(r *RunReport) Summary { return r.RestartLatency })...)
	metrics = append(metrics, dist("restart duration", func(r *RunReport) Summary { return r.RestartDuration })...)
	metrics = append(metrics,
		metric{"dewy RSS before load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSStartKB) }), false},
		metric{"dewy RSS peak under load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSLoadPeakKB) }), false},
		metric{"dewy RSS mean under load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSLoadMeanKB) }), false},
		metric{"dewy RSS idle after load", sup(func(p *ProcStats) (string, float64) { return mib(p.RSSIdleKB) }), false},
		metric{"dewy CPU under load (1 core)", sup(func(p *ProcStats) (string, float64) { return pct(p.CPULoadPct) }), false},
		metric{"dewy CPU idle after load", sup(func(p *ProcStats) (string, float64) { return pct(p.CPUIdlePct) }), false},
	)
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
		if ratio {
			c := ""
			if m.ratio && oks[0] && oks[1] {
				c = fmtRatio(vals[0], vals[1])
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
		fmt.Fprintf(w, "\n%s:\n", run.Mode)
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	fmt.Fprintln(w)
	for _, run := range r.Runs {
		fmt.Fprintf(w, "%s: %d requests, %d failed (%d inside restart windows) over %d/%d restarts\n",
			run.Mode, run.Requests, run.Failed.Total, run.FailedInWindows.Total, run.RestartsDone, run.RestartsRequested)
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
