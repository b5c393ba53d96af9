package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/listener"
)

// maxHookOutput is how much of a hook's output is kept for the log.
const maxHookOutput = 64 << 10

// hookEnv is what a hook learns of the deploy.
type hookEnv struct {
	app, version, previous, dir, deployID string
}

func (h hookEnv) list() []string {
	env := os.Environ()
	return append(env,
		listener.EnvApp+"="+h.app,
		"DEWY_VERSION="+h.version,
		"DEWY_PREVIOUS_VERSION="+h.previous,
		"DEWY_RELEASE_DIR="+h.dir,
		"DEWY_DEPLOY_ID="+h.deployID,
	)
}

// runHook runs script with /bin/sh -c in dir. A non-zero exit, a signal
// or the timeout (0 is plan.DefaultHooks' timeout), after which the
// hook's whole process group is killed, is an error carrying the end of
// its output; the output is logged either way.
func runHook(ctx context.Context, log zerolog.Logger, name, script, dir string, timeout time.Duration, env hookEnv) error {
	if strings.TrimSpace(script) == "" {
		return nil
	}
	if timeout <= 0 {
		timeout = plan.DefaultHooks().Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = env.list()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	started := time.Now()
	err := cmd.Run()
	ev := log.Info()
	if err != nil {
		ev = log.Warn()
	}
	ev.Str("hook", name).Dur("took", time.Since(started).Round(time.Millisecond)).Str("output", out.String()).Msg("hook ran")
	if err == nil {
		return nil
	}
	res := actions.HookResult{Name: name, Command: script, ExitCode: -1, Duration: time.Since(started), Output: tail(out.String(), hookTail)}
	if cmd.ProcessState != nil && ctx.Err() == nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		return &HookError{Result: res, err: fmt.Errorf("%s hook stopped (%w; the limit is %s): its process group was killed", name, ctx.Err(), timeout)}
	}
	return &HookError{Result: res, err: fmt.Errorf("%s hook: %w: %s", name, err, lastLine(out.String()))}
}

// hookTail is how much of a failed hook's output its event carries.
const hookTail = 2 << 10

// HookError is a hook that failed, with what it did (for its event).
type HookError struct {
	Result actions.HookResult
	err    error
}

func (e *HookError) Error() string { return e.err.Error() }
func (e *HookError) Unwrap() error { return e.err }

// tail is the last n bytes of s, cut at a line start when it can be.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return "...\n" + s
}

// limitedBuffer keeps the first maxHookOutput bytes written to it.
type limitedBuffer struct {
	b         bytes.Buffer
	truncated bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxHookOutput - l.b.Len(); room < len(p) {
		l.truncated = true
		if room > 0 {
			l.b.Write(p[:room])
		}
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *limitedBuffer) String() string {
	if l.truncated {
		return l.b.String() + "\n[output truncated]"
	}
	return l.b.String()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
