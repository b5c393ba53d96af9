package main

import (
	"fmt"

	"github.com/dewyhq/dewy/config"
)

// cmdRun loads the config and runs the engine until a shutdown action.
func cmdRun(env cliEnv, args []string) int {
	fs, setFlags := agentFlags("run")
	if !parseFlags(env, fs, args) {
		return exitConfig
	}
	path := configPath(env, fs)
	res := config.Load(path, config.Inputs{Environ: env.environ, Flags: setFlags()})
	_ = config.WriteDiagnostics(env.stderr, res.Files, res.Diags)
	if res.Diags.HasErrors() {
		fmt.Fprintf(env.stderr, "%s: %s; not starting. Fix the file and check it with `dewy validate %s`.\n", path, countErrors(res), path)
		return exitConfig
	}
	fmt.Fprintf(env.stderr, "dewy: %s compiled (%d apps); the supervisor is not built yet.\n", path, len(res.Plan.Apps))
	return exitApp
}
