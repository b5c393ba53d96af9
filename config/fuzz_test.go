package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes through parsing, decoding and compiling,
// in both syntaxes. It must never panic, a config without errors must
// always yield a plan with a complete signal table, and native syntax
// parsed in pieces must give the same verdict and plan as parsed whole.
func FuzzLoad(f *testing.F) {
	// The seed corpus: every fixture and example, plus the hand-made
	// corner cases in testdata/fuzz/FuzzLoad (which go test runs too).
	files, _ := filepath.Glob("testdata/*/*.hcl*")
	examples, _ := filepath.Glob("../examples/*/dewy.hcl")
	files = append(files, examples...)
	files = append(files, "../dewy.hcl.example")
	for _, p := range files {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(src, filepath.Ext(p) == ".json")
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, asJSON bool) {
		name := "fuzz.hcl"
		if asJSON {
			name = "fuzz.hcl.json"
		}
		in := Inputs{Environ: []string{"DEWY_LOG_LEVEL=debug"}}
		res := LoadSource(src, name, in)
		if !asJSON {
			// Parsing in pieces (large files) must accept and refuse what
			// parsing whole does, and build the same plan.
			pieces := loadInPieces(src, name, in)
			if pieces.Diags.HasErrors() != res.Diags.HasErrors() {
				t.Fatalf("whole has errors: %v, in pieces: %v\nwhole: %v\npieces: %v", res.Diags.HasErrors(), pieces.Diags.HasErrors(), res.Diags, pieces.Diags)
			}
			if !res.Diags.HasErrors() && planText(t, res.Plan) != planText(t, pieces.Plan) {
				t.Fatalf("plans differ:\nwhole:  %s\npieces: %s", planText(t, res.Plan), planText(t, pieces.Plan))
			}
		}
		if res.Diags.HasErrors() {
			return
		}
		if res.Plan == nil {
			t.Fatal("no errors but no plan")
		}
		if len(res.Plan.Signals.Signals()) < 5 {
			t.Fatalf("signal table lost entries: %v", res.Plan.Signals.Signals())
		}
		for _, a := range res.Plan.Apps {
			if len(a.Command) == 0 && (!a.Assets || a.Registry == "" || a.Dir == "") {
				t.Fatalf("app %q compiled without a command, and it is not an assets app with a registry and a dir", a.Name)
			}
			if a.Assets && len(a.Command) > 0 {
				t.Fatalf("assets app %q compiled with a command", a.Name)
			}
		}
	})
}
