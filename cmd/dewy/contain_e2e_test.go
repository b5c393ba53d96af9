package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// The reproduction: an app that starts helpers in a new session
// (setsid) and in a process group of their own (set -m), then execs its
// server. The helpers inherit the held listening socket (fd 3).

// forkingConfig writes a config whose app escapes so, and returns its
// path, the listen address and the marker in every helper's command line.
func forkingConfig(t *testing.T) (cfg, addr, marker string) {
	t.Helper()
	_, app := binaries(t)
	marker = fmt.Sprintf("%d.%03d", 5000+rand.IntN(4000), rand.IntN(1000))
	script := fmt.Sprintf("setsid sleep %[1]s & set -m; sleep %[1]s & set +m; exec %[2]s -startup-delay 20ms", marker, app)
	cfg, addr = writeConfig(t, dewyOpts{command: []string{"bash", "-c", script}})
	return cfg, addr, marker
}

// containmentModes are the agent's containment settings: "auto" uses a
// cgroup where this machine lets dewy make one (as root here), "token"
// never does.
var containmentModes = []string{"auto", "token"}

func runDewy(t *testing.T, cfg, addr, mode string) *dewyProc {
	return launch(t, cfg, addr, dewyOpts{args: []string{"--containment", mode}})
}

// sleepersWith lists the live processes whose command line has marker.
func sleepersWith(marker string) []int {
	var out []int
	_ = procfs.Scan(func(st procfs.Stat) bool {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID)); err == nil && !st.Zombie() &&
			strings.HasPrefix(string(b), "sleep\x00") && strings.Contains(string(b), marker) {
			out = append(out, st.PID)
		}
		return true
	})
	return out
}

func TestTERMStopsEscapedHelpers(t *testing.T) {
	for _, mode := range containmentModes {
		t.Run(mode, func(t *testing.T) { testTERMStopsEscapedHelpers(t, mode) })
	}
}

func testTERMStopsEscapedHelpers(t *testing.T, mode string) {
	cfg, addr, marker := forkingConfig(t)
	d := runDewy(t, cfg, addr, mode)
	if mode == "token" && !strings.Contains(d.log.String(), `"containment":"environment token`) {
		t.Fatal("containment = token did not keep dewy to the environment token")
	}
	testutil.Eventually(t, "both helpers to run", 5*time.Second, func() bool { return len(sleepersWith(marker)) == 2 })

	// Three restarts: each retired generation takes its helpers with it.
	for i := range 3 {
		before := strings.Count(d.log.String(), "restart complete")
		if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "the restart", 20*time.Second, func() bool { return strings.Count(d.log.String(), "restart complete") > before })
		if n := len(sleepersWith(marker)); n != 2 {
			t.Fatalf("after restart %d, %d helpers run; want the 2 of the current generation", i+1, n)
		}
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("dewy exited %d", code)
	}
	if left := sleepersWith(marker); len(left) > 0 {
		t.Fatalf("after dewy exited, helpers %v still run", left)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the app's port is still held after dewy exited: %v", err)
	}
	ln.Close()
}

func TestFreshDewyStopsWhatAKilledOneLeft(t *testing.T) {
	for _, mode := range containmentModes {
		t.Run(mode, func(t *testing.T) { testFreshDewyStopsWhatAKilledOneLeft(t, mode) })
	}
}

func testFreshDewyStopsWhatAKilledOneLeft(t *testing.T, mode string) {
	cfg, addr, marker := forkingConfig(t)
	d := runDewy(t, cfg, addr, mode)
	testutil.Eventually(t, "both helpers to run", 5*time.Second, func() bool { return len(sleepersWith(marker)) == 2 })
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
	// The helpers outlive a SIGKILLed dewy (nothing can stop that), still
	// holding the listening socket.
	if n := len(sleepersWith(marker)); n != 2 {
		t.Fatalf("%d helpers survived kill -9 of dewy; the test expects the 2 to", n)
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatal("the port is free: the helpers should hold it")
	}

	d2 := runDewy(t, cfg, addr, mode)
	if !strings.Contains(d2.log.String(), "stopped processes an earlier dewy of this config left running") {
		t.Fatal("the fresh dewy did not say it stopped the leftovers")
	}
	testutil.Eventually(t, "only the new generation's helpers", 5*time.Second, func() bool { return len(sleepersWith(marker)) == 2 })
	for _, pid := range sleepersWith(marker) {
		env, err := procfs.Environ(pid)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(env), fmt.Sprintf(":%d-", d2.cmd.Process.Pid)) {
			t.Fatalf("helper %d is not the fresh dewy's: %q", pid, env)
		}
	}
}
