package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
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
	stdin   io.Reader
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
	// version is what `dewy version` prints after "dewy ".
	version string
}

func (e cliEnv) getenv(name string) string {
	for _, kv := range e.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// exitError ends a command with an exit code; the command has already
// said why (on stderr or in the log), so nothing more is printed.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitWith turns a command's exit code into its RunE result.
func exitWith(code int) error {
	if code == exitOK {
		return nil
	}
	return exitError(code)
}

const rootLong = `dewy: a declarative process manager and pull-based deployment agent

  dewy [run] [-c FILE] [flags]   supervise and deploy the apps FILE declares
  dewy validate [--json] [FILE]  check FILE and print the effective signal table
  dewy version                   print the version
  dewy status [--json]           ask the running agent: every app's state
  dewy restart|deploy|rollback|releases APP, dewy signal APP SIG, dewy reload
                                 act on the running agent over its control socket
  dewy server [flags] -- COMMAND the original dewy's command line (also dewy assets);
  dewy config convert [flags] -- COMMAND   prints the file it stands for

FILE defaults to $DEWY_CONFIG, then /etc/dewy.hcl. The agent flags override
the file's agent block and the DEWY_* variables.`

// runCLI runs one command line and returns the process's exit code.
func runCLI(env cliEnv) int {
	root := newRootCmd(env)
	root.SetArgs(env.args)
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	var code exitError
	if errors.As(err, &code) {
		return int(code)
	}
	// A usage error: unknown command, unknown flag, wrong arguments. One
	// line, and where to find the right usage.
	fmt.Fprintf(env.stderr, "%s: %s. Run `%s --help` for usage.\n", cmd.CommandPath(), strings.TrimSuffix(err.Error(), "."), cmd.CommandPath())
	return exitConfig
}

func newRootCmd(env cliEnv) *cobra.Command {
	root := &cobra.Command{
		Use:           "dewy [-c FILE] [flags]",
		Short:         "A declarative process manager and pull-based deployment agent",
		Long:          rootLong,
		Version:       env.version,
		SilenceUsage:  true,
		SilenceErrors: true,
		// With no subcommand dewy runs, as `dewy run` does.
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(cmdRun(env, cmd.Flags(), setFlagsOf(cmd.Flags())))
		},
	}
	root.SetVersionTemplate("dewy {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	addAgentFlags(root.Flags())

	run := &cobra.Command{
		Use:   "run [-c FILE] [flags] [FILE]",
		Short: "Supervise and deploy the apps the config file declares",
		Long: `Supervise and deploy the apps the config file declares, until a shutdown
signal. FILE is -c, else the positional argument, else $DEWY_CONFIG, else
/etc/dewy.hcl. The agent flags override the file's agent block and DEWY_*.`,
		Args: maxOneFile(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(cmdRun(env, cmd.Flags(), setFlagsOf(cmd.Flags())))
		},
	}
	addAgentFlags(run.Flags())

	validate := &cobra.Command{
		Use:   "validate [--json] [FILE]",
		Short: "Check the config file and print the effective signal table",
		Long: `Check the config file and report every problem with its line and column.
A valid file prints the effective signal table, how each app's readiness is
verified, and each agent setting with where its value came from. Exit 0 when
valid (warnings allowed), 1 on errors.`,
		Args: maxOneFile(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return exitWith(cmdValidate(env, cmd.Flags(), setFlagsOf(cmd.Flags())))
		},
	}
	addAgentFlags(validate.Flags())
	validate.Flags().Bool("json", false, "print diagnostics and the signal table as JSON")

	ver := &cobra.Command{
		Use:   "version",
		Short: "Print dewy's version, revision and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "dewy %s\n", env.version)
			return nil
		},
	}

	root.AddCommand(run, validate, ver)
	root.AddCommand(clientCommands(env)...)
	root.AddCommand(flagCommands(env)...)
	return root
}

// maxOneFile accepts at most one positional FILE.
func maxOneFile() cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 1 {
			return fmt.Errorf("one FILE at most, got %d (%s)", len(args), strings.Join(args, " "))
		}
		return nil
	}
}

// addAgentFlags declares -c and one flag per agent setting of the config
// spec (log_level -> --log-level).
func addAgentFlags(fs *pflag.FlagSet) {
	fs.SortFlags = false
	fs.StringP("config", "c", "", "config file (default $DEWY_CONFIG or "+config.DefaultPath+")")
	as, _ := config.Spec().Block("agent")
	for _, a := range as.Attrs {
		fs.String(strings.TrimPrefix(config.FlagName(a.Name), "--"), "", a.Doc)
	}
}

// setFlagsOf lists the agent settings the user actually set on the command
// line, keyed by setting (log_level), so an unset flag's empty default never
// overwrites the file's value.
func setFlagsOf(fs *pflag.FlagSet) map[string]string {
	as, _ := config.Spec().Block("agent")
	keys := map[string]string{}
	for _, a := range as.Attrs {
		keys[strings.TrimPrefix(config.FlagName(a.Name), "--")] = a.Name
	}
	out := map[string]string{}
	fs.Visit(func(f *pflag.Flag) {
		if key, ok := keys[f.Name]; ok {
			out[key] = f.Value.String()
		}
	})
	return out
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
