package actions

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Trigger says why an action runs: the signal that was received, or a
// request on the control socket.
type Trigger struct {
	Signal syscall.Signal
	// Via names a trigger that is not a signal ("dewy restart"); it wins
	// over Signal in Cause.
	Via string
	// Version pins the version a deploy action deploys ("" for the
	// newest); only the control socket sets it.
	Version string
}

// Cause is the human reason carried into logs and events: "SIGUSR1",
// "dewy restart".
func (t Trigger) Cause() string {
	if t.Via != "" {
		return t.Via
	}
	return SignalString(t.Signal)
}

// AppInfo is what an action needs to know about an app to pick its targets.
type AppInfo struct {
	Name        string
	Listeners   int
	HasRegistry bool
}

// AppStatus is one app's state, for the status action.
type AppStatus struct {
	Name       string
	State      string
	PID        int
	Generation int
	Uptime     time.Duration
	Restarts   int
	// LastError is why the last start failed ("" once one succeeded).
	LastError string
}

// Event is something people should hear about (the notifiers subscribe to
// these); Kind is a short machine word such as "restarted" or "stopped".
type Event struct {
	Kind    string
	Message string
	Apps    []string
	// Version is the release the event is about ("" for none).
	Version string
	// DeployID is the ULID of the deploy the event belongs to ("" for
	// none): every event of one deploy carries the same.
	DeployID string
	// Failure marks something that went wrong (a notifier's quiet mode
	// keeps these).
	Failure bool
	// Hook is a deploy hook's result, for hook events.
	Hook *HookResult
}

// HookResult is what a deploy hook did.
type HookResult struct {
	// Name is before_deploy or after_deploy.
	Name    string
	Command string
	// ExitCode is the hook's exit status; -1 when it was killed (its
	// timeout) or could not start.
	ExitCode int
	Duration time.Duration
	// Output is the end of its stdout and stderr, interleaved.
	Output string
}

// Target is what actions act on: the running engine. Every method that can
// block takes a context; the Restart, Deploy and Rollback calls block until
// the work is done or failed.
type Target interface {
	Logger() *zerolog.Logger
	Apps() []AppInfo
	// Restart gracefully restarts the named apps (concurrently) and returns
	// the joined errors of the apps that failed.
	Restart(ctx context.Context, apps []string, cause string) error
	// Signal sends sig to the current worker of each named app.
	Signal(apps []string, sig syscall.Signal) error
	Status(apps []string) []AppStatus
	ReopenLogs(apps []string) error
	// Shutdown starts the shutdown sequence; it returns at once.
	Shutdown(cause string)
	// Reload re-reads the config file and applies it, or keeps everything.
	Reload(ctx context.Context) error
	// Deploy checks the apps' registries and deploys what is newer (or
	// trig.Version); Rollback goes back to each app's previous release.
	Deploy(ctx context.Context, apps []string, trig Trigger) error
	Rollback(ctx context.Context, apps []string, trig Trigger) error
	Emit(Event)
}

// Action is one compiled entry of the signal table, ready to run.
type Action interface {
	Spec() Spec
	Run(ctx context.Context, t Target, trig Trigger) error
}

// ErrUnknownApp is returned (wrapped) when an action names an app the
// engine does not run, which can happen after a reload removed it.
var ErrUnknownApp = errors.New("unknown app")

type base struct{ spec Spec }

func (b base) Spec() Spec { return b.spec }

// selectApps returns spec.Apps when set, else every app that pass accepts.
func selectApps(spec Spec, t Target, pass func(AppInfo) bool) []string {
	if len(spec.Apps) > 0 {
		return spec.Apps
	}
	var out []string
	for _, a := range t.Apps() {
		if pass(a) {
			out = append(out, a.Name)
		}
	}
	return out
}

