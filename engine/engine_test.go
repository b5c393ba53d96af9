package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/event"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/proc"
	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// httpserverBin is examples/apps/httpserver, built once for the package.
var httpserverBin string

func TestMain(m *testing.M) {
	proc.MaybeRunShim()
	dir, err := os.MkdirTemp("", "dewy-engine-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	httpserverBin = filepath.Join(dir, "httpserver")
	build := exec.Command("go", "build", "-o", httpserverBin, "github.com/dewyhq/dewy/examples/apps/httpserver")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build httpserver:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// httpApp is the example HTTP app on addr, its output in a file.
func httpApp(t *testing.T, name, addr string) plan.App {
	return plan.App{
		Name:    name,
		Command: []string{httpserverBin, "-startup-delay", "50ms", "-first-request-grace", "200ms"},
		Listen:  []plan.ListenAddr{{Network: "tcp", Address: addr, Raw: addr}},
		Ready:   plan.Ready{HTTP: "/healthz", Timeout: 20 * time.Second, Interval: 20 * time.Millisecond},
		Stop:    plan.Stop{Signal: syscall.SIGTERM, Timeout: 10 * time.Second},
		Restart: plan.RestartPolicy{Policy: "always", Initial: 100 * time.Millisecond, Max: time.Second, Burst: 5, Window: time.Minute, Cooldown: time.Minute},
		Output:  plan.Output{File: filepath.Join(t.TempDir(), name+".log"), MaxSize: 10 << 20, Keep: 1},
	}
}

func planOf(apps []plan.App, overrides ...plan.SignalEntry) *plan.Plan {
	return &plan.Plan{Apps: apps, Signals: plan.NewSignalTable(overrides)}
}

// harness runs an engine in the background with a signal channel.
type harness struct {
	t    *testing.T
	e    *Engine
	sigs chan os.Signal
	sub  *event.Subscription
	// done is closed when Run has returned, with its error in err.
	done   chan struct{}
	err    error
	logBuf *testutil.SyncBuffer
}

func start(t *testing.T, p *plan.Plan, reload func(context.Context) (*plan.Plan, error)) *harness {
	t.Helper()
	h := &harness{t: t, sigs: make(chan os.Signal, 256), done: make(chan struct{}), logBuf: &testutil.SyncBuffer{}}
	bus := event.NewBus()
	h.sub = bus.Subscribe(1024)
	log := zerolog.New(io.MultiWriter(h.logBuf, zerologTestWriter{t})).Level(zerolog.DebugLevel)
	h.e = New(Options{Plan: p, Signals: h.sigs, Reload: reload, Logger: log, Events: bus, Shim: os.Args[0], Environ: os.Environ()})
	go func() { h.err = h.e.Run(context.Background()); close(h.done) }()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.sigs <- syscall.SIGTERM
			h.sigs <- syscall.SIGINT
			select {
			case <-h.done:
			case <-time.After(30 * time.Second):
				t.Error("engine did not stop")
			}
		}
	})
	return h
}

type zerologTestWriter struct{ t *testing.T }

func (w zerologTestWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// get fetches / and returns the body ("pid=… generation=…").
func get(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), err
}

func (h *harness) status(app string) actions.AppStatus {
	t := &target{e: h.e}
	for _, s := range t.Status([]string{app}) {
		return s
	}
	return actions.AppStatus{}
}

func (h *harness) waitRunning(app string) actions.AppStatus {
	h.t.Helper()
	testutil.Eventually(h.t, app+" running", 30*time.Second, func() bool { return h.status(app).State == "running" })
	return h.status(app)
}

// waitEvent returns the first event of kind, skipping others.
func (h *harness) waitEvent(kind string) event.Event {
	h.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-h.sub.C:
			if ev.Kind == kind {
				return ev
			}
		case <-timeout:
			h.t.Fatalf("no %q event", kind)
		}
	}
}

