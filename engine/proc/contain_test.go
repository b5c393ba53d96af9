package proc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// escapingApp is an app that starts helpers out of its process group the
// ways the issue reproduced: a new session (setsid), a job-control job of
// its own group (set -m), and one plain child; then it execs its server.
// Every process sleeps for a marker number of seconds, so the test finds
// them by their command line.
func escapingApp(marker string, exitAtOnce bool) []string {
	last := "exec sleep " + marker
	if exitAtOnce {
		last = "sleep 0.3; exit 3"
	}
	return []string{"bash", "-c", fmt.Sprintf(
		"setsid sleep %[1]s & set -m; sleep %[1]s & set +m; (setsid bash -c 'sleep %[1]s & sleep %[1]s') & sleep %[1]s & %[2]s",
		marker, last)}
}

// liveWith lists the live processes whose command line contains marker.
func liveWith(marker string) []int {
	var out []int
	_ = procfs.Scan(func(st procfs.Stat) bool {
		if st.Zombie() {
			return true
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID))
		if err == nil && strings.Contains(string(b), marker) {
			out = append(out, st.PID)
		}
		return true
	})
	return out
}

func newMarker() string { return fmt.Sprintf("%d.%03d", 5000+rand.IntN(4000), rand.IntN(1000)) }

// containments are the modes to test: the token everywhere, the cgroup
// where this machine lets a test make one.
func containments(t *testing.T) map[string]*Containment {
	t.Helper()
	out := map[string]*Containment{}
	scope := fmt.Sprintf("test%d", rand.IntN(1e9))
	tok, err := NewContainment(ContainmentOptions{Scope: scope, NoCgroup: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	out["token"] = tok
	cg, err := NewContainment(ContainmentOptions{Scope: scope + "cg", Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if cg.cg != nil {
		out["cgroup"] = cg
	} else {
		t.Logf("cgroup containment not tested here: %s", cg.Mode())
	}
	return out
}

func TestStopReachesEscapedProcesses(t *testing.T) {
	for name, c := range containments(t) {
		t.Run(name, func(t *testing.T) {
			s, stop := runSpawner(t, SpawnerOptions{Containment: c, Logger: zerolog.Nop()})
			marker := newMarker()
			p, err := s.Start(context.Background(), Spec{Args: escapingApp(marker, false), Env: os.Environ(), Member: Member{App: "web", Generation: 1}})
			if err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "the app and its five helpers run", 5*time.Second, func() bool { return len(liveWith(marker)) >= 6 })
			if err := p.Stop(context.Background(), syscall.SIGTERM, 5*time.Second); err != nil {
				t.Fatalf("Stop: %v (escaped processes must stop on SIGTERM, not need SIGKILL)", err)
			}
			if left := liveWith(marker); len(left) > 0 {
				t.Fatalf("after Stop, %d processes of the generation still run: %v", len(left), left)
			}
			stop()
			if c.cg != nil {
				if _, err := os.Stat(c.cg.dir); !os.IsNotExist(err) {
					t.Errorf("the instance's cgroup %s is still there after the spawner stopped", c.cg.dir)
				}
			}
		})
	}
}

func TestKillAfterCrashReachesEscapedProcesses(t *testing.T) {
	for name, c := range containments(t) {
		t.Run(name, func(t *testing.T) {
			s, _ := runSpawner(t, SpawnerOptions{Containment: c, Logger: zerolog.Nop()})
			marker := newMarker()
			p, err := s.Start(context.Background(), Spec{Args: escapingApp(marker, true), Env: os.Environ(), Member: Member{App: "web", Generation: 2}})
			if err != nil {
				t.Fatal(err)
			}
			waitDone(t, p, "the crashing leader")
			if n := len(liveWith(marker)); n < 5 {
				t.Fatalf("%d helpers run after the leader exited, want 5 or more", n)
			}
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "Kill ends every escaped helper", 5*time.Second, func() bool { return len(liveWith(marker)) == 0 })
		})
	}
}

func TestStopLeavesOtherGenerationsAlone(t *testing.T) {
	for name, c := range containments(t) {
		t.Run(name, func(t *testing.T) {
			s, _ := runSpawner(t, SpawnerOptions{Containment: c, Logger: zerolog.Nop()})
			m1, m2 := newMarker(), newMarker()
			p1, err := s.Start(context.Background(), Spec{Args: escapingApp(m1, false), Env: os.Environ(), Member: Member{App: "web", Generation: 1}})
			if err != nil {
				t.Fatal(err)
			}
			p2, err := s.Start(context.Background(), Spec{Args: escapingApp(m2, false), Env: os.Environ(), Member: Member{App: "web", Generation: 2}})
			if err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "both generations run", 5*time.Second, func() bool { return len(liveWith(m1)) >= 6 && len(liveWith(m2)) >= 6 })
			if err := p1.Stop(context.Background(), syscall.SIGTERM, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			before := len(liveWith(m2))
			if n := len(liveWith(m2)); n != before {
				t.Fatalf("stopping generation 1 left %d of generation 2's %d processes", n, before)
			}
			if err := p2.Stop(context.Background(), syscall.SIGTERM, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSweepLeftoversOfADeadInstance(t *testing.T) {
	scope := fmt.Sprintf("sweep%d", rand.IntN(1e9))
	c, err := NewContainment(ContainmentOptions{Scope: scope, NoCgroup: true, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	// A dead instance: a pid that exited, so its start time cannot match.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("%d-1", gone.Process.Pid)
	start := func(token string) (string, *exec.Cmd) {
		marker := newMarker()
		cmd := exec.Command("setsid", "sleep", marker)
		cmd.Env = append(os.Environ(), EnvToken+"="+token)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return marker, cmd
	}
	leftover, _ := start(scope + ":" + dead + ":3:web")
	ours, _ := start(c.Token(Member{App: "web", Generation: 1}))
	other, _ := start("another" + scope + ":" + dead + ":3:web")
	testutil.Eventually(t, "the three sleepers run", 5*time.Second, func() bool {
		return len(liveWith(leftover)) == 1 && len(liveWith(ours)) == 1 && len(liveWith(other)) == 1
	})

	found, err := c.SweepLeftovers(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !strings.Contains(found[0].Token, dead) {
		t.Fatalf("found %+v, want the one process of the dead instance", found)
	}
	testutil.Eventually(t, "the leftover is stopped", 5*time.Second, func() bool { return len(liveWith(leftover)) == 0 })
	if len(liveWith(ours)) != 1 || len(liveWith(other)) != 1 {
		t.Fatal("the sweep stopped a process of this instance or of another agent")
	}
}

// A dewy killed with SIGKILL cannot remove its cgroups: the next one of
// any agent removes those that are empty, and ends and removes its own
// agent's populated ones.
func TestSweepRemovesStaleCgroups(t *testing.T) {
	c, err := NewContainment(ContainmentOptions{Scope: fmt.Sprintf("prune%d", rand.IntN(1e9)), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if c.cg == nil {
		t.Skipf("no cgroup here: %s", c.Mode())
	}
	defer c.close()
	other := filepath.Join(filepath.Dir(c.cg.scopeDir), fmt.Sprintf("dewy-other%d", rand.IntN(1e9)))
	emptyDead := filepath.Join(other, "1-1", "app-web", "gen-3")
	ownDead := filepath.Join(c.cg.scopeDir, "2-2", "app-web", "gen-1")
	for _, d := range []string{emptyDead, ownDead} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	marker := newMarker()
	sleeper := exec.Command("setsid", "sleep", marker)
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	if err := os.WriteFile(filepath.Join(ownDead, "cgroup.procs"), []byte(fmt.Sprint(sleeper.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SweepLeftovers(context.Background(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{other, filepath.Join(c.cg.scopeDir, "2-2")} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is still there", d)
		}
	}
	testutil.Eventually(t, "the process in the stale cgroup to be ended", 5*time.Second, func() bool { return len(liveWith(marker)) == 0 })
}