func all(AppInfo) bool                { return true }
func withListeners(a AppInfo) bool    { return a.Listeners > 0 }
func withRegistry(a AppInfo) bool     { return a.HasRegistry }
func newIgnore(s Spec) Action         { return ignoreAction{base{s}} }
func newRestart(s Spec) Action        { return restartAction{base{s}} }
func newShutdown(s Spec) Action       { return shutdownAction{base{s}} }
func newForward(s Spec) Action        { return forwardAction{base{s}} }
func newDeploy(s Spec) Action         { return deployAction{base{s}} }
func newReload(s Spec) Action         { return reloadAction{base{s}} }
func newRollback(s Spec) Action       { return rollbackAction{base{s}} }
func newReopenLogs(s Spec) Action     { return reopenLogsAction{base{s}} }
func newStatus(s Spec) Action         { return statusAction{base{s}} }
func appsOrNone(apps []string) string { return fmt.Sprint(apps) }

type ignoreAction struct{ base }

// Run logs and does nothing: the signal is meant for the apps.
func (ignoreAction) Run(_ context.Context, t Target, trig Trigger) error {
	t.Logger().Info().Str("signal", trig.Cause()).Msg("signal ignored by dewy (the table maps it to ignore)")
	return nil
}

type restartAction struct{ base }

// Run restarts the apps gracefully and emits "restarted by SIGUSR1" when
// every one of them came up.
func (a restartAction) Run(ctx context.Context, t Target, trig Trigger) error {
	apps := selectApps(a.spec, t, withListeners)
	if len(apps) == 0 {
		t.Logger().Warn().Str("signal", trig.Cause()).Msg("restart: no app has listen addresses and the signal block names no apps; nothing to restart")
		return nil
	}
	if err := t.Restart(ctx, apps, trig.Cause()); err != nil {
		t.Emit(Event{Kind: "restart_failed", Message: fmt.Sprintf("restart by %s failed: %v", trig.Cause(), err), Apps: apps, Failure: true})
		return fmt.Errorf("restart %s: %w", appsOrNone(apps), err)
	}
	t.Emit(Event{Kind: "restarted", Message: "restarted by " + trig.Cause(), Apps: apps})
	return nil
}

type shutdownAction struct{ base }

func (shutdownAction) Run(_ context.Context, t Target, trig Trigger) error {
	t.Shutdown(trig.Cause())
	return nil
}

type forwardAction struct{ base }

func (a forwardAction) Run(_ context.Context, t Target, trig Trigger) error {
	sig := a.spec.Send
	if sig == 0 {
		sig = trig.Signal
	}
	apps := selectApps(a.spec, t, all)
	if err := t.Signal(apps, sig); err != nil {
		return fmt.Errorf("forward %s to %s: %w", SignalString(sig), appsOrNone(apps), err)
	}
	t.Logger().Info().Str("signal", trig.Cause()).Str("sent", SignalString(sig)).Strs("apps", apps).Msg("signal forwarded to the apps")
	return nil
}

type deployAction struct{ base }

func (a deployAction) Run(ctx context.Context, t Target, trig Trigger) error {
	return t.Deploy(ctx, selectApps(a.spec, t, withRegistry), trig)
}

type rollbackAction struct{ base }

func (a rollbackAction) Run(ctx context.Context, t Target, trig Trigger) error {
	return t.Rollback(ctx, selectApps(a.spec, t, withRegistry), trig)
}

type reloadAction struct{ base }

func (reloadAction) Run(ctx context.Context, t Target, _ Trigger) error { return t.Reload(ctx) }

type reopenLogsAction struct{ base }

func (a reopenLogsAction) Run(_ context.Context, t Target, _ Trigger) error {
	return t.ReopenLogs(selectApps(a.spec, t, all))
}

type statusAction struct{ base }

func (a statusAction) Run(_ context.Context, t Target, _ Trigger) error {
	for _, s := range t.Status(selectApps(a.spec, t, all)) {
		ev := t.Logger().Info().Str("app", s.Name).Str("state", s.State).Int("generation", s.Generation).Int("restarts", s.Restarts)
		if s.PID > 0 {
			ev = ev.Int("pid", s.PID).Dur("uptime", s.Uptime.Round(time.Second))
		}
		ev.Msg("status")
	}
	return nil
}