func TestHUPByDefaultLeavesDewyAndTheAppAlone(t *testing.T) {
	addr := freePort(t)
	app := httpApp(t, "web", addr)
	h := start(t, planOf([]plan.App{app}), nil)
	before := h.waitRunning("web")

	h.sigs <- syscall.SIGHUP
	h.sigs <- syscall.SIGWINCH // no entry: logged, nothing else
	testutil.Eventually(t, "the ignore action's log line", 10*time.Second, func() bool {
		return strings.Contains(h.logBuf.String(), "signal ignored by dewy")
	})
	if _, err := get(addr); err != nil {
		t.Fatalf("app not serving after HUP: %v", err)
	}
	after := h.status("web")
	if after.PID != before.PID || after.Generation != 1 {
		t.Errorf("app changed on HUP: %+v -> %+v", before, after)
	}
	out, _ := os.ReadFile(app.Output.File)
	if strings.Contains(string(out), "SIGHUP") {
		t.Errorf("the app received HUP under the default table:\n%s", out)
	}
	testutil.Eventually(t, "the no-entry warning for WINCH", 10*time.Second, func() bool {
		return strings.Contains(h.logBuf.String(), `"level":"warn","signal":"SIGWINCH","message":"no action for SIGWINCH; ignored"`)
	})
	if !strings.Contains(h.logBuf.String(), `"message":"received signal"`) || !strings.Contains(h.logBuf.String(), `"signal":"SIGHUP"`) {
		t.Errorf("no received-signal log line with the signal name")
	}
}

func TestForwardHUPReachesTheApp(t *testing.T) {
	addr := freePort(t)
	app := httpApp(t, "web", addr)
	h := start(t, planOf([]plan.App{app}, plan.SignalEntry{Signal: syscall.SIGHUP, Action: actions.Spec{Name: actions.Forward}, Origin: "test"}), nil)
	before := h.waitRunning("web")
	h.sigs <- syscall.SIGHUP
	testutil.Eventually(t, "the app to log SIGHUP", 10*time.Second, func() bool {
		out, _ := os.ReadFile(app.Output.File)
		return strings.Contains(string(out), "SIGHUP ignored")
	})
	if after := h.status("web"); after.PID != before.PID {
		t.Errorf("forwarding HUP restarted the app: %+v -> %+v", before, after)
	}
}

func TestUSR1RestartsGracefullyAndEmitsTheEvent(t *testing.T) {
	addr := freePort(t)
	h := start(t, planOf([]plan.App{httpApp(t, "web", addr)}), nil)
	before := h.waitRunning("web")
	h.sigs <- syscall.SIGUSR1
	ev := h.waitEvent("restarted")
	if ev.Message != "restarted by SIGUSR1" || len(ev.Apps) != 1 || ev.Apps[0] != "web" {
		t.Errorf("event %+v", ev)
	}
	body, err := get(addr)
	if err != nil || !strings.Contains(body, "generation=2") {
		t.Errorf("after restart: %q %v", body, err)
	}
	testutil.Eventually(t, "old generation gone", 15*time.Second, func() bool { return !procfs.Alive(before.PID) })
}

// A storm of 200 USR1 signals runs at most one restart plus one pending:
// the generation ends at 2 or 3, never 200.
func TestSignalStormIsCoalesced(t *testing.T) {
	addr := freePort(t)
	h := start(t, planOf([]plan.App{httpApp(t, "web", addr)}), nil)
	h.waitRunning("web")
	for i := 0; i < 200; i++ {
		h.sigs <- syscall.SIGUSR1
	}
	h.waitEvent("restarted")
	// Let the one pending run finish, then check nothing else is queued.
	time.Sleep(500 * time.Millisecond)
	st := h.waitRunning("web")
	testutil.Eventually(t, "restarts to settle", 30*time.Second, func() bool {
		s := h.status("web")
		time.Sleep(300 * time.Millisecond)
		return s.Generation == h.status("web").Generation && h.status("web").State == "running"
	})
	st = h.status("web")
	if st.Generation < 2 || st.Generation > 3 {
		t.Errorf("generation %d after a storm of 200 USR1: want 2 or 3 (one restart running plus one pending)", st.Generation)
	}
	if _, err := get(addr); err != nil {
		t.Errorf("not serving after the storm: %v", err)
	}
}

