package supervisor_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/sockets"
	"github.com/dewyhq/dewy/engine/supervisor"
	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// TestRestartUnderLoad: clients keep sending requests (some on keep-alive
// connections, some on a new connection each) while the app, which takes
// 300 ms to start, is restarted three times. No request may fail.
func TestRestartUnderLoad(t *testing.T) {
	h := newHarness(t, "delay=300ms", nil)
	h.start()
	first := h.waitState(supervisor.StateRunning)

	var (
		stop     atomic.Bool
		ok, bad  atomic.Int64
		mu       sync.Mutex
		gens     = map[string]int{}
		firstErr error
		wg       sync.WaitGroup
	)
	keepAlive := &http.Transport{MaxIdleConnsPerHost: 8}
	defer keepAlive.CloseIdleConnections()
	url := "http://" + h.tcpAddr() + "/"
	client := func(c *http.Client) {
		defer wg.Done()
		for i := 0; !stop.Load() && i < 100000; i++ {
			resp, err := c.Get(url)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("HTTP %d", resp.StatusCode)
				}
				if err == nil {
					ok.Add(1)
					mu.Lock()
					gens[parseBody(string(b))["gen"]]++
					mu.Unlock()
					time.Sleep(2 * time.Millisecond)
					continue
				}
			}
			bad.Add(1)
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	for i := 0; i < 3; i++ {
		wg.Add(2)
		go client(&http.Client{Timeout: 15 * time.Second, Transport: keepAlive})
		go client(&http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}})
	}
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 3; i++ {
		if err := h.sup.Restart(context.Background(), "test"); err != nil {
			t.Fatalf("restart %d: %v", i+1, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	t.Logf("%d requests served, %d failed, per generation %v", ok.Load(), bad.Load(), gens)
	if bad.Load() != 0 {
		t.Errorf("%d requests failed during restarts; first: %v", bad.Load(), firstErr)
	}
	last := h.sup.Status()
	if last.Generation != first.Generation+3 || last.Restarts != 3 || last.State != supervisor.StateRunning {
		t.Errorf("after 3 restarts: %+v (first %+v)", last, first)
	}
	if gens["1"] == 0 || gens[strconv.Itoa(last.Generation)] == 0 {
		t.Errorf("requests should reach the first and the last generation: %v", gens)
	}
	if procfs.Alive(first.PID) {
		t.Errorf("generation 1 (pid %d) still runs", first.PID)
	}
}

// TestFailedGenerationsKeepOldServing: a new generation that exits at once,
// and one that binds the held address itself, both fail the restart, are
// reported, and leave the old generation serving.
func TestFailedGenerationsKeepOldServing(t *testing.T) {
	h := newHarness(t, "", nil)
	h.start()
	old := h.waitState(supervisor.StateRunning)

	h.setBehavior("exit=3")
	err := h.sup.Restart(context.Background(), "test")
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("restart into a generation that exits: %v", err)
	}
	st := h.sup.Status()
	if st.PID != old.PID || st.State != supervisor.StateRunning || st.Generation != old.Generation {
		t.Errorf("after the failed restart: %+v, want the old generation %+v running", st, old)
	}
	if m := h.mustGet(); m["pid"] != strconv.Itoa(old.PID) {
		t.Errorf("served by %v, want the old pid %d", m, old.PID)
	}
	if !contains(h.eventKinds(), supervisor.EventGenerationFailed) {
		t.Errorf("events %v lack %s", h.eventKinds(), supervisor.EventGenerationFailed)
	}

	h.setBehavior("bind-itself")
	if err := h.sup.Restart(context.Background(), "test"); err == nil {
		t.Fatal("restart into a generation that binds the address itself succeeded")
	}
	hints := logEntries(h.logs, "it binds them itself")
	// Said once until a generation is ready again, not at every failure.
	if len(hints) != 1 {
		t.Fatalf("want the address hint once for the two failed generations, got %d", len(hints))
	}
	if msg := hints[len(hints)-1]["message"].(string); !strings.Contains(msg, "SERVER_STARTER_PORT") || !strings.Contains(msg, "LISTEN_FDS") {
		t.Errorf("hint %q should name the variables to read", msg)
	}
	// The output is copied to the log file asynchronously: wait for it.
	testutil.Eventually(t, "the app's EADDRINUSE in its output", 10*time.Second, func() bool {
		b, _ := os.ReadFile(h.appLog)
		return strings.Contains(string(b), "address already in use")
	})
	if m := h.mustGet(); m["pid"] != strconv.Itoa(old.PID) {
		t.Errorf("served by %v, want the old pid %d", m, old.PID)
	}

	h.setBehavior("")
	if err := h.sup.Restart(context.Background(), "test"); err != nil {
		t.Fatalf("restart into a good generation: %v", err)
	}
	if st := h.sup.Status(); st.PID == old.PID || st.Generation != 4 {
		t.Errorf("after a good restart: %+v", st)
	}
}

// TestNeverReady: a generation that never answers its readiness check is
// killed after the timeout; the old one keeps serving.
func TestNeverReady(t *testing.T) {
	// The timeout leaves a slow box time to start the app, so that its
	// own readiness handler, not its start-up, is what fails the check.
	h := newHarness(t, "", func(a *plan.App) { a.Ready.Timeout = 4 * time.Second })
	h.start()
	old := h.waitState(supervisor.StateRunning)

	h.setBehavior("never-ready")
	err := h.sup.Restart(context.Background(), "test")
	if err == nil || !strings.Contains(err.Error(), "not ready within 4s") {
		t.Fatalf("restart into a never-ready generation: %v", err)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Logf("the app never answered its readiness check in time on this box: %v", err)
	}
	started := logEntries(h.logs, "new generation started beside the old one")
	if len(started) != 1 {
		t.Fatalf("want one started candidate in the log, got %d", len(started))
	}
	cand := int(started[0]["pid"].(float64))
	if procfs.Alive(cand) {
		t.Errorf("the never-ready generation (pid %d) still runs", cand)
	}
	if st := h.sup.Status(); st.PID != old.PID || st.State != supervisor.StateRunning {
		t.Errorf("status %+v, want the old generation running", st)
	}
	if m := h.mustGet(); m["pid"] != strconv.Itoa(old.PID) {
		t.Errorf("served by %v, want the old pid %d", m, old.PID)
	}
}

// TestStopTimeoutKills: an old generation that ignores SIGTERM is SIGKILLed
// after the stop timeout, on restart and on shutdown; Run still returns.
func TestStopTimeoutKills(t *testing.T) {
	h := newHarness(t, "ignore-term", func(a *plan.App) { a.Stop.Timeout = 500 * time.Millisecond })
	h.start()
	old := h.waitState(supervisor.StateRunning)

	if err := h.sup.Restart(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if procfs.Alive(old.PID) {
		t.Errorf("the TERM-ignoring generation (pid %d) survived the restart", old.PID)
	}
	killed := logEntries(h.logs, "did not stop in time and was killed")
	if len(killed) != 1 || int(killed[0]["pid"].(float64)) != old.PID {
		t.Errorf("want one 'killed' log entry for pid %d: %v", old.PID, killed)
	}
	exits := logEntries(h.logs, "generation exited")
	if len(exits) == 0 || exits[0]["exit"] != "signal: killed" {
		t.Errorf("generation 1 should have ended by SIGKILL: %v", exits)
	}

	cur := h.sup.Status()
	h.stopSupervisor()
	if procfs.Alive(cur.PID) {
		t.Errorf("after shutdown the TERM-ignoring worker (pid %d) still runs", cur.PID)
	}
	if st := h.sup.Status(); st.State != supervisor.StateStopped || st.PID != 0 {
		t.Errorf("after Run returned: %+v", st)
	}
}

// TestCrashLoop: a worker that exits at once is restarted with a backoff
// that doubles up to Max, then the app is reported in crash-loop; a manual
// Restart clears it. Also: Signal reaches the worker, whose death by that
// signal is a crash that is restarted.
func TestCrashLoop(t *testing.T) {
	h := newHarness(t, "exit=1", func(a *plan.App) {
		a.Restart = plan.RestartPolicy{Policy: "always", Initial: 20 * time.Millisecond, Max: 160 * time.Millisecond, Burst: 6, Window: time.Minute, Cooldown: time.Hour}
	})
	h.start()
	st := h.waitState(supervisor.StateCrashLoop)
	if st.PID != 0 || st.Generation != 6 {
		t.Errorf("in crash-loop: %+v, want no pid after 6 generations", st)
	}
	var delays []string
	for _, e := range logEntries(h.logs, "starting it again after backoff") {
		delays = append(delays, time.Duration(e["backoff"].(float64)*float64(time.Millisecond)).String())
	}
	if got, want := strings.Join(delays, " "), "20ms 40ms 80ms 160ms 160ms"; got != want {
		t.Errorf("backoff delays %q, want %q", got, want)
	}
	if !contains(h.eventKinds(), supervisor.EventCrashLoop) {
		t.Errorf("events %v lack %s", h.eventKinds(), supervisor.EventCrashLoop)
	}
	if len(logEntries(h.logs, "crash loop; restarts paused")) != 1 {
		t.Error("want one crash-loop error in the log")
	}

	h.setBehavior("")
	if err := h.sup.Restart(context.Background(), "operator"); err != nil {
		t.Fatalf("manual restart out of crash-loop: %v", err)
	}
	st = h.waitState(supervisor.StateRunning)

	if err := h.sup.Signal(syscall.SIGHUP); err != nil { // the app does not handle HUP: it dies
		t.Fatal(err)
	}
	testutil.Eventually(t, "a new worker after the signalled one died", 20*time.Second, func() bool {
		s := h.sup.Status()
		return s.State == supervisor.StateRunning && s.PID != st.PID && s.PID != 0
	})
	if procfs.Alive(st.PID) {
		t.Errorf("signalled worker %d still alive", st.PID)
	}
}

// TestRestartStorm: 200 concurrent Restart calls become at most one running
// and one pending restart at a time; every caller gets an answer; never
// more than two generations are alive; afterwards no zombie and no
// descriptor is left.
func TestRestartStorm(t *testing.T) {
	h := newHarness(t, "delay=100ms", nil)
	set, err := sockets.Bind(context.Background(), h.app.Listen)
	if err != nil {
		t.Fatal(err)
	}
	h.set = set
	h.startSpawner()
	fdsBefore := countFDs(t)
	h.startSupervisor()
	h.waitState(supervisor.StateRunning)

	var maxKids atomic.Int64
	sampling := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		for {
			all, _ := children(t)
			if n := int64(len(all)); n > maxKids.Load() {
				maxKids.Store(n)
			}
			select {
			case <-sampling:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()

	const calls = 200
	var wg sync.WaitGroup
	gate := make(chan struct{})
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			errs <- h.sup.Restart(context.Background(), "storm")
		}()
	}
	close(gate)
	wg.Wait()
	close(sampling)
	<-samplerDone
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Restart: %v", err)
		}
	}

	completes := logEntries(h.logs, "restart complete")
	answered := 0
	for _, e := range completes {
		answered += int(e["waiters"].(float64))
	}
	if answered != calls {
		t.Errorf("restarts answered %d callers, want %d", answered, calls)
	}
	// All calls arrive while the first restart runs, so they coalesce into
	// it and one pending restart; a slow scheduler may let a few arrive
	// after the second began, hence 3 at most.
	if n := len(completes); n < 2 || n > 3 {
		t.Errorf("%d restarts ran for %d calls, want 2 (at most 3)", n, calls)
	}
	if n := maxKids.Load(); n > 2 {
		t.Errorf("%d children alive at once, want at most 2 generations", n)
	}
	all, zombies := children(t)
	if len(all) != 1 || len(zombies) != 0 {
		t.Errorf("after the storm: children %v, zombies %v; want one live worker", all, zombies)
	}

	h.stopSupervisor()
	all, _ = children(t)
	if len(all) != 0 {
		t.Errorf("after Run returned, children remain: %v", all)
	}
	h.client.CloseIdleConnections()
	if after := countFDs(t); after != fdsBefore {
		t.Errorf("descriptors: %d before the supervisor, %d after", fdsBefore, after)
	}
}

