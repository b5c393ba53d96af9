package main

import (
	"flag"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script/*.txtar")

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"dewy": main})
}

// TestScripts runs the CLI scripts: user-visible output and exit codes of
// dewy validate, the layering order, and the other subcommands. `go test
// ./cmd/dewy -update` rewrites the expected output in place.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup: func(env *testscript.Env) error {
			// A clean slate: no DEWY_* from the developer's shell.
			env.Setenv("DEWY_CONFIG", "")
			env.Setenv("DEWY_LOG_LEVEL", "")
			return nil
		},
	})
}
