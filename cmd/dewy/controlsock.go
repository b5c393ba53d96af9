package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/control"
	"github.com/dewyhq/dewy/metrics"
)

// controlSock is the agent's control socket, bound before anything
// starts so that a second agent on the same path refuses to start.
type controlSock struct {
	ln   net.Listener
	path string
	log  zerolog.Logger
}

// openControl binds the control socket at path; code is not exitOK when
// dewy must not start.
func openControl(log zerolog.Logger, path string) (*controlSock, int) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	// Its folder is made if missing (dewy's own, as state_dir is).
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		log.Error().Err(err).Str("admin_socket", path).Msg("cannot make the control socket's folder; set admin_socket (or --admin-socket) to a path dewy may create; not starting")
		return nil, exitFS
	}
	ln, err := control.Listen(path)
	switch {
	case errors.Is(err, control.ErrInUse):
		log.Error().Err(err).Str("admin_socket", path).Msg("another dewy answers on this control socket; not starting")
		return nil, exitConfig
	case err != nil:
		log.Error().Err(err).Str("admin_socket", path).Msg("cannot make the control socket; set admin_socket (or --admin-socket) to a path dewy may create; not starting")
		return nil, exitFS
	}
	log.Debug().Str("admin_socket", path).Msg("control socket bound")
	return &controlSock{ln: ln, path: path, log: log}, exitOK
}

// newMetrics makes the agent's metrics; agent is read at scrape time, so
// it may be set after.
func newMetrics(version string, agent *control.Agent, notifiers func() []metrics.NotifierStats) *metrics.Metrics {
	return metrics.New(metrics.Options{
		Version:   version,
		Notifiers: notifiers,
		Apps: func() []metrics.AppState {
			if *agent == nil {
				return nil
			}
			var out []metrics.AppState
			for _, a := range (*agent).Status().Apps {
				out = append(out, metrics.AppState{Name: a.Name, Up: a.State == "running", CrashLoop: a.CrashLoop})
			}
			return out
		},
	})
}

// serveMetrics serves the metrics on addr (agent { metrics }) until the
// returned stop is called. An address that cannot be bound is logged:
// the metrics are still on the control socket.
func serveMetrics(log zerolog.Logger, addr string, h http.Handler) (stop func()) {
	if addr == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error().Err(err).Str("metrics", addr).Msg("cannot serve the metrics on this address; they are still at /metrics on the control socket")
		return func() {}
	}
	log.Info().Str("metrics", ln.Addr().String()).Msg("metrics served")
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = control.Serve(ctx, ln, mux, time.Second)
	}()
	return func() { cancel(); <-done }
}

// serve answers on the socket for agent, with extra handlers (the
// metrics) beside the API, until the returned stop is called; requests
// under way then get a few seconds.
func (c *controlSock) serve(agent control.Agent, extra map[string]http.Handler) (stop func()) {
	mux := control.Handler(agent)
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := control.Serve(ctx, c.ln, mux, 5*time.Second); err != nil && !errors.Is(err, net.ErrClosed) {
			c.log.Error().Err(err).Str("admin_socket", c.path).Msg("the control socket stopped")
		}
	}()
	return func() { cancel(); <-done }
}
