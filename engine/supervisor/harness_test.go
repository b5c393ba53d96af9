package supervisor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/proc"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/engine/supervisor"
	"github.com/dewyhq/dewy/engine/supervisor/internal/testapp"
	"github.com/dewyhq/dewy/internal/testutil"
)

const helperEnv = "SUPERVISOR_TEST_HELPER"

func TestMain(m *testing.M) {
	proc.MaybeRunShim()
	if os.Getenv(testapp.EnvNotifyHelper) == "1" {
		os.Exit(testapp.NotifyHelper())
	}
	if os.Getenv(testapp.EnvRun) == "1" {
		os.Exit(testapp.Main())
	}
	if os.Getenv(helperEnv) == "supervise" {
		os.Exit(superviseHelper())
	}
	os.Exit(m.Run())
}

func exe() string {
	p, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return p
}

// entries returns the log entries whose message contains msg.
func logEntries(b *testutil.SyncBuffer, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if s, _ := m["message"].(string); strings.Contains(s, msg) {
			out = append(out, m)
		}
	}
	return out
}

// harness runs one supervised test app with its own sockets and spawner.
type harness struct {
	t        *testing.T
	app      plan.App
	set      *sockets.Set
	sup      *supervisor.Supervisor
	spawner  *proc.Spawner
	logs     *testutil.SyncBuffer
	behavior string
	appLog   string
	unixPath string

	mu     sync.Mutex
	events []actions.Event

	cancel     context.CancelFunc
	runErr     chan error
	stopSpawn  context.CancelFunc
	spawnerErr chan error
	stopped    bool
	client     *http.Client
}

// newHarness builds the app (TCP on 127.0.0.1:0 and a unix socket, HTTP
// readiness on the generation's own listener) and lets mod change it. The
// app is not started until start.
func newHarness(t *testing.T, behavior string, mod func(*plan.App)) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t:        t,
		logs:     &testutil.SyncBuffer{},
		behavior: filepath.Join(dir, "behavior"),
		appLog:   filepath.Join(dir, "app.log"),
		unixPath: filepath.Join(dir, "app.sock"),
		client:   &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	h.setBehavior(behavior)
	h.app = plan.App{
		Name:    "testapp",
		Command: []string{exe()},
		Env: map[string]string{
			testapp.EnvRun:          "1",
			testapp.EnvBehaviorFile: h.behavior,
			// A race-enabled binary otherwise sleeps 1s at exit.
			"GORACE": "atexit_sleep_ms=0",
		},
		Listen: []plan.ListenAddr{
			{Network: "tcp", Address: "127.0.0.1:0", Raw: "127.0.0.1:0"},
			{Network: "unix", Address: h.unixPath, Raw: "unix:" + h.unixPath},
		},
		Ready:   plan.Ready{HTTP: "/healthz", Timeout: 20 * time.Second, Interval: 50 * time.Millisecond},
		Stop:    plan.Stop{Signal: syscall.SIGTERM, Timeout: 10 * time.Second},
		Restart: plan.RestartPolicy{Policy: "always", Initial: 50 * time.Millisecond, Max: time.Second, Burst: 5, Window: time.Minute, Cooldown: time.Hour},
		Output:  plan.Output{File: h.appLog, MaxSize: 10 << 20, Keep: 1},
	}
	if mod != nil {
		mod(&h.app)
	}
	t.Cleanup(func() {
		h.stop()
		if t.Failed() {
			b, _ := os.ReadFile(h.appLog)
			t.Logf("supervisor log:\n%s\napp output:\n%s", h.logs.String(), b)
		}
	})
	return h
}

