package systemd

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func readUnit(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("dewy.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("not key=value: %q", line)
		}
		if _, dup := kv[k]; dup {
			t.Errorf("%s set twice", k)
		}
		kv[k] = v
	}
	return kv
}

func TestUnit(t *testing.T) {
	kv := readUnit(t)
	for k, want := range map[string]string{
		"Type":         "notify",
		"NotifyAccess": "main",
		"ExecStart":    "/usr/local/bin/dewy -c /etc/dewy.hcl",
		"ExecReload":   "/bin/kill -USR1 $MAINPID",
		"KillSignal":   "SIGTERM",
		"KillMode":     "mixed",
		"Restart":      "on-failure",
	} {
		if kv[k] != want {
			t.Errorf("%s=%q, want %q", k, kv[k], want)
		}
	}
	// Above the apps' default stop timeout (30s), or systemd's SIGKILL cuts
	// their drain short.
	d, err := time.ParseDuration(kv["TimeoutStopSec"])
	if err != nil || d <= 30*time.Second {
		t.Errorf("TimeoutStopSec=%q, want a duration above 30s", kv["TimeoutStopSec"])
	}
}

// TestVerify runs systemd-analyze when the host has it. The only complaint
// allowed is that /usr/local/bin/dewy is not installed here.
func TestVerify(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "verify", "dewy.service").CombinedOutput()
	if ctx.Err() != nil {
		t.Skipf("systemd-analyze did not finish: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "/usr/local/bin/dewy") {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
}
