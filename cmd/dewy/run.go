package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/dewyhq/dewy/config"
	"github.com/dewyhq/dewy/control"
	"github.com/dewyhq/dewy/engine"
	"github.com/dewyhq/dewy/engine/event"
	"github.com/dewyhq/dewy/engine/logging"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/sdnotify"
	"github.com/dewyhq/dewy/internal/fdinherit"
	"github.com/dewyhq/dewy/internal/pidfile"
	"github.com/dewyhq/dewy/listener"
)

// planSource is where the plan comes from: a config file, or the
// flag-driven command line turned into one (dewy server, dewy assets).
type planSource struct {
	// name is the file's path, or what stands for it in logs.
	name string
	// load reads it, at start and at each reload.
	load func() config.Result
	// scope names the agent across its restarts (agentScope).
	scope string
	// fix says how to find what is wrong when it does not load.
	fix string
	// started, when set, logs what this front end must say at start.
	started func(zerolog.Logger)
}

// cmdRun loads the config and runs the engine until a shutdown action.
func cmdRun(env cliEnv, fs *pflag.FlagSet, setFlags map[string]string) int {
	path := configPath(env, fs)
	in := config.Inputs{Environ: env.environ, Flags: setFlags, CheckHost: true}
	return runPlan(env, planSource{
		name: path, scope: path,
		load: func() config.Result { return config.Load(path, in) },
		fix:  fmt.Sprintf("Fix the file and check it with `dewy validate %s`.", path),
	})
}

