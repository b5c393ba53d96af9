package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dewyhq/dewy/config"
	"github.com/dewyhq/dewy/control"
)

// The client commands talk to a running agent over its control socket.

const clientLong = `The agent is found by --socket, else $DEWY_ADMIN_SOCKET, else the admin_socket
of the config file (-c FILE, else $DEWY_CONFIG, else /etc/dewy.hcl, when it
exists), else /run/dewy.sock. Exit status: 0 done, 1 a bad request (no such
app, ...), 2 no agent answers, 4 the action failed.`

// clientCommands are status, restart, deploy, rollback, releases, signal
// and reload.
func clientCommands(env cliEnv) []*cobra.Command {
	mk := func(use, short string, args cobra.PositionalArgs, run func(ctx context.Context, c *control.Client, cmd *cobra.Command, args []string) error) *cobra.Command {
		cmd := &cobra.Command{
			Use: use, Short: short, Long: short + ".\n\n" + clientLong, Args: args,
			RunE: func(cmd *cobra.Command, args []string) error {
				path, err := controlSocket(env, cmd.Flags())
				if err != nil {
					fmt.Fprintf(env.stderr, "dewy: %v\n", err)
					return exitError(exitConfig)
				}
				return clientExit(env, run(context.Background(), control.NewClient(path), cmd, args))
			},
		}
		cmd.Flags().String("socket", "", "the agent's control socket (default: see below)")
		cmd.Flags().StringP("config", "c", "", "config file whose admin_socket to use")
		return cmd
	}

	status := mk("status", "Show every app's state, version and last deploy", cobra.NoArgs, func(ctx context.Context, c *control.Client, cmd *cobra.Command, _ []string) error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if j, _ := cmd.Flags().GetBool("json"); j {
			return writeJSON(env.stdout, st)
		}
		printStatus(env.stdout, st, time.Now())
		return nil
	})
	status.Flags().Bool("json", false, "print the status as JSON")

	restart := mk("restart APP", "Restart an app gracefully and wait until the new generation is ready", cobra.ExactArgs(1), func(ctx context.Context, c *control.Client, _ *cobra.Command, args []string) error {
		r, err := c.Restart(ctx, args[0])
		if err == nil {
			fmt.Fprintln(env.stdout, r.Message)
		}
		return err
	})

	deployCmd := mk("deploy APP [--version V]", "Deploy the newest release of an app now (or the version given) and wait for the result", cobra.ExactArgs(1), func(ctx context.Context, c *control.Client, cmd *cobra.Command, args []string) error {
		v, _ := cmd.Flags().GetString("version")
		stop := func() {}
		if isTerminal(env.stderr) {
			stop = showProgress(ctx, c, args[0], env.stderr)
		}
		r, err := c.Deploy(ctx, args[0], v)
		stop()
		if err != nil {
			return err
		}
		printDeploy(env.stdout, args[0], r)
		return nil
	})
	deployCmd.Flags().String("version", "", "deploy this version (older or newer) instead of the newest")

	rollback := mk("rollback APP", "Switch an app back to its previous kept release and restart it gracefully", cobra.ExactArgs(1), func(ctx context.Context, c *control.Client, _ *cobra.Command, args []string) error {
		r, err := c.Rollback(ctx, args[0])
		if err == nil {
			printDeploy(env.stdout, args[0], r)
		}
		return err
	})

	releases := mk("releases APP", "List an app's kept releases", cobra.ExactArgs(1), func(ctx context.Context, c *control.Client, cmd *cobra.Command, args []string) error {
		rels, err := c.Releases(ctx, args[0])
		if err != nil {
			return err
		}
		if j, _ := cmd.Flags().GetBool("json"); j {
			return writeJSON(env.stdout, rels)
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RELEASE\tVERSION\tCURRENT\tFAILED")
		for _, r := range rels {
			cur := ""
			if r.Current {
				cur = "*"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Version, cur, r.Failed)
		}
		return tw.Flush()
	})
	releases.Flags().Bool("json", false, "print the releases as JSON")

	signal := mk("signal APP SIG", "Send a signal (HUP, USR2, ...) to an app's current worker", cobra.ExactArgs(2), func(ctx context.Context, c *control.Client, _ *cobra.Command, args []string) error {
		r, err := c.Signal(ctx, args[0], args[1])
		if err == nil {
			fmt.Fprintln(env.stdout, r.Message)
		}
		return err
	})

	reload := mk("reload", "Re-read the config file and apply it, or keep everything as it is", cobra.NoArgs, func(ctx context.Context, c *control.Client, _ *cobra.Command, _ []string) error {
		r, err := c.Reload(ctx)
		if err == nil {
			fmt.Fprintln(env.stdout, r.Message)
		}
		return err
	})
	return []*cobra.Command{status, restart, deployCmd, rollback, releases, signal, reload}
}

