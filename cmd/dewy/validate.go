package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/dewyhq/dewy/config"
	"github.com/dewyhq/dewy/engine/plan"
)

// cmdValidate checks a config and prints every diagnostic; on success it
// prints the effective signal table and agent settings with their origins.
// Exit 0 when valid (warnings allowed), 1 on errors.
func cmdValidate(env cliEnv, fs *pflag.FlagSet, setFlags map[string]string) int {
	asJSON, _ := fs.GetBool("json")
	path := configPath(env, fs)
	res := config.Load(path, config.Inputs{Environ: env.environ, Flags: setFlags, CheckHost: true})
	ok := !res.Diags.HasErrors()

	if asJSON {
		out := validateJSON{Valid: ok, Diagnostics: config.ToJSON(res.Diags)}
		if ok {
			out.Signals = signalRows(res.Plan)
			out.Readiness = readinessRows(res.Plan)
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		_ = config.WriteDiagnostics(env.stderr, res.Files, res.Diags)
		if ok {
			printPlan(env.stdout, path, res.Plan)
		} else {
			fmt.Fprintf(env.stderr, "%s: %s\n", path, countErrors(res))
		}
	}
	if !ok {
		return exitConfig
	}
	return exitOK
}

// countErrors says how many errors and warnings the file has, all of
// them: the diagnostics shown stop at config.MaxDiagnostics.
func countErrors(res config.Result) string {
	e, w := res.Errors, res.Warnings
	s := fmt.Sprintf("%d error(s)", e)
	if w > 0 {
		s += fmt.Sprintf(", %d warning(s)", w)
	}
	return s
}

type validateJSON struct {
	Valid       bool                    `json:"valid"`
	Diagnostics []config.JSONDiagnostic `json:"diagnostics"`
	Signals     []signalRow             `json:"signals,omitempty"`
	Readiness   []readinessRow          `json:"readiness,omitempty"`
}

// readinessRow says when an app's new generation counts as ready and what
// proves that the answer came from it and not from the old generation.
type readinessRow struct {
	App      string `json:"app"`
	When     string `json:"when"`
	ProvenBy string `json:"proven_by"`
}

func readinessRows(p *plan.Plan) []readinessRow {
	var rows []readinessRow
	for _, a := range p.Apps {
		r := a.Ready
		row := readinessRow{App: a.Name}
		switch {
		case a.Assets:
			row.When, row.ProvenBy = "-", "nothing runs: an assets app"
		case r.Notify:
			row.When, row.ProvenBy = "READY=1 on NOTIFY_SOCKET", "the sender's pid (SCM_CREDENTIALS) is the new generation's"
		case strings.HasPrefix(r.HTTP, "/"):
			row.When, row.ProvenBy = "GET "+r.HTTP+" answers 2xx", "a socket only the new generation has (LISTEN_FDNAMES dewy-ready, DEWY_READY_FD)"
		case r.HTTP != "" || r.TCP != "":
			row.When = "GET " + r.HTTP + " answers 2xx"
			if r.TCP != "" {
				row.When = r.TCP + " accepts a connection"
			}
			row.ProvenBy = "nothing needed: no generation of the app listens there"
			if r.Held != "" {
				row.ProvenBy = fmt.Sprintf("held address %s: the process that accepted the probe's connection must be the new generation's", r.Held)
			}
		default:
			row.When, row.ProvenBy = r.Delay.String()+" after start", "nothing: a fixed delay"
		}
		rows = append(rows, row)
	}
	return rows
}

type signalRow struct {
	Signal string `json:"signal"`
	Action string `json:"action"`
	Origin string `json:"origin"`
}

func signalRows(p *plan.Plan) []signalRow {
	var rows []signalRow
	for _, e := range p.Signals.Entries() {
		rows = append(rows, signalRow{Signal: plan.SignalName(e.Signal), Action: e.Action.String(), Origin: e.Origin})
	}
	return rows
}

func printPlan(w io.Writer, path string, p *plan.Plan) {
	fmt.Fprintf(w, "%s: valid: %d app(s), %d registry(ies), %d notifier(s)\n\n", path, len(p.Apps), len(p.Registries), len(p.Notifiers))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SIGNAL\tACTION\tFROM")
	for _, r := range signalRows(p) {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Signal, r.Action, r.Origin)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	if rows := readinessRows(p); len(rows) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "APP\tREADY WHEN\tPROVEN BY")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.App, r.When, r.ProvenBy)
		}
		_ = tw.Flush()
		fmt.Fprintln(w)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tFROM")
	keys := make([]string, 0, len(p.Agent.Origins))
	for k := range p.Agent.Origins {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	values := map[string]string{
		config.KeyLogLevel: p.Agent.LogLevel, config.KeyLogFormat: p.Agent.LogFormat,
		config.KeyStateDir: p.Agent.StateDir, config.KeyAdminSocket: p.Agent.AdminSocket,
		config.KeyPidFile:     p.Agent.PidFile,
		config.KeyContainment: p.Agent.Containment,
		config.KeyCache:       cacheString(p.Agent),
		config.KeyRegistryTTL: p.Agent.RegistryTTL.String(),
		config.KeyMetrics:     p.Agent.Metrics,
		config.KeyNotifiers:   strings.Join(p.Agent.Notifiers, ","),
	}
	for _, k := range keys {
		v := values[k]
		if v == "" {
			v = "(none)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k, v, p.Agent.Origins[k])
	}
	_ = tw.Flush()
}

// cacheString names the agent's cache as the table shows it.
func cacheString(a plan.Agent) string {
	if a.Cache == nil {
		return "local"
	}
	return a.Cache.Redacted()
}