// runPlan runs the engine on src's plan until a shutdown action.
func runPlan(env cliEnv, src planSource) int {
	// First, before anything can spawn: descriptors dewy inherited (other
	// than systemd's sockets for dewy itself) must not leak into the apps.
	self := os.Getpid()
	cloexec, cloexecErr := fdinherit.CloseOnExec(fdinherit.SocketActivation(env.environ, self))

	// Register every signal a signal block may name before anything slow:
	// an early TERM or USR1 is queued instead of killing dewy, and one the
	// table has no entry for is logged instead of killing or stopping it.
	env.notify(nameableSignals()...)

	path := src.name
	res := src.load()
	_ = config.WriteDiagnostics(env.stderr, res.Files, res.Diags)
	if res.Diags.HasErrors() {
		fmt.Fprintf(env.stderr, "%s: %s; not starting. %s\n", path, countErrors(res), src.fix)
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
	if cloexecErr != nil {
		log.Warn().Err(cloexecErr).Msg("cannot mark inherited descriptors close-on-exec; the apps may inherit them")
	} else if len(cloexec) > 0 {
		log.Debug().Ints("fds", cloexec).Msg("inherited descriptors marked close-on-exec")
	}

	// The pid file is checked before anything is bound or started, and
	// written once dewy is up.
	pidPath := p.Agent.PidFile
	if pidPath != "" {
		if pidPath, err = filepath.Abs(pidPath); err != nil {
			log.Error().Err(err).Str("pid_file", p.Agent.PidFile).Msg("cannot resolve the pid file's path; not starting")
			return exitFS
		}
		if err := pidfile.Check(pidPath, self); err != nil {
			var running *pidfile.RunningError
			if errors.As(err, &running) {
				log.Error().Err(err).Str("pid_file", pidPath).Int("pid", running.Pid).Msg("another dewy is running; not starting")
				return exitConfig
			}
			log.Error().Err(err).Str("pid_file", pidPath).Msg("cannot write the pid file; not starting")
			return exitFS
		}
		defer func() {
			removed, err := pidfile.Remove(pidPath, self)
			if err != nil {
				log.Warn().Err(err).Str("pid_file", pidPath).Msg("cannot remove the pid file")
			} else if removed {
				log.Debug().Str("pid_file", pidPath).Msg("pid file removed")
			}
		}()
	}

	// The control socket, before anything starts: a second agent on the
	// same path stops here.
	ctl, code := openControl(log, p.Agent.AdminSocket)
	if code != exitOK {
		return code
	}
	started := time.Now()

	shim, err := env.self()
	if err != nil {
		log.Warn().Err(err).Msg("cannot find dewy's own executable; apps start without the LISTEN_PID shim, so systemd-style socket activation is unavailable")
		shim = ""
	}
	log.Info().Str("config", path).Int("pid", self).Int("apps", len(p.Apps)).Str("version", env.version).Msg("dewy starting")
	if src.started != nil {
		src.started(log)
	}

	if env.watchChildren != nil {
		env.watchChildren()
	}
	// Notifiers: subscribed before the engine publishes; at exit, what is
	// queued (the stop message) gets notifyCloseTimeout to leave.
	bus := event.NewBus()
	host, _ := os.Hostname()
	notifs := startNotifiers(p, bus, env.getenv, host, env.version, log)
	defer notifs.stop()
	var agent control.Agent
	met := newMetrics(env.version, &agent, notifs.stats)
	e := engine.New(engine.Options{
		Observer: met,
		Events:   bus,
		Applied:  notifs.applied,
		Plan:     p,
		Signals:  env.signals,
		Register: env.notify,
		Reload:   reloader(path, src.load),
		ApplyAgent: func(a plan.Agent) error {
			return logOut.Apply(logging.Options{Level: a.LogLevel, Format: a.LogFormat, Color: color})
		},
		Logger:       log,
		Shim:         shim,
		Environ:      appEnviron(env.environ),
		Notify:       sdnotify.New(env.getenv(listener.EnvNotifySocket)),
		Subreaper:    true,
		ChildSignals: env.childSignals,
		Scope:        agentScope(src.scope),
		Banner:       fmt.Sprintf("dewy %s with %s", env.version, path),
		NoCgroup:     p.Agent.Containment == "token",
		Up: func() {
			if pidPath == "" {
				return
			}
			if err := pidfile.Write(pidPath, self); err != nil {
				log.Error().Err(err).Str("pid_file", pidPath).Msg("cannot write the pid file")
				return
			}
			log.Info().Str("pid_file", pidPath).Int("pid", self).Msg("pid file written")
		},
	})
	agent = e.Control(engine.ControlInfo{Version: env.version, Config: path, Started: started})
	stopControl := ctl.serve(agent, map[string]http.Handler{"GET /metrics": met.Handler()})
	defer stopControl()
	defer serveMetrics(log, p.Agent.Metrics, met.Handler())()
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

// reloader re-reads the file with the same environment and flags. The
// load runs beside the caller, which stops waiting for it when ctx ends
// (shutdown); the load itself ends on its own soon after, bounded by
// config.MaxFileSize.
func reloader(path string, load func() config.Result) func(context.Context) (*plan.Plan, error) {
	return func(ctx context.Context) (*plan.Plan, error) {
		done := make(chan config.Result, 1)
		go func() { done <- load() }()
		var res config.Result
		select {
		case res = <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
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

// nameableSignals are the signals a signal block may name, registered at
// start so that one without an entry is logged ("no action for SIGUSR2;
// ignored") rather than killing dewy or vanishing. Left to their defaults
// until the table names them: the terminal's job-control signals (TSTP,
// TTIN, TTOU: Ctrl-Z still suspends a foreground dewy, and a caught TTOU
// would make a background write to a terminal retry forever) and WINCH,
// which every resize of the terminal sends.
func nameableSignals() []os.Signal {
	var out []os.Signal
	for _, n := range plan.SignalNames() {
		s, _, status, _ := plan.ParseSignal(n)
		switch {
		case status != plan.SignalUsable:
		case s == syscall.SIGTSTP, s == syscall.SIGTTIN, s == syscall.SIGTTOU, s == syscall.SIGWINCH:
		default:
			out = append(out, s)
		}
	}
	return out
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
		case listener.EnvNotifySocket, listener.EnvListenFDs, listener.EnvListenPID, listener.EnvListenFDNames,
			listener.EnvServerStarterPort, listener.EnvServerStarterGeneration:
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
