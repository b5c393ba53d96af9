// Package metrics is dewy's Prometheus metrics: what the supervisors and
// deployers report as it happens (restarts by reason, readiness waits,
// deploys by result with their duration, rollbacks, registry polls and
// errors), and what is read from the agent only when scraped (each app up
// or not, in a crash loop or not; notifications sent and dropped). Nothing
// runs between scrapes: an idle dewy pays nothing for its metrics.
package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AppState is one app as the scrape sees it.
type AppState struct {
	Name      string
	Up        bool
	CrashLoop bool
}

// NotifierStats are one notifier's counts so far.
type NotifierStats struct {
	Name                  string
	Sent, Failed, Dropped uint64
}

// Options configure New.
type Options struct {
	// Version and Revision are dewy's, for dewy_build_info.
	Version, Revision string
	// Apps returns every app's state at scrape time.
	Apps func() []AppState
	// Notifiers returns the notifiers' counts at scrape time (nil: none).
	Notifiers func() []NotifierStats
}

// Metrics is one agent's metrics, in a registry of its own.
type Metrics struct {
	reg       *prometheus.Registry
	restarts  *prometheus.CounterVec
	readyWait *prometheus.HistogramVec
	deploys   *prometheus.CounterVec
	deployDur *prometheus.HistogramVec
	rollbacks *prometheus.CounterVec
	polls     *prometheus.CounterVec
	pollErrs  *prometheus.CounterVec
}

// New registers dewy's metrics and the Go runtime's.
func New(o Options) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dewy_restarts_total", Help: "Generations that took over from another, by app and reason (signal, api, deploy, crash, reload, other).",
		}, []string{"app", "reason"}),
		readyWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dewy_readiness_wait_seconds", Help: "Time from a generation's start until it was proven ready.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"app"}),
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dewy_deploys_total", Help: "Deploys by app and result (deployed, failed, cut short).",
		}, []string{"app", "result"}),
		deployDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dewy_deploy_duration_seconds", Help: "Time of a deploy, download to restart, by app and result.",
			Buckets: []float64{.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}, []string{"app", "result"}),
		rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dewy_rollbacks_total", Help: "Rollbacks by app.",
		}, []string{"app"}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dewy_registry_polls_total", Help: "Times an app's registry was asked for its releases.",
		}, []string{"app"}),
		pollErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dewy_registry_errors_total", Help: "Times an app's registry could not answer.",
		}, []string{"app"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dewy_build_info", Help: "dewy's version, revision and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": o.Version, "revision": o.Revision, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.restarts, m.readyWait, m.deploys, m.deployDur, m.rollbacks, m.polls, m.pollErrs, build,
		scrapeCollector{o},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where the metrics live (tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Restarted counts a generation that took over.
func (m *Metrics) Restarted(app, reason string) { m.restarts.WithLabelValues(app, reason).Inc() }

// Ready observes a readiness wait.
func (m *Metrics) Ready(app string, wait time.Duration) {
	m.readyWait.WithLabelValues(app).Observe(wait.Seconds())
}

// Deployed counts a deploy and observes its duration.
func (m *Metrics) Deployed(app, result string, took time.Duration) {
	m.deploys.WithLabelValues(app, result).Inc()
	m.deployDur.WithLabelValues(app, result).Observe(took.Seconds())
}

// RolledBack counts a rollback.
func (m *Metrics) RolledBack(app string) { m.rollbacks.WithLabelValues(app).Inc() }

// Polled counts a registry poll and, when err is set, an error.
func (m *Metrics) Polled(app string, err error) {
	m.polls.WithLabelValues(app).Inc()
	if err != nil {
		m.pollErrs.WithLabelValues(app).Inc()
	}
}

var (
	upDesc        = prometheus.NewDesc("dewy_app_up", "1 when the app's current generation is running and ready.", []string{"app"}, nil)
	crashLoopDesc = prometheus.NewDesc("dewy_app_crash_loop", "1 while the app is in a crash loop (restarts paused for the cooldown).", []string{"app"}, nil)
	sentDesc      = prometheus.NewDesc("dewy_notifications_sent_total", "Notifications delivered, by notifier.", []string{"notifier"}, nil)
	failedDesc    = prometheus.NewDesc("dewy_notifications_failed_total", "Notifications that could not be delivered, by notifier.", []string{"notifier"}, nil)
	droppedDesc   = prometheus.NewDesc("dewy_notifications_dropped_total", "Notifications dropped because the notifier's queue was full, by notifier.", []string{"notifier"}, nil)
)

// scrapeCollector reads the apps' and notifiers' state at scrape time.
type scrapeCollector struct{ o Options }

func (c scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- upDesc
	ch <- crashLoopDesc
	ch <- sentDesc
	ch <- failedDesc
	ch <- droppedDesc
}

func (c scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.o.Apps != nil {
		for _, a := range c.o.Apps() {
			ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, b2f(a.Up), a.Name)
			ch <- prometheus.MustNewConstMetric(crashLoopDesc, prometheus.GaugeValue, b2f(a.CrashLoop), a.Name)
		}
	}
	if c.o.Notifiers != nil {
		for _, n := range c.o.Notifiers() {
			ch <- prometheus.MustNewConstMetric(sentDesc, prometheus.CounterValue, float64(n.Sent), n.Name)
			ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(n.Failed), n.Name)
			ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n.Dropped), n.Name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
