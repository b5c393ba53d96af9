package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/mattn/go-isatty"

	"github.com/dewyhq/dewy/config"
	"github.com/dewyhq/dewy/engine"
	"github.com/dewyhq/dewy/engine/logging"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/sdnotify"
)

// cmdRun loads the config and runs the engine until a shutdown action.
func cmdRun(env cliEnv, args []string) int {
	// Register the shipped signals before anything slow, so an early TERM
	// or USR1 is queued instead of killing dewy; the table's own signals
	// are added once the file is compiled.
	env.notify(signalsOf(plan.NewSignalTable(nil))...)

	fs, setFlags := agentFlags("run")
	if !parseFlags(env, fs, args) {
		return exitConfig
	}
	path := configPath(env, fs)
	in := config.Inputs{Environ: env.environ, Flags: setFlags()}
	res := config.Load(path, in)
	_ = config.WriteDiagnostics(env.stderr, res.Files, res.Diags)
	if res.Diags.HasErrors() {
		fmt.Fprintf(env.stderr, "%s: %s; not starting. Fix the file and check it with `dewy validate %s`.\n", path, countErrors(res), path)
		return exitConfig
	}
	p := res.Plan
	env.notify(signalsOf(p.Signals)...)

	color := isTerminal(env.stderr)
	log, logOut, err := logging.NewOutput(env.stderr, logging.Options{
		Level: p.Agent.LogLevel, Format: p.Agent.LogFormat, Color: color,
	})
	if err != nil {
		fmt.Fprintf(env.stderr, "dewy: %v\n", err)
		return exitConfig
	}
	shim, err := env.self()
	if err != nil {
		log.Warn().Err(err).Msg("cannot find dewy's own executable; apps start without the LISTEN_PID shim, so systemd-style socket activation is unavailable")
		shim = ""
	}
	log.Info().Str("config", path).Int("pid", os.Getpid()).Int("apps", len(p.Apps)).Str("version", version).Msg("dewy starting")

	if env.watchChildren != nil {
		env.watchChildren()
	}
	e := engine.New(engine.Options{
		Plan:     p,
		Signals:  env.signals,
		Register: env.notify,
		Reload:   reloader(path, in),
		ApplyAgent: func(a plan.Agent) error {
			return logOut.Apply(logging.Options{Level: a.LogLevel, Format: a.LogFormat, Color: color})
		},
		Logger:       log,
		Shim:         shim,
		Environ:      appEnviron(env.environ),
		Notify:       sdnotify.New(env.getenv("NOTIFY_SOCKET")),
		Subreaper:    true,
		ChildSignals: env.childSignals,
		Scope:        agentScope(path),
	})
	if err := e.Run(context.Background()); err != nil {
		var netErr *net.OpError
		if errors.As(err, &netErr) {
			log.Error().Err(err).Msg("dewy cannot hold a listen address; nothing was started")
			return exitNet
		}
		log.Error().Err(err).Msg("dewy stopped with an error")
		return exitApp
	}
	return exitOK
}

// reloader re-reads the file with the same environment and flags.
func reloader(path string, in config.Inputs) func(context.Context) (*plan.Plan, error) {
	return func(context.Context) (*plan.Plan, error) {
		res := config.Load(path, in)
		if !res.Diags.HasErrors() {
			return res.Plan, nil
		}
		var b bytes.Buffer
		_ = config.WriteDiagnostics(&b, res.Files, res.Diags)
		return nil, errors.New(strings.TrimSpace(fmt.Sprintf("%s: %s\n%s", path, countErrors(res), b.String())))
	}
}

// agentScope names this agent across its restarts: a hash of its config
// file's absolute path. Two agents on one host (two files) never touch each
// other's apps; a restarted agent recognises what its predecessor left.
func agentScope(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:6])
}

func signalsOf(t plan.SignalTable) []os.Signal {
	var out []os.Signal
	for _, s := range t.Signals() {
		out = append(out, s)
	}
	return out
}

// appEnviron is dewy's environment minus what belongs to dewy alone: its
// own systemd notify socket and socket-activation variables. Each app
// generation gets its own.
func appEnviron(environ []string) []string {
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "SERVER_STARTER_PORT", "SERVER_STARTER_GENERATION":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}