// controlSocket finds the agent's socket: --socket, $DEWY_ADMIN_SOCKET,
// the admin_socket of -c FILE (else $DEWY_CONFIG, else the default file
// when it exists), else the default.
func controlSocket(env cliEnv, fs *pflag.FlagSet) (string, error) {
	if s, _ := fs.GetString("socket"); s != "" {
		return s, nil
	}
	if s := env.getenv(config.EnvName(config.KeyAdminSocket)); s != "" {
		return s, nil
	}
	path, _ := fs.GetString("config")
	explicit := path != ""
	if !explicit {
		path = env.getenv("DEWY_CONFIG")
		explicit = path != ""
	}
	if path == "" {
		path = config.DefaultPath
	}
	if _, err := os.Stat(path); err != nil && !explicit {
		return config.AgentDefaults()[config.KeyAdminSocket], nil
	}
	res := config.Load(path, config.Inputs{Environ: env.environ})
	if res.Diags.HasErrors() {
		return "", fmt.Errorf("cannot read admin_socket from %s: %s; give the socket with --socket", path, countErrors(res))
	}
	return res.Plan.Agent.AdminSocket, nil
}

// clientExit prints err in one line and maps it to the exit status.
func clientExit(env cliEnv, err error) error {
	if err == nil {
		return nil
	}
	fmt.Fprintf(env.stderr, "dewy: %v\n", err)
	var nr *control.NotRunningError
	var api *control.APIError
	switch {
	case errors.As(err, &nr), errors.Is(err, control.ErrNotDewy):
		return exitError(exitNet)
	case errors.As(err, &api) && api.Status < 500:
		return exitError(exitConfig)
	default:
		return exitError(exitApp)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printStatus writes the status as a table, then each app's problem.
func printStatus(w io.Writer, st control.Status, now time.Time) {
	fmt.Fprintf(w, "dewy %s, pid %d, up %s", st.Version, st.PID, roundDur(now.Sub(st.Started)))
	if st.Config != "" {
		fmt.Fprintf(w, ", %s", st.Config)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tSTATE\tPID\tGEN\tVERSION\tUPTIME\tRESTARTS\tLAST DEPLOY\tNEXT POLL")
	for _, a := range st.Apps {
		pid, gen, up := "-", "-", "-"
		if a.PID > 0 {
			pid, gen, up = fmt.Sprint(a.PID), fmt.Sprint(a.Generation), roundDur(time.Duration(a.Uptime*float64(time.Second))).String()
		}
		version := dash(a.Version)
		last, next := "-", "-"
		if d := a.LastDeploy; d != nil {
			last = fmt.Sprintf("%s %s, %s ago", d.Result, d.Version, roundDur(now.Sub(d.At)))
			last = strings.Replace(last, "  ", " ", 1)
		}
		if a.NextPoll != nil {
			next = "in " + roundDur(a.NextPoll.Sub(now)).String()
		}
		if a.Registry == "" {
			next = "(no registry)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", a.Name, a.State, pid, gen, version, up, a.Restarts, last, next)
	}
	_ = tw.Flush()
	for _, a := range st.Apps {
		if a.LastError != "" {
			fmt.Fprintf(w, "%s: last start failed: %s\n", a.Name, a.LastError)
		}
		if d := a.LastDeploy; d != nil && d.Error != "" {
			fmt.Fprintf(w, "%s: deploy %s %s: %s\n", a.Name, d.ID, d.Result, d.Error)
		}
		if d := a.Download; d != nil {
			fmt.Fprintf(w, "%s: downloading %s: %s\n", a.Name, d.Version, bytesOf(d.Bytes, d.Total))
		}
	}
}

func printDeploy(w io.Writer, app string, r control.Result) {
	d := r.Deploy
	if d == nil {
		fmt.Fprintf(w, "%s: %s\n", app, r.Message)
		return
	}
	switch {
	case d.Result == "rolled back":
		fmt.Fprintf(w, "%s: rolled back %s to %s (deploy %s)\n", app, d.Detail, d.Version, d.ID)
	case d.Detail != "":
		fmt.Fprintf(w, "%s: %s: %s (deploy %s)\n", app, d.Result, d.Detail, d.ID)
	default:
		fmt.Fprintf(w, "%s: %s %s (deploy %s)\n", app, d.Result, d.Version, d.ID)
	}
}

// showProgress draws the app's download on w (a terminal) until stop is
// called.
func showProgress(ctx context.Context, c *control.Client, app string, w io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		drawn := false
		for {
			select {
			case <-ctx.Done():
				if drawn {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-t.C:
			}
			st, err := c.Status(ctx)
			if err != nil {
				continue
			}
			for _, a := range st.Apps {
				if a.Name == app && a.Download != nil {
					fmt.Fprintf(w, "\r\033[K%s: downloading %s %s", app, a.Download.Version, bar(a.Download.Bytes, a.Download.Total))
					drawn = true
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// bar renders "[=====>     ] 45.2 MB of 200.0 MB".
func bar(done, total int64) string {
	if total <= 0 {
		return bytesOf(done, total)
	}
	const width = 30
	n := int(float64(width) * float64(done) / float64(total))
	n = min(max(n, 0), width)
	fill := strings.Repeat("=", n)
	if n < width {
		fill += ">" + strings.Repeat(" ", width-n-1)
	}
	return "[" + fill + "] " + bytesOf(done, total)
}

func bytesOf(done, total int64) string {
	mb := func(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
	if total <= 0 {
		return mb(done)
	}
	return mb(done) + " of " + mb(total)
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d < time.Minute:
		return d.Round(time.Second)
	default:
		return d.Round(time.Minute)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
