// Command dewy is the agent and its command-line tools. This is the only
// package that reads os.Args and the environment, registers real signals
// and calls os.Exit; everything else gets them as parameters.
package main

import (
	"os"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(runCLI(cliEnv{
		args:    os.Args[1:],
		environ: os.Environ(),
		stdout:  os.Stdout,
		stderr:  os.Stderr,
	}))
}