func TestShutdownStopsAppsInOrderAndExitsCleanly(t *testing.T) {
	addr := freePort(t)
	h := start(t, planOf([]plan.App{httpApp(t, "a", addr), httpApp(t, "b", freePort(t))}), nil)
	a := h.waitRunning("a")
	b := h.waitRunning("b")
	h.sigs <- syscall.SIGTERM
	ev := h.waitEvent("stopped")
	if ev.Message != "stopped by SIGTERM" {
		t.Errorf("stop event %q", ev.Message)
	}
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatalf("Run: %v", h.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("engine did not stop")
	}
	if procfs.Alive(a.PID) || procfs.Alive(b.PID) {
		t.Errorf("apps alive after shutdown")
	}
	log := h.logBuf.String()
	if i, j := strings.Index(log, "scheduler stopped"), strings.Index(log, "stopping the app"); i < 0 || j < 0 || i > j {
		t.Errorf("the scheduler must stop before the apps")
	}
	// The held socket is closed: nothing listens any more.
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts after shutdown", addr)
	}
}

// A second shutdown signal kills an app that ignores its stop signal at
// once instead of waiting for the stop timeout.
func TestSecondShutdownSignalKills(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "trapped")
	stubborn := plan.App{
		Name:    "stubborn",
		Command: []string{"/bin/sh", "-c", "trap '' TERM; touch \"$0\"; while :; do sleep 0.1; done", mark},
		Ready:   plan.Ready{Delay: 100 * time.Millisecond, Timeout: 10 * time.Second, Interval: 50 * time.Millisecond},
		Stop:    plan.Stop{Signal: syscall.SIGTERM, Timeout: 5 * time.Minute},
		Restart: plan.RestartPolicy{Policy: "never", Initial: time.Second, Max: time.Second, Burst: 5, Window: time.Minute, Cooldown: time.Minute},
	}
	h := start(t, planOf([]plan.App{stubborn}), nil)
	st := h.waitRunning("stubborn")
	// TERM only once the shell has set its trap.
	testutil.Eventually(t, "the trap to be set", 10*time.Second, func() bool { _, err := os.Stat(mark); return err == nil })
	h.sigs <- syscall.SIGTERM
	time.Sleep(300 * time.Millisecond)
	if !procfs.Alive(st.PID) {
		t.Fatal("the app died of TERM although it traps it")
	}
	h.sigs <- syscall.SIGINT
	select {
	case <-h.done:
		if h.err != nil {
			t.Fatal(h.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("second shutdown signal did not end dewy (stop timeout is 5 minutes)")
	}
	if procfs.Alive(st.PID) {
		t.Error("app alive after the second shutdown signal")
	}
}

func TestReload(t *testing.T) {
	addrA, addrB := freePort(t), freePort(t)
	a, b := httpApp(t, "a", addrA), httpApp(t, "b", addrB)
	var mu sync.Mutex
	var next *plan.Plan
	var nextErr error
	reload := func(context.Context) (*plan.Plan, error) {
		mu.Lock()
		defer mu.Unlock()
		return next, nextErr
	}
	h := start(t, planOf([]plan.App{a, b}), reload)
	h.waitRunning("a")
	stB := h.waitRunning("b")
	h.e.o.Register = func(...os.Signal) {}

	// A file with errors changes nothing.
	mu.Lock()
	nextErr = errors.New("dewy.hcl:3:14: Invalid duration")
	mu.Unlock()
	if err := h.e.reload(context.Background()); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	stA := h.status("a")
	if stA.Generation != 1 || h.status("b").PID != stB.PID {
		t.Fatalf("a failed reload changed apps")
	}

	// A good file: a changes (env), b is unchanged, c is new; only a restarts.
	a2 := a
	a2.Env = map[string]string{"RELOADED": "1"}
	c := httpApp(t, "c", freePort(t))
	mu.Lock()
	next, nextErr = planOf([]plan.App{a2, b, c}, plan.SignalEntry{Signal: syscall.SIGUSR2, Action: actions.Spec{Name: actions.Status}, Origin: "test"}), nil
	mu.Unlock()
	if err := h.e.reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := h.status("b"); got.PID != stB.PID {
		t.Errorf("unchanged app b was restarted: %d -> %d", stB.PID, got.PID)
	}
	if got := h.status("a"); got.PID == stA.PID || got.State != "running" || got.Generation != stA.Generation+1 {
		t.Errorf("changed app a was not replaced by generation %d: %+v", stA.Generation+1, got)
	}
	testutil.Eventually(t, "old a gone", 15*time.Second, func() bool { return !procfs.Alive(stA.PID) })
	h.waitRunning("c")
	if _, err := get(addrA); err != nil {
		t.Errorf("a not serving after reload: %v", err)
	}
	if _, ok := h.e.plan.Signals.Lookup(syscall.SIGUSR2); !ok {
		t.Errorf("the new signal table was not applied")
	}

	// Removing an app stops it and closes its socket.
	stC := h.status("c")
	mu.Lock()
	next = planOf([]plan.App{a2, b})
	mu.Unlock()
	if err := h.e.reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if procfs.Alive(stC.PID) {
		t.Error("removed app c still runs")
	}
}

// A reload whose changed app cannot start keeps the old one serving.
func TestReloadWithABrokenNewDefinitionKeepsTheOld(t *testing.T) {
	addr := freePort(t)
	a := httpApp(t, "a", addr)
	broken := a
	broken.Command = []string{"/bin/sh", "-c", "exit 3"}
	broken.Ready.Timeout = 2 * time.Second
	reload := func(context.Context) (*plan.Plan, error) { return planOf([]plan.App{broken}), nil }
	h := start(t, planOf([]plan.App{a}), reload)
	before := h.waitRunning("a")
	h.e.o.Register = func(...os.Signal) {}
	if err := h.e.reload(context.Background()); err == nil {
		t.Fatal("reload to a broken app succeeded")
	}
	if got := h.status("a"); got.PID != before.PID || got.State != "running" {
		t.Errorf("the old app did not keep running: %+v", got)
	}
	if _, err := get(addr); err != nil {
		t.Errorf("not serving: %v", err)
	}
}

// A shutdown while the first generation is still starting stops it with
// its stop signal, like any other: not SIGKILL.
func TestShutdownDuringStartupIsGraceful(t *testing.T) {
	app := httpApp(t, "slow", freePort(t))
	app.Command = []string{httpserverBin, "-startup-delay", "3s"}
	h := start(t, planOf([]plan.App{app}), nil)
	testutil.Eventually(t, "the app to be in its slow start", 10*time.Second, func() bool {
		b, _ := os.ReadFile(app.Output.File)
		return strings.Contains(string(b), "starting slowly")
	})
	h.sigs <- syscall.SIGTERM
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		t.Fatal("engine did not stop")
	}
	log := h.logBuf.String()
	if !strings.Contains(log, `"exit":"exit status 0"`) || strings.Contains(log, "signal: killed") {
		t.Errorf("the starting generation was not stopped gracefully:\n%s", log)
	}
}

