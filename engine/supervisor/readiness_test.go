package supervisor_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/engine/supervisor"
	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// startWithHeldProbe binds the app's sockets (one TCP address, as listen),
// points the readiness probe at that held address (through probe, given
// the bound port), then starts the supervisor.
func startWithHeldProbe(t *testing.T, behavior, listen string, probe func(port string) plan.Ready) *harness {
	t.Helper()
	h := newHarness(t, behavior, func(a *plan.App) {
		a.Listen = []plan.ListenAddr{{Network: "tcp", Address: listen, Raw: listen}}
		// Long enough for a slow box to start the app, short for the test.
		a.Ready.Timeout = 3 * time.Second
	})
	set, err := sockets.Bind(context.Background(), h.app.Listen)
	if err != nil {
		t.Fatal(err)
	}
	h.set = set
	_, port, _ := net.SplitHostPort(set.Addrs()[0].String())
	r := probe(port)
	r.Timeout, r.Interval = h.app.Ready.Timeout, h.app.Ready.Interval
	h.app.Ready = r
	h.startSpawner()
	h.startSupervisor()
	return h
}

// Reproduced: a probe of the app's own held address was answered by the
// old generation, so a new generation that never served was declared
// ready at once and the old one stopped, leaving nothing to serve. Now an
// answer counts only when a process of the new generation accepted the
// probe's connection: the restart fails and the old generation serves on.
// For tcp, dewy's own held socket accepted into its backlog whatever ran.
func TestHeldAddressProbeNeedsTheNewGeneration(t *testing.T) {
	cases := []struct {
		name   string
		listen string
		probe  func(port string) plan.Ready
	}{
		{"http on the same address", "127.0.0.1:0", func(p string) plan.Ready { return plan.Ready{HTTP: "http://127.0.0.1:" + p + "/healthz"} }},
		{"http on loopback, held on 0.0.0.0", "0.0.0.0:0", func(p string) plan.Ready { return plan.Ready{HTTP: "http://127.0.0.1:" + p + "/healthz"} }},
		{"tcp on the same address", "127.0.0.1:0", func(p string) plan.Ready { return plan.Ready{TCP: "127.0.0.1:" + p} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := startWithHeldProbe(t, "", c.listen, c.probe)
			old := h.waitState(supervisor.StateRunning)
			if old.Generation != 1 {
				t.Fatalf("first generation: %+v", old)
			}

			// The next generation sleeps far beyond the timeout before it
			// serves: only the old one can answer.
			h.setBehavior("delay=1h")
			err := h.sup.Restart(context.Background(), "test")
			if err == nil || !strings.Contains(err.Error(), "not ready within") {
				t.Fatalf("restart into a generation that never serves: %v, want not ready", err)
			}
			if st := h.sup.Status(); st.PID != old.PID || st.State != supervisor.StateRunning {
				t.Errorf("status %+v, want the old generation %d running", st, old.PID)
			}
			if !procfs.Alive(old.PID) {
				t.Fatal("the old generation was stopped")
			}
			if got := len(logEntries(h.logs, "readiness answer not counted; retrying at once")); got == 0 && c.probe("1").TCP == "" {
				t.Errorf("no probe answer was refused as the old generation's")
			}

			// A generation that does serve is proven and takes over.
			h.setBehavior("delay=200ms")
			if err := h.sup.Restart(context.Background(), "test"); err != nil {
				t.Fatalf("restart into a good generation: %v", err)
			}
			st := h.sup.Status()
			if m := h.mustGetAt(st); m["pid"] != strconv.Itoa(st.PID) {
				t.Errorf("served by %v, want the new pid %d", m, st.PID)
			}
		})
	}
}

// mustGetAt fetches / on the harness's first held address as dialled at
// 127.0.0.1, for a wildcard address too.
func (h *harness) mustGetAt(st actions.AppStatus) map[string]string {
	h.t.Helper()
	_, port, _ := net.SplitHostPort(h.set.Addrs()[0].String())
	var m map[string]string
	testutil.Eventually(h.t, "the new generation to answer", 10*time.Second, func() bool {
		r, err := h.client.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		b := make([]byte, 512)
		n, _ := r.Body.Read(b)
		m = parseBody(string(b[:n]))
		return m["pid"] == strconv.Itoa(st.PID)
	})
	return m
}

// Reproduced: a first generation that never served DEWY_READY_FD was
// killed at the timeout and restarted in a backoff loop, leaving gaps with
// nothing running. A first generation has nothing to fall back to: it
// keeps running, is reported not ready, and the log says which contract
// it missed.
func TestFirstGenerationNotReadyKeepsRunning(t *testing.T) {
	h := newHarness(t, "no-ready-socket", func(a *plan.App) { a.Ready.Timeout = 1500 * time.Millisecond })
	h.start()
	st := h.waitState(supervisor.StateNotReady)
	if st.PID == 0 || st.Generation != 1 {
		t.Fatalf("not-ready status %+v", st)
	}
	// Still the same process well after the timeout, still serving its
	// held socket, and never restarted.
	time.Sleep(2 * time.Second)
	if now := h.sup.Status(); now.PID != st.PID || now.State != supervisor.StateNotReady || now.Restarts != 0 {
		t.Errorf("after the timeout: %+v, want pid %d kept, not ready", now, st.PID)
	}
	if m := h.mustGet(); m["pid"] != strconv.Itoa(st.PID) {
		t.Errorf("served by %v", m)
	}
	if !contains(h.eventKinds(), supervisor.EventNotReady) {
		t.Errorf("events %v lack %s", h.eventKinds(), supervisor.EventNotReady)
	}
	lines := logEntries(h.logs, "generation not ready; it keeps running")
	if len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "DEWY_READY_FD") {
		t.Errorf("want one not-ready line naming DEWY_READY_FD, got %v", lines)
	}
}

// Reproduced: the old generation ignores its stop signal and drains, the
// new one exits after 0.5 s: Restart returned success with the app in
// backoff and no pid. Now the restart fails, and the app is brought back
// by its restart policy.
func TestRestartFailsWhenTheNewGenerationDiesWhileTheOldDrains(t *testing.T) {
	h := newHarness(t, "ignore-term", func(a *plan.App) { a.Stop.Timeout = 5 * time.Second })
	h.start()
	old := h.waitState(supervisor.StateRunning)

	h.setBehavior("exit-after=500ms")
	err := h.sup.Restart(context.Background(), "test")
	if err == nil || !strings.Contains(err.Error(), "while generation 1 was stopping") {
		t.Fatalf("Restart = %v, want a failure naming the draining generation", err)
	}
	if contains(h.eventKinds(), supervisor.EventGenerationFailed) == false {
		t.Errorf("events %v lack %s", h.eventKinds(), supervisor.EventGenerationFailed)
	}
	h.setBehavior("")
	st := h.waitState(supervisor.StateRunning)
	if st.PID == old.PID || st.Generation < 3 {
		t.Errorf("after the failed restart: %+v, want a new generation brought back", st)
	}
}
