package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/internal/testutil"
)

func TestRunHook(t *testing.T) {
	dir := t.TempDir()
	env := hookEnv{app: "web", version: "v1.1.0", previous: "v1.0.0", dir: "/opt/web/releases/x", deployID: "01ABC"}
	var logs testutil.SyncBuffer
	log := zerolog.New(&logs)

	out := filepath.Join(dir, "env")
	if err := runHook(context.Background(), log, "before_deploy", `printf '%s %s %s %s %s' "$DEWY_APP" "$DEWY_VERSION" "$DEWY_PREVIOUS_VERSION" "$DEWY_RELEASE_DIR" "$DEWY_DEPLOY_ID" > env; pwd >> env`, dir, 0, env); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if want := "web v1.1.0 v1.0.0 /opt/web/releases/x 01ABC" + dir + "\n"; string(b) != want {
		t.Errorf("the hook saw %q, want %q (variables, then its folder)", b, want)
	}

	err := runHook(context.Background(), log, "before_deploy", "echo migrating; echo 'relation missing' >&2; exit 3", dir, 0, env)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "relation missing") {
		t.Errorf("failing hook: %v (want the exit and its last line)", err)
	}
	var he *HookError
	if !errors.As(err, &he) || he.Result.ExitCode != 3 || he.Result.Name != "before_deploy" || !strings.Contains(he.Result.Output, "relation missing") || he.Result.Duration <= 0 {
		t.Errorf("the failed hook's result for its event: %+v", he)
	}
	if !strings.Contains(logs.String(), "migrating") {
		t.Errorf("the hook's output is not in the log:\n%s", logs.String())
	}
	if err := runHook(context.Background(), log, "after_deploy", "   ", dir, 0, env); err != nil {
		t.Errorf("an empty hook: %v", err)
	}
}

// A hook that hangs is killed with its whole process group at the
// timeout; here the deploy's context stands in for the timeout.
func TestHookThatHangsIsKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	marker := filepath.Join(t.TempDir(), "child")
	start := time.Now()
	err := runHook(ctx, zerolog.Nop(), "before_deploy", "sleep 1000 & echo $! > "+marker+"; wait", t.TempDir(), 0, hookEnv{})
	if err == nil {
		t.Fatal("a hanging hook succeeded")
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the hook ran %s after its deadline", time.Since(start))
	}
	b, _ := os.ReadFile(marker)
	pid := strings.TrimSpace(string(b))
	testutil.Eventually(t, "the hook's child to be killed with its group", 5*time.Second, func() bool {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		return err != nil || strings.Contains(string(st), ") Z ")
	})
}

// The configured timeout bounds a hook on its own (the deploy's context
// has no deadline): past it the hook's whole process group is killed, and
// the error says it was stopped and what the limit is.
func TestHookTimeoutIsConfigurable(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "child")
	start := time.Now()
	err := runHook(context.Background(), zerolog.Nop(), "before_deploy", "sleep 1000 & echo $! > "+marker+"; wait", t.TempDir(), 300*time.Millisecond, hookEnv{})
	if err == nil {
		t.Fatal("a hook past its timeout succeeded")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the hook ran %s with a timeout of 300ms", took)
	}
	if !strings.Contains(err.Error(), "before_deploy hook stopped") || !strings.Contains(err.Error(), "the limit is 300ms") {
		t.Errorf("error %q: want it to say the hook was stopped at its limit of 300ms", err)
	}
	b, _ := os.ReadFile(marker)
	pid := strings.TrimSpace(string(b))
	if pid == "" {
		t.Fatal("the hook did not start its child")
	}
	testutil.Eventually(t, "the hook's child to be killed with its group", 5*time.Second, func() bool {
		st, err := os.ReadFile("/proc/" + pid + "/stat")
		return err != nil || strings.Contains(string(st), ") Z ")
	})
}
