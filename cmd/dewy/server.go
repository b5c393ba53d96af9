package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/dewyhq/dewy/config"
)

// flagCommands are the flag-driven commands of the original dewy: server,
// assets, and config convert, which prints the file they stand for.
func flagCommands(env cliEnv) []*cobra.Command {
	server := flagCommand(env, kindServer, "server [flags] -- COMMAND [ARGS...]",
		"Keep an app server on the newest release (the original dewy's command line)",
		`Keep an app server on the newest release of --registry, as the original
dewy did: releases/<time>/ and current in the working directory (or -d DIR),
the app run from COMMAND with the --port sockets held by dewy and handed to
every generation, a graceful restart for each new release.

The flags become a config file (see `+"`dewy config convert`"+`), which then runs
as dewy -c FILE would. One difference: SIGHUP no longer restarts the app;
dewy ignores it (it is meant for the app). State goes to $DEWY_STATE_DIR
(default /var/lib/dewy), the control socket to $DEWY_ADMIN_SOCKET.`)
	assets := flagCommand(env, kindAssets, "assets [flags]",
		"Keep a folder of files on the newest release (the original dewy's command line)",
		`Keep a folder of files (static assets) on the newest release of --registry:
releases/<time>/ and current in the working directory (or -d DIR). Nothing
runs; the deploy hooks run at each deploy.`)

	convert := &cobra.Command{
		Use:   "convert [flags] -- COMMAND [ARGS...]",
		Short: "Print the dewy.hcl that a flag-driven command line stands for",
		Long: `Print the config file that dewy server (or, with --assets, dewy assets)
with these flags stands for, so that a systemd unit can move to
dewy -c /etc/dewy.hcl. Comments mark where a flag's meaning changed.`,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := kindServer
			if a, _ := cmd.Flags().GetBool("assets"); a {
				kind = kindAssets
			}
			c, err := flagPlanOf(env, cmd, kind, args)
			if err != nil {
				return err
			}
			fmt.Fprint(env.stdout, c.hcl())
			return nil
		},
	}
	var f legacyFlags
	addLegacyFlags(convert.Flags(), &f)
	convert.Flags().Bool("assets", false, "convert a dewy assets command line instead of dewy server")
	cfg := &cobra.Command{Use: "config", Short: "Work with config files: convert"}
	cfg.AddCommand(convert)
	return []*cobra.Command{server, assets, cfg}
}

// flagCommand is dewy server or dewy assets.
func flagCommand(env cliEnv, kind flagKind, use, short, long string) *cobra.Command {
	var f legacyFlags
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long,
		RunE: func(cmd *cobra.Command, args []string) error {
			if v, _ := cmd.Flags().GetBool("version"); v {
				fmt.Fprintf(env.stdout, "dewy %s\n", env.version)
				return nil
			}
			c, err := flagPlanOf(env, cmd, kind, args)
			if err != nil {
				return err
			}
			src := []byte(c.hcl())
			name := filepath.Join(c.dir, "dewy "+string(kind)+" flags")
			in := config.Inputs{Environ: env.environ, CheckHost: true}
			return exitWith(runPlan(env, planSource{
				name:  name,
				scope: name,
				load:  func() config.Result { return config.LoadSource(src, name, in) },
				fix:   "Check the flags; `dewy config convert` prints the config they stand for.",
				started: func(log zerolog.Logger) {
					if kind == kindServer {
						log.Warn().Msg("SIGHUP no longer restarts the app: dewy ignores it, as it is meant for the app (the flag-driven dewy restarted on HUP). To keep the old behaviour, move to a file with `dewy config convert ... > /etc/dewy.hcl` and add signal \"HUP\" { action = \"restart\" }; USR1 restarts gracefully as before")
					}
				},
			}))
		},
	}
	addLegacyFlags(cmd.Flags(), &f)
	cmd.Flags().BoolP("version", "v", false, "print dewy's version")
	return cmd
}

// flagPlanOf checks the command line of kind.
func flagPlanOf(env cliEnv, cmd *cobra.Command, kind flagKind, args []string) (*flagConfig, error) {
	var f legacyFlags
	fs := cmd.Flags()
	f.Registry, _ = fs.GetString("registry")
	f.Notifiers, _ = fs.GetStringArray("notifier")
	f.Ports, _ = fs.GetStringArray("port")
	f.Interval, _ = fs.GetString("interval")
	f.LogLevel, _ = fs.GetString("log-level")
	f.LogFormat, _ = fs.GetString("log-format")
	f.Cache, _ = fs.GetString("cache")
	f.BeforeHook, _ = fs.GetString("before-deploy-hook")
	f.AfterHook, _ = fs.GetString("after-deploy-hook")
	f.Slot, _ = fs.GetString("slot")
	f.Calver, _ = fs.GetString("calver")
	f.HealthPath, _ = fs.GetString("health-path")
	f.HealthTimeout, _ = fs.GetString("health-timeout")
	f.Dir, _ = fs.GetString("dir")
	if n := fs.ArgsLenAtDash(); n > 0 {
		return nil, usageError{fmt.Sprintf("unexpected %q before --: the app's command goes after --", strings.Join(args[:n], " "))}
	} else if n < 0 && len(args) > 0 {
		return nil, usageError{fmt.Sprintf("unexpected %q: put the app's command after --, as in -- %s", strings.Join(args, " "), strings.Join(args, " "))}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	c, err := checkFlags(kind, f, args, cwd)
	if err != nil {
		return nil, err
	}
	c.line = commandLine(kind, env.args)
	return c, nil
}

// commandLine rebuilds the command line for the converted file's comment.
func commandLine(kind flagKind, args []string) string {
	out := []string{"dewy", string(kind)}
	skip := true
	for _, a := range args {
		if skip {
			// Drop "config convert [--assets]" or "server": the words up to
			// the command's own name.
			if a == "convert" || a == string(kind) {
				skip = false
			}
			continue
		}
		if a == "--assets" {
			continue
		}
		if strings.ContainsAny(a, " \t'\"$`\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}