// TestSupervisorKilledLeavesNoApp: SIGKILL the process that supervises the
// app; the app (started through the shim) dies with it.
func TestSupervisorKilledLeavesNoApp(t *testing.T) {
	cmd := exec.Command(exe(), "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=supervise")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(40 * time.Second):
		t.Fatal("the supervising helper never reported its worker")
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "pid="))
	if err != nil || !procfs.Alive(pid) {
		t.Fatalf("helper said %q", line)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	testutil.Eventually(t, fmt.Sprintf("app pid %d gone after its supervisor was SIGKILLed", pid), 20*time.Second, func() bool { return !procfs.Alive(pid) })
}

// TestSocketProtocols: an app that takes its sockets through
// github.com/lestrrat-go/server-starter/listener and one that takes them
// through LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES both serve TCP and the unix
// socket, and both get their readiness listener apart.
func TestSocketProtocols(t *testing.T) {
	for _, proto := range []string{"starter", "systemd"} {
		t.Run(proto, func(t *testing.T) {
			h := newHarness(t, "proto="+proto, nil)
			h.start()
			h.waitState(supervisor.StateRunning)
			m := h.mustGet()
			if m["proto"] != proto || m["listeners"] != "2" {
				t.Errorf("over TCP: %v, want proto %s and 2 listeners", m, proto)
			}
			if proto == "systemd" {
				if want := "127.0.0.1_0,unix_" + h.unixPath; m["names"] != want {
					t.Errorf("LISTEN_FDNAMES seen by the app: %q, want %q", m["names"], want)
				}
			}
			uc := unixClient(h.unixPath)
			r, err := uc.Get("http://app/")
			if err != nil {
				t.Fatalf("over the unix socket: %v", err)
			}
			b, _ := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if u := parseBody(string(b)); u["pid"] != m["pid"] || u["proto"] != proto {
				t.Errorf("over the unix socket: %q", b)
			}
			// A restart hands the same sockets to the next generation.
			if err := h.sup.Restart(context.Background(), "test"); err != nil {
				t.Fatal(err)
			}
			if m2 := h.mustGet(); m2["gen"] != "2" || m2["proto"] != proto {
				t.Errorf("after restart: %v", m2)
			}
		})
	}
}

