package engine

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

func la(addr string) plan.ListenAddr {
	return plan.ListenAddr{Network: "tcp", Address: addr, Raw: addr}
}

func appOn(name string, addrs ...string) plan.App {
	a := plan.App{Name: name, Command: []string{"/bin/true"}}
	for _, x := range addrs {
		a.Listen = append(a.Listen, la(x))
	}
	return a
}

// TestPlanReload: a reload as data, before anything runs.
func TestPlanReload(t *testing.T) {
	changedEnv := appOn("a", "127.0.0.1:1")
	changedEnv.Env = map[string]string{"X": "1"}
	type want struct {
		Steps  map[string]string
		Bind   []string
		Unused []string
	}
	cases := []struct {
		name    string
		running []plan.App
		next    []plan.App
		want    want
	}{
		{"nothing changes", []plan.App{appOn("a", "127.0.0.1:1")}, []plan.App{appOn("a", "127.0.0.1:1")},
			want{Steps: map[string]string{"a": "keep"}}},
		{"env changes: replaced on the same socket", []plan.App{appOn("a", "127.0.0.1:1")}, []plan.App{changedEnv},
			want{Steps: map[string]string{"a": "replace"}}},
		{"listen moves to a new port", []plan.App{appOn("a", "127.0.0.1:1")}, []plan.App{appOn("a", "127.0.0.1:2")},
			want{Steps: map[string]string{"a": "replace"}, Bind: []string{"127.0.0.1:2"}, Unused: []string{"tcp 127.0.0.1:1"}}},
		{"rename keeps the socket", []plan.App{appOn("a", "127.0.0.1:1")}, []plan.App{appOn("b", "127.0.0.1:1")},
			want{Steps: map[string]string{"a": "remove", "b": "add"}}},
		{"an address moves to another app", []plan.App{appOn("a", "127.0.0.1:1", "127.0.0.1:2"), appOn("b", "127.0.0.1:3")},
			[]plan.App{appOn("a", "127.0.0.1:1"), appOn("b", "127.0.0.1:3", "127.0.0.1:2")},
			want{Steps: map[string]string{"a": "replace", "b": "replace"}}},
		{"new app, removed app", []plan.App{appOn("a", "127.0.0.1:1")}, []plan.App{appOn("c", "127.0.0.1:4")},
			want{Steps: map[string]string{"a": "remove", "c": "add"}, Bind: []string{"127.0.0.1:4"}, Unused: []string{"tcp 127.0.0.1:1"}}},
		{"two new apps never bind one address twice", nil, []plan.App{appOn("c", "127.0.0.1:4"), appOn("d")},
			want{Steps: map[string]string{"c": "add", "d": "add"}, Bind: []string{"127.0.0.1:4"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			running := map[string]plan.App{}
			held := map[string]bool{}
			for _, a := range c.running {
				running[a.Name] = a
				for _, l := range a.Listen {
					held[sockets.Key(l)] = true
				}
			}
			rp := planReload(running, held, planOf(c.running), planOf(c.next))
			got := want{Steps: map[string]string{}}
			for _, st := range rp.steps {
				got.Steps[st.name] = st.change.String()
			}
			for _, b := range rp.bind {
				got.Bind = append(got.Bind, b.Raw)
			}
			got.Unused = rp.unused
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
		})
	}
}

func TestPlanReloadAgentSettings(t *testing.T) {
	cur, next := planOf(nil), planOf(nil)
	cur.Agent = plan.Agent{LogLevel: "info", LogFormat: "console", StateDir: "/a"}
	next.Agent = plan.Agent{LogLevel: "debug", LogFormat: "console", StateDir: "/b"}
	rp := planReload(nil, nil, cur, next)
	if d := cmp.Diff([]string{"log_level"}, rp.agentLive); d != "" {
		t.Errorf("live settings (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"state_dir"}, rp.agentRestart); d != "" {
		t.Errorf("restart settings (-want +got):\n%s", d)
	}
}

// reloadHarness is an engine whose next reload returns next.
type reloadHarness struct {
	*harness
	mu   sync.Mutex
	next *plan.Plan
}

func startReloadable(t *testing.T, p *plan.Plan) *reloadHarness {
	r := &reloadHarness{}
	r.harness = start(t, p, func(context.Context) (*plan.Plan, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.next, nil
	})
	r.e.o.Register = func(...os.Signal) {}
	return r
}

func (r *reloadHarness) reloadTo(p *plan.Plan) error {
	r.mu.Lock()
	r.next = p
	r.mu.Unlock()
	return r.e.reload(context.Background())
}

func (r *reloadHarness) planned(app string) (plan.App, bool) {
	var a plan.App
	var ok bool
	r.e.call(func() { a, ok = r.e.plan.App(app) })
	return a, ok
}

// Reproduced: moving an app's listen to a port another process holds
// retired the old supervisor and closed its socket before the bind, which
// failed; the app was gone, its old port refused connections, and the next
// USR1 said "unknown app". Now the bind comes first and its failure
// changes nothing.
func TestReloadToABusyPortChangesNothing(t *testing.T) {
	addr := freePort(t)
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	a := httpApp(t, "a", addr)
	h := startReloadable(t, planOf([]plan.App{a}))
	before := h.waitRunning("a")

	moved := httpApp(t, "a", busy.Addr().String())
	moved.Output = a.Output
	err = h.reloadTo(planOf([]plan.App{moved}))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload to a busy port: %v, want address already in use", err)
	}
	if got := h.status("a"); got.PID != before.PID || got.State != "running" {
		t.Errorf("the app did not keep running: %+v (was %+v)", got, before)
	}
	if _, err := get(addr); err != nil {
		t.Errorf("the old port stopped serving: %v", err)
	}
	if p, _ := h.planned("a"); len(p.Listen) != 1 || p.Listen[0].Address != addr {
		t.Errorf("the plan changed: %+v", p.Listen)
	}
	// The app is still known: a restart works.
	if err := (&target{e: h.e}).Restart(context.Background(), []string{"a"}, "test"); err != nil {
		t.Fatalf("restart after the failed reload: %v", err)
	}
	if _, err := get(addr); err != nil {
		t.Errorf("not serving after the restart: %v", err)
	}
}

// Renaming an app hands its socket to the new name without a moment of
// downtime; so does moving an address from one app to another. Reproduced
// before: both failed with "address already in use".
func TestReloadRenameAndMoveAddressUnderLoad(t *testing.T) {
	addr1, addr2, addr3 := freePort(t), freePort(t), freePort(t)
	a := httpApp(t, "a", addr1)
	a.Listen = append(a.Listen, la(addr2))
	b := httpApp(t, "b", addr3)
	h := startReloadable(t, planOf([]plan.App{a, b}))
	stA := h.waitRunning("a")
	h.waitRunning("b")

	loads := []*testutil.Load{
		testutil.StartLoad("http://"+addr1+"/", 2),
		testutil.StartLoad("http://"+addr2+"/", 2),
		testutil.StartLoad("http://"+addr3+"/", 2),
	}
	time.Sleep(200 * time.Millisecond)

	// addr2 moves from a to b.
	a2 := httpApp(t, "a", addr1)
	a2.Output = a.Output
	b2 := httpApp(t, "b", addr3)
	b2.Output = b.Output
	b2.Listen = append(b2.Listen, la(addr2))
	if err := h.reloadTo(planOf([]plan.App{a2, b2})); err != nil {
		t.Fatalf("move an address from a to b: %v", err)
	}
	testutil.Eventually(t, "a's old generation gone", 15*time.Second, func() bool { return !procfs.Alive(stA.PID) })
	time.Sleep(200 * time.Millisecond)

	// a is renamed to c, on the same address.
	c := a2
	c.Name = "c"
	if err := h.reloadTo(planOf([]plan.App{b2, c})); err != nil {
		t.Fatalf("rename a to c: %v", err)
	}
	time.Sleep(300 * time.Millisecond)

	for i, l := range loads {
		ok, failed, first := l.Stop()
		if failed != 0 || ok == 0 {
			t.Errorf("load %d: %d ok, %d failed (first: %v)", i, ok, failed, first)
		}
	}
	if _, ok := h.planned("a"); ok {
		t.Error("a still planned after the rename")
	}
	h.waitRunning("c")
	h.waitRunning("b")
	for _, addr := range []string{addr1, addr2, addr3} {
		if _, err := get(addr); err != nil {
			t.Errorf("%s not served after the reloads: %v", addr, err)
		}
	}
}

// Reproduced: a reload during a restart gave two live processes the same
// SERVER_STARTER_GENERATION. Generations of one app share one counter
// across supervisors, so no number is used twice.
func TestGenerationNumbersNeverRepeatAcrossReloads(t *testing.T) {
	addr := freePort(t)
	a := httpApp(t, "a", addr)
	h := startReloadable(t, planOf([]plan.App{a}))
	h.waitRunning("a")
	tg := &target{e: h.e}
	for i := 0; i < 3; i++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = tg.Restart(context.Background(), []string{"a"}, "test")
		}()
		time.Sleep(20 * time.Millisecond)
		next := httpApp(t, "a", addr)
		next.Output = a.Output
		next.Env = map[string]string{"ROUND": string(rune('0' + i))}
		if err := h.reloadTo(planOf([]plan.App{next})); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		wg.Wait()
	}
	h.waitRunning("a")
	// Every "generation started" line names a distinct pid and generation.
	byGen := map[float64]float64{}
	for _, line := range strings.Split(h.logBuf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["message"] != "generation started" && !strings.HasPrefix(asString(m["message"]), "restart: ") {
			continue
		}
		gen, _ := m["generation"].(float64)
		pid, _ := m["pid"].(float64)
		if gen == 0 {
			continue
		}
		if other, ok := byGen[gen]; ok && other != pid {
			t.Errorf("generation %v was given to pids %v and %v", gen, other, pid)
		}
		byGen[gen] = pid
	}
	if len(byGen) < 4 {
		t.Errorf("saw only %d generations start: %v", len(byGen), byGen)
	}
	if st := h.status("a"); st.Restarts < 3 {
		t.Errorf("restarts = %d after 3 restarts and 3 reloads; the count did not survive the reloads", st.Restarts)
	}
}

func asString(v any) string { s, _ := v.(string); return s }