// A TERM during a reload whose load takes long (a huge file) wins: the
// engine stops the apps and returns without waiting for the load, whose
// context ends.
func TestTERMDuringASlowReloadWins(t *testing.T) {
	app := httpApp(t, "web", freePort(t))
	loading := make(chan struct{})
	abandoned := make(chan struct{})
	reload := func(ctx context.Context) (*plan.Plan, error) {
		close(loading)
		select {
		case <-ctx.Done():
			close(abandoned)
			return nil, ctx.Err()
		case <-time.After(time.Hour):
			return nil, errors.New("the load was not abandoned")
		}
	}
	h := start(t, planOf([]plan.App{app}, plan.SignalEntry{Signal: syscall.SIGHUP, Action: actions.Spec{Name: actions.Reload}, Origin: "test"}), reload)
	h.waitRunning("web")
	h.sigs <- syscall.SIGHUP
	<-loading
	h.sigs <- syscall.SIGTERM
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the engine waited for the reload's load instead of shutting down")
	}
	select {
	case <-abandoned:
	default:
		t.Error("the reload's context did not end with the shutdown")
	}
	if !strings.Contains(h.logBuf.String(), "action cut short by the shutdown") {
		t.Errorf("no log line says the reload was cut short:\n%s", h.logBuf.String())
	}
}