// TestNotifyReadiness: READY=1 counts only from the new generation's own
// pid; a READY=1 sent by another process (here the app's child) is
// ignored, so that restart fails and the old generation keeps serving.
func TestNotifyReadiness(t *testing.T) {
	h := newHarness(t, "notify", func(a *plan.App) {
		a.Ready = plan.Ready{Notify: true, Timeout: 5 * time.Second}
	})
	h.start()
	old := h.waitState(supervisor.StateRunning)

	h.setBehavior("notify-from-child")
	err := h.sup.Restart(context.Background(), "test")
	if err == nil || !strings.Contains(err.Error(), "no READY=1 from pid") {
		t.Fatalf("restart whose READY=1 comes from another pid: %v", err)
	}
	ignored := logEntries(h.logs, "not sent by the generation's own process")
	if len(ignored) == 0 {
		t.Fatal("the foreign READY=1 was not logged as ignored")
	}
	if sender, gen := int(ignored[0]["sender_pid"].(float64)), int(ignored[0]["pid"].(float64)); sender == gen || sender == 0 {
		t.Errorf("ignored sender %d, generation pid %d", sender, gen)
	}
	if st := h.sup.Status(); st.PID != old.PID || st.State != supervisor.StateRunning {
		t.Errorf("status %+v, want the old generation", st)
	}

	h.setBehavior("notify")
	if err := h.sup.Restart(context.Background(), "test"); err != nil {
		t.Fatalf("restart with READY=1 from the generation itself: %v", err)
	}
	if m := h.mustGet(); m["gen"] != "3" {
		t.Errorf("served by %v, want generation 3", m)
	}
}

