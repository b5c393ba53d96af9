// Package control is dewy's control API: JSON over HTTP on a local unix
// socket (agent { admin_socket }), spoken by `dewy status`, `dewy
// restart`, `dewy deploy` and the other client commands. The server side
// asks an Agent (the running engine) to act; every action takes the same
// path as the signal action of the same name. Paths are versioned:
//
//	GET  /v1/status                  every app's state
//	POST /v1/apps/{app}/restart      graceful restart; waits for the result
//	POST /v1/apps/{app}/deploy       {"version": "v1.2.3"} optional; waits
//	POST /v1/apps/{app}/rollback     back to the previous kept release
//	GET  /v1/apps/{app}/releases     the kept releases
//	POST /v1/apps/{app}/signal       {"signal": "HUP"}: to the app's worker
//	POST /v1/reload                  re-read the config file and apply it
//
// Every answer carries the header Dewy-API: 1, so a client can tell a
// dewy socket from another server's. Errors are {"error": "..."} with a
// 4xx status for a bad request or an unknown app, 5xx when the action
// failed.
package control

import (
	"context"
	"errors"
	"time"
)

// APIHeader is set on every answer of a dewy control socket.
const APIHeader = "Dewy-API"

// APIVersion is the version of the paths and bodies below.
const APIVersion = "1"

// Status is the agent and its apps.
type Status struct {
	// Version is dewy's.
	Version string `json:"version"`
	PID     int    `json:"pid"`
	Config  string `json:"config,omitempty"`
	// Started is when dewy started.
	Started time.Time   `json:"started"`
	Apps    []AppStatus `json:"apps"`
}

// AppStatus is one app.
type AppStatus struct {
	Name string `json:"name"`
	// State is the supervisor's: running, starting, backoff, crash_loop,
	// waiting (for its first release), ...
	State      string  `json:"state"`
	PID        int     `json:"pid,omitempty"`
	Generation int     `json:"generation,omitempty"`
	Uptime     float64 `json:"uptime_seconds,omitempty"`
	Restarts   int     `json:"restarts"`
	CrashLoop  bool    `json:"crash_loop"`
	LastError  string  `json:"last_error,omitempty"`
	// Registry names the app's registry block ("" for a supervised-only
	// app); Version and Release what current points at.
	Registry   string     `json:"registry,omitempty"`
	Version    string     `json:"version,omitempty"`
	Release    string     `json:"release,omitempty"`
	LastDeploy *Deploy    `json:"last_deploy,omitempty"`
	NextPoll   *time.Time `json:"next_poll,omitempty"`
	// Download is the download under way, if any.
	Download *Download `json:"download,omitempty"`
}

// Download is a release being downloaded.
type Download struct {
	DeployID string `json:"deploy_id"`
	Version  string `json:"version"`
	Bytes    int64  `json:"bytes"`
	// Total is -1 when the registry did not announce the size.
	Total int64 `json:"total"`
}

// Deploy is the outcome of a deploy or rollback.
type Deploy struct {
	// ID is the deploy's ULID, the one in its log lines and events.
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
	// Result is deployed, failed, cut short, nothing to deploy or rolled
	// back.
	Result string    `json:"result"`
	Error  string    `json:"error,omitempty"`
	Detail string    `json:"detail,omitempty"`
	At     time.Time `json:"at"`
}

// Release is one kept release of an app.
type Release struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Current bool   `json:"current"`
	// Failed is why the version is not deployed again ("" when it is not
	// remembered as failed).
	Failed string `json:"failed,omitempty"`
}

// DeployRequest is the body of a deploy.
type DeployRequest struct {
	// Version pins the version to deploy; "" for the newest.
	Version string `json:"version,omitempty"`
}

// SignalRequest is the body of a signal.
type SignalRequest struct {
	// Signal is a name as in the config: HUP, SIGHUP, usr1.
	Signal string `json:"signal"`
}

// Result is the answer of an action.
type Result struct {
	OK      bool    `json:"ok"`
	Message string  `json:"message,omitempty"`
	Deploy  *Deploy `json:"deploy,omitempty"`
}

// errorBody is the answer of a failed request.
type errorBody struct {
	Error string `json:"error"`
}

// Agent is what the control API acts on: the running engine.
type Agent interface {
	Status() Status
	Restart(ctx context.Context, app string) error
	Deploy(ctx context.Context, app, version string) (Deploy, error)
	Rollback(ctx context.Context, app string) (Deploy, error)
	Releases(app string) ([]Release, error)
	// Signal sends the signal named sig (HUP, SIGHUP) to the app's
	// current worker; a name that is not a signal is ErrBadRequest.
	Signal(app, sig string) error
	Reload(ctx context.Context) error
}

// Errors an Agent returns (wrapped) for a request that cannot be served:
// the server answers them with 404 and 409.
var (
	ErrUnknownApp = errors.New("no such app")
	ErrNoRegistry = errors.New("the app is not deployed from a registry")
	ErrBadRequest = errors.New("bad request")
)
