package actions

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"
)

// recorder is a Target that records what actions ask of it. The engine's
// real Target is tested with real processes in engine/; this one tests the
// actions' own logic: which apps, which signal, which event.
type recorder struct {
	apps    []AppInfo
	calls   []string
	events  []Event
	failFor string
	log     zerolog.Logger
	logBuf  strings.Builder
}

func newRecorder() *recorder {
	r := &recorder{apps: []AppInfo{
		{Name: "api", Listeners: 2, HasRegistry: true},
		{Name: "web", Listeners: 1},
		{Name: "worker"},
	}}
	r.log = zerolog.New(&r.logBuf)
	return r
}

func (r *recorder) Logger() *zerolog.Logger { return &r.log }
func (r *recorder) Apps() []AppInfo         { return r.apps }
func (r *recorder) Restart(_ context.Context, apps []string, cause string) error {
	r.calls = append(r.calls, "restart "+strings.Join(apps, ",")+" by "+cause)
	if r.failFor != "" {
		return errors.New(r.failFor + " not ready")
	}
	return nil
}
func (r *recorder) Signal(apps []string, sig syscall.Signal) error {
	r.calls = append(r.calls, "signal "+strings.Join(apps, ",")+" "+SignalString(sig))
	return nil
}
func (r *recorder) Status(apps []string) []AppStatus {
	r.calls = append(r.calls, "status "+strings.Join(apps, ","))
	var out []AppStatus
	for _, a := range apps {
		out = append(out, AppStatus{Name: a, State: "running", PID: 42, Generation: 3})
	}
	return out
}
func (r *recorder) ReopenLogs(apps []string) error {
	r.calls = append(r.calls, "reopen "+strings.Join(apps, ","))
	return nil
}
func (r *recorder) Shutdown(cause string) { r.calls = append(r.calls, "shutdown by "+cause) }
func (r *recorder) Reload(context.Context) error {
	r.calls = append(r.calls, "reload")
	return nil
}
func (r *recorder) Deploy(_ context.Context, apps []string, _ Trigger) error {
	r.calls = append(r.calls, "deploy "+strings.Join(apps, ","))
	return nil
}
func (r *recorder) Rollback(_ context.Context, apps []string, _ Trigger) error {
	r.calls = append(r.calls, "rollback "+strings.Join(apps, ","))
	return nil
}
func (r *recorder) Emit(e Event) { r.events = append(r.events, e) }

func TestActions(t *testing.T) {
	tests := []struct {
		name      string
		spec      Spec
		sig       syscall.Signal
		failFor   string
		wantCalls []string
		wantEvent string
		wantErr   bool
		wantLog   string
	}{
		{name: "ignore does nothing but log", spec: Spec{Name: Ignore}, sig: syscall.SIGHUP, wantLog: "signal ignored"},
		{name: "restart defaults to apps with listeners", spec: Spec{Name: Restart}, sig: syscall.SIGUSR1,
			wantCalls: []string{"restart api,web by SIGUSR1"}, wantEvent: "restarted by SIGUSR1"},
		{name: "restart of named apps", spec: Spec{Name: Restart, Apps: []string{"worker"}}, sig: syscall.SIGUSR2,
			wantCalls: []string{"restart worker by SIGUSR2"}, wantEvent: "restarted by SIGUSR2"},
		{name: "a failed restart emits restart_failed", spec: Spec{Name: Restart}, sig: syscall.SIGUSR1, failFor: "api",
			wantCalls: []string{"restart api,web by SIGUSR1"}, wantEvent: "restart by SIGUSR1 failed: api not ready", wantErr: true},
		{name: "forward sends the received signal to every app", spec: Spec{Name: Forward}, sig: syscall.SIGHUP,
			wantCalls: []string{"signal api,web,worker SIGHUP"}},
		{name: "forward with send", spec: Spec{Name: Forward, Send: syscall.SIGUSR2, Apps: []string{"web"}}, sig: syscall.SIGHUP,
			wantCalls: []string{"signal web SIGUSR2"}},
		{name: "shutdown names its cause", spec: Spec{Name: Shutdown}, sig: syscall.SIGTERM, wantCalls: []string{"shutdown by SIGTERM"}},
		{name: "deploy defaults to apps with a registry", spec: Spec{Name: Deploy}, sig: syscall.SIGUSR2, wantCalls: []string{"deploy api"}},
		{name: "rollback", spec: Spec{Name: Rollback, Apps: []string{"api"}}, sig: syscall.SIGUSR2, wantCalls: []string{"rollback api"}},
		{name: "reload", spec: Spec{Name: Reload}, sig: syscall.SIGHUP, wantCalls: []string{"reload"}},
		{name: "reopen_logs", spec: Spec{Name: ReopenLogs}, sig: syscall.SIGUSR2, wantCalls: []string{"reopen api,web,worker"}},
		{name: "status logs one line per app", spec: Spec{Name: Status}, sig: syscall.SIGWINCH,
			wantCalls: []string{"status api,web,worker"}, wantLog: `"app":"worker","state":"running","generation":3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder()
			r.failFor = tt.failFor
			err := Build(tt.spec).Run(context.Background(), r, Trigger{Signal: tt.sig})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantCalls, r.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if tt.wantEvent != "" && (len(r.events) != 1 || r.events[0].Message != tt.wantEvent) {
				t.Errorf("events %+v, want %q", r.events, tt.wantEvent)
			}
			if tt.wantEvent == "" && len(r.events) != 0 {
				t.Errorf("unexpected events %+v", r.events)
			}
			if tt.wantLog != "" && !strings.Contains(r.logBuf.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", r.logBuf.String(), tt.wantLog)
			}
		})
	}
}

func TestRestartWithoutListenersWarnsAndDoesNothing(t *testing.T) {
	r := newRecorder()
	r.apps = []AppInfo{{Name: "worker"}}
	if err := Build(Spec{Name: Restart}).Run(context.Background(), r, Trigger{Signal: syscall.SIGUSR1}); err != nil {
		t.Fatal(err)
	}
	if len(r.calls) != 0 || !strings.Contains(r.logBuf.String(), "nothing to restart") {
		t.Errorf("calls %v log %q", r.calls, r.logBuf.String())
	}
}

func TestVocabulary(t *testing.T) {
	names := Names()
	want := []string{"deploy", "forward", "ignore", "reload", "reopen_logs", "restart", "rollback", "shutdown", "status"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Error(diff)
	}
	for _, d := range Vocabulary() {
		if d.Doc == "" || d.New == nil {
			t.Errorf("%s: missing doc or constructor", d.Name)
		}
		if d.New(Spec{Name: d.Name}).Spec().Name != d.Name {
			t.Errorf("%s: built action has another name", d.Name)
		}
	}
	if d, _ := Lookup("forward"); !d.Accepts(ParamSend) || !d.Accepts(ParamApps) {
		t.Error("forward must take send and apps")
	}
	if d, _ := Lookup("shutdown"); d.Accepts(ParamApps) {
		t.Error("shutdown takes no apps")
	}
}

func TestSpecString(t *testing.T) {
	s := Spec{Name: Forward, Send: syscall.SIGHUP, Apps: []string{"a", "b"}}
	if got := s.String(); got != "forward send=SIGHUP apps=[a,b]" {
		t.Errorf("got %q", got)
	}
	if !s.Equal(Spec{Name: Forward, Send: syscall.SIGHUP, Apps: []string{"a", "b"}}) || s.Equal(Spec{Name: Forward}) {
		t.Error("Equal")
	}
}