// TestRestartAfterShutdown: Restart and Signal fail cleanly once Run returned.
func TestRestartAfterShutdown(t *testing.T) {
	h := newHarness(t, "", func(a *plan.App) { a.Ready = plan.Ready{Delay: 10 * time.Millisecond} })
	h.start()
	h.waitState(supervisor.StateRunning)
	h.stopSupervisor()
	if err := h.sup.Restart(context.Background(), "late"); !errors.Is(err, supervisor.ErrNotRunning) {
		t.Errorf("Restart after Run: %v", err)
	}
	if err := h.sup.Signal(syscall.SIGHUP); !errors.Is(err, supervisor.ErrNotRunning) {
		t.Errorf("Signal after Run: %v", err)
	}
}

// TestKill: Kill during a graceful shutdown of a TERM-ignoring app makes
// Run return without waiting for the stop timeout.
func TestKill(t *testing.T) {
	h := newHarness(t, "ignore-term", func(a *plan.App) { a.Stop.Timeout = time.Hour })
	h.start()
	st := h.waitState(supervisor.StateRunning)
	h.cancel()
	h.waitState(supervisor.StateStopping)
	h.sup.Kill()
	select {
	case err := <-h.runErr:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Kill")
	}
	h.cancel = nil
	if procfs.Alive(st.PID) {
		t.Errorf("worker %d survived Kill", st.PID)
	}
}

