package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/dewyhq/dewy/config"
)

// Exit codes, as PRODUCT.md fixes them.
const (
	exitOK     = 0
	exitConfig = 1
	exitNet    = 2
	exitFS     = 3
	exitApp    = 4
)

// cliEnv is the world a command sees; tests build their own.
type cliEnv struct {
	args    []string
	environ []string
	stdout  io.Writer
	stderr  io.Writer
	// signals receives the signals registered with notify.
	signals <-chan os.Signal
	notify  func(...os.Signal)
	// childSignals delivers SIGCHLD once watchChildren was called.
	childSignals  <-chan os.Signal
	watchChildren func()
	// self returns dewy's own executable, the LISTEN_PID shim.
	self func() (string, error)
}

func (e cliEnv) getenv(name string) string {
	for _, kv := range e.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

const usage = `dewy: a declarative process manager and pull-based deployment agent

Usage:
  dewy [run] [-c FILE] [flags]   supervise and deploy the apps FILE declares
  dewy validate [--json] [FILE]  check FILE and print the effective signal table
  dewy version                   print the version

FILE defaults to $DEWY_CONFIG, then /etc/dewy.hcl.

Flags (override the file's agent block and DEWY_* variables):
`

func runCLI(env cliEnv) int {
	args := env.args
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return cmdRun(env, args)
	case "validate":
		return cmdValidate(env, args)
	case "version":
		fmt.Fprintf(env.stdout, "dewy %s\n", version)
		return exitOK
	case "help":
		fs, _ := agentFlags("dewy")
		fmt.Fprint(env.stdout, usage)
		fs.SetOutput(env.stdout)
		fs.PrintDefaults()
		return exitOK
	default:
		fmt.Fprintf(env.stderr, "dewy: unknown command %q. Run `dewy help` for the commands.\n", cmd)
		return exitConfig
	}
}

// agentFlags declares the flags that override agent settings, plus -c.
// The returned function lists the settings the user actually set, so an
// unset flag's default never overwrites the file's value.
func agentFlags(name string) (*pflag.FlagSet, func() map[string]string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringP("config", "c", "", "config file (default $DEWY_CONFIG or "+config.DefaultPath+")")
	as, _ := config.Spec().Block("agent")
	keys := map[string]string{}
	for _, a := range as.Attrs {
		flag := strings.TrimPrefix(config.FlagName(a.Name), "--")
		fs.String(flag, "", a.Doc)
		keys[flag] = a.Name
	}
	set := func() map[string]string {
		out := map[string]string{}
		fs.Visit(func(f *pflag.Flag) {
			if key, ok := keys[f.Name]; ok {
				out[key] = f.Value.String()
			}
		})
		return out
	}
	return fs, set
}

// parseFlags parses args and reports a usage error on stderr.
func parseFlags(env cliEnv, fs *pflag.FlagSet, args []string) bool {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fs.SetOutput(env.stdout)
			fs.PrintDefaults()
			return false
		}
		fmt.Fprintf(env.stderr, "dewy %s: %v. Run `dewy help` for the flags.\n", fs.Name(), err)
		return false
	}
	return true
}

// configPath picks the file: -c, then a positional argument, then
// $DEWY_CONFIG, then the default path.
func configPath(env cliEnv, fs *pflag.FlagSet) string {
	if p, _ := fs.GetString("config"); p != "" {
		return p
	}
	if fs.NArg() > 0 {
		return fs.Arg(0)
	}
	if p := env.getenv("DEWY_CONFIG"); p != "" {
		return p
	}
	return config.DefaultPath
}