func (h *harness) setBehavior(b string) {
	h.t.Helper()
	if err := os.WriteFile(h.behavior, []byte(b), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// start binds the sockets, runs a spawner and the supervisor.
func (h *harness) start() {
	h.t.Helper()
	if len(h.app.Listen) > 0 { // an app without listen addresses gets a nil Set
		set, err := sockets.Bind(context.Background(), h.app.Listen)
		if err != nil {
			h.t.Fatal(err)
		}
		h.set = set
	}
	h.startSpawner()
	h.startSupervisor()
}

func (h *harness) startSpawner() {
	h.spawner = proc.NewSpawner(proc.SpawnerOptions{Shim: exe()})
	sctx, scancel := context.WithCancel(context.Background())
	h.stopSpawn, h.spawnerErr = scancel, make(chan error, 1)
	go func() { h.spawnerErr <- h.spawner.Run(sctx) }()
}

func (h *harness) startSupervisor() {
	h.sup = supervisor.New(supervisor.Options{
		App:     h.app,
		Sockets: h.set,
		Spawner: h.spawner,
		Logger:  zerolog.New(h.logs),
		Emit: func(e actions.Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.runErr = cancel, make(chan error, 1)
	go func() { h.runErr <- h.sup.Run(ctx) }()
}

// stopSupervisor ends Run and waits for it (bounded).
func (h *harness) stopSupervisor() {
	h.t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.runErr:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(40 * time.Second):
		h.t.Fatal("Run did not return after its context ended")
	}
	h.cancel = nil
}

func (h *harness) stop() {
	if h.stopped {
		return
	}
	h.stopped = true
	h.stopSupervisor()
	if h.stopSpawn != nil {
		h.stopSpawn()
		<-h.spawnerErr
	}
	if h.set != nil {
		_ = h.set.Close()
	}
	h.client.CloseIdleConnections()
}

func (h *harness) tcpAddr() string { return h.set.Addrs()[0].String() }

func (h *harness) waitState(state string) actions.AppStatus {
	h.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		st := h.sup.Status()
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("state %q never reached; status %+v", state, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get fetches / over TCP and parses "gen=N pid=P ...".
func (h *harness) get() (resp map[string]string, err error) {
	r, err := h.client.Get("http://" + h.tcpAddr() + "/")
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if r.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %d: %s", r.StatusCode, b)
	}
	return parseBody(string(b)), nil
}

func parseBody(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func (h *harness) mustGet() map[string]string {
	h.t.Helper()
	m, err := h.get()
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func (h *harness) eventKinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, e.Kind)
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// children lists this process's child pids, and which of them are zombies.
func children(t *testing.T) (all, zombies []int) {
	t.Helper()
	paths, _ := filepath.Glob("/proc/self/task/*/children")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, _ := strconv.Atoi(f)
			all = append(all, pid)
			if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				s := string(st)
				if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) && s[i+2] == 'Z' {
					zombies = append(zombies, pid)
				}
			}
		}
	}
	return all, zombies
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// unixClient talks HTTP over the app's unix socket.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// superviseHelper runs in a child process: it supervises the test app and
// prints the worker's pid once it is running, then waits to be killed.
func superviseHelper() int {
	set, err := sockets.Bind(context.Background(), []plan.ListenAddr{{Network: "tcp", Address: "127.0.0.1:0", Raw: "127.0.0.1:0"}})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	sp := proc.NewSpawner(proc.SpawnerOptions{Shim: exe()})
	go func() { _ = sp.Run(context.Background()) }()
	sup := supervisor.New(supervisor.Options{
		App: plan.App{
			Name:    "victim",
			Command: []string{exe()},
			Env:     map[string]string{testapp.EnvRun: "1", "GORACE": "atexit_sleep_ms=0"},
			Listen:  []plan.ListenAddr{{Network: "tcp", Address: "127.0.0.1:0", Raw: "127.0.0.1:0"}},
			Ready:   plan.Ready{HTTP: "/healthz", Timeout: 20 * time.Second, Interval: 50 * time.Millisecond},
		},
		Sockets: set,
		Spawner: sp,
		Logger:  zerolog.New(os.Stderr),
	})
	go func() { _ = sup.Run(context.Background()) }()
	deadline := time.Now().Add(30 * time.Second)
	for sup.Status().State != supervisor.StateRunning {
		if time.Now().After(deadline) {
			fmt.Println("error never running")
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("pid=%d\n", sup.Status().PID)
	select {}
}