// TestExitPolicyAndReopenLogs: an app without listen addresses, policy
// on-failure: a clean exit (after SIGTERM sent with Signal) is not
// restarted and is reported; its output went to the reopened file; a
// manual Restart starts a worker again.
func TestExitPolicyAndReopenLogs(t *testing.T) {
	h := newHarness(t, "", func(a *plan.App) {
		a.Listen = nil // a nil Set; readiness still gets its own listener
		a.Restart.Policy = "on-failure"
	})
	h.start()
	st := h.waitState(supervisor.StateRunning)
	if err := os.Rename(h.appLog, h.appLog+".old"); err != nil {
		t.Fatal(err)
	}
	if err := h.sup.ReopenLogs(); err != nil {
		t.Fatal(err)
	}
	if err := h.sup.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	h.waitState(supervisor.StateExited)
	if !contains(h.eventKinds(), supervisor.EventExited) {
		t.Errorf("events %v lack %s", h.eventKinds(), supervisor.EventExited)
	}
	if procfs.Alive(st.PID) {
		t.Errorf("worker %d still alive", st.PID)
	}
	if b, _ := os.ReadFile(h.appLog); !strings.Contains(string(b), "drained") {
		t.Errorf("after ReopenLogs the app's last words should be in the new file, got %q", b)
	}
	if err := h.sup.Signal(syscall.SIGHUP); !errors.Is(err, supervisor.ErrNoWorker) {
		t.Errorf("Signal with no worker: %v", err)
	}
	if err := h.sup.Restart(context.Background(), "operator"); err != nil {
		t.Fatal(err)
	}
	if st2 := h.sup.Status(); st2.State != supervisor.StateRunning || st2.PID == 0 || st2.PID == st.PID {
		t.Errorf("after Restart: %+v", st2)
	}
}
