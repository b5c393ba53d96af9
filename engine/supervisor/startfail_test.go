package supervisor_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/supervisor"
	"github.com/dewyhq/dewy/internal/testutil"
)

// A generation that cannot be started is a crash like any other: reported
// once with its cause, retried with backoff, visible in Status, and the app
// runs as soon as the cause is fixed.
func TestStartFailuresAreRetried(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(dir string, a *plan.App)
		cause  string
		fix    func(t *testing.T, dir string) // nil: cannot be fixed here
	}{{
		name:   "output folder missing",
		break_: func(dir string, a *plan.App) { a.Output.File = filepath.Join(dir, "logs", "app.log") },
		cause:  "no such file or directory",
		fix: func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "logs"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:   "command not found",
		break_: func(dir string, a *plan.App) { a.Command = []string{filepath.Join(dir, "bin", "app")} },
		cause:  "no such file or directory",
		fix: func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(exe(), filepath.Join(dir, "bin", "app")); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:   "env_file unreadable",
		break_: func(dir string, a *plan.App) { a.EnvFile = filepath.Join(dir, "app.env") },
		cause:  "app.env",
		fix: func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "app.env"), []byte("A=1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:   "unknown user",
		break_: func(dir string, a *plan.App) { a.User = "dewy-no-such-user" },
		cause:  "dewy-no-such-user",
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			h := newHarness(t, "", func(a *plan.App) {
				a.Restart = plan.RestartPolicy{Policy: "always", Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond, Burst: 1000, Window: time.Minute, Cooldown: time.Hour}
				c.break_(dir, a)
			})
			h.start()
			testutil.Eventually(t, "three retries", 20*time.Second, func() bool {
				return len(logEntries(h.logs, "starting it again after backoff")) >= 3
			})
			st := h.sup.Status()
			if st.State != supervisor.StateBackoff && st.State != supervisor.StateStarting {
				t.Errorf("state %q, want backoff", st.State)
			}
			if !strings.Contains(st.LastError, c.cause) {
				t.Errorf("Status().LastError = %q, want the cause %q", st.LastError, c.cause)
			}
			if n := len(logEntries(h.logs, "app failed to start")); n != 1 {
				t.Errorf("%d error lines for the same cause, want 1", n)
			}
			if n := strings.Count(strings.Join(h.eventKinds(), " "), supervisor.EventStartFailed); n != 1 {
				t.Errorf("%d %s events, want 1", n, supervisor.EventStartFailed)
			}
			if c.fix == nil {
				return
			}
			c.fix(t, dir)
			st = h.waitState(supervisor.StateRunning)
			if st.LastError != "" {
				t.Errorf("LastError %q after a start", st.LastError)
			}
		})
	}
}
