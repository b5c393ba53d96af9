package config

import (
	"path/filepath"
	"testing"
)

// TestExamplesAreValid checks every shipped config: dewy.hcl.example and
// examples/*/dewy.hcl (and any *.hcl.json there) compile without errors
// or warnings.
func TestExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.hcl")
	jsons, _ := filepath.Glob("../examples/*/*.hcl.json")
	files = append(append(files, jsons...), "../dewy.hcl.example")
	if len(files) < 5 {
		t.Fatalf("found only %d example configs", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			res := Load(f, Inputs{})
			if len(res.Diags) > 0 {
				_ = WriteDiagnostics(testWriter{t}, res.Files, res.Diags)
				t.Fatalf("%d diagnostics", len(res.Diags))
			}
			if res.Plan.Signals.Signals() == nil {
				t.Fatal("no signal table")
			}
		})
	}
}
