package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/dewyhq/dewy/engine/plan"
)

// loadInPieces is LoadSource with every source cut at every top-level
// newline (when splitTopLevel follows it).
func loadInPieces(src []byte, filename string, in Inputs) Result {
	l := NewLoader()
	l.chunks = chunking{above: 0, size: 1}
	f, diags := l.Parse(src, filename)
	return finish(l, f, diags, in)
}

// planText renders what a plan decides, for comparing two plans.
func planText(t *testing.T, p *plan.Plan) string {
	t.Helper()
	if p == nil {
		return "<nil>"
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := json.Marshal(table(p))
	if err != nil {
		t.Fatal(err)
	}
	return string(b) + "\n" + string(rows)
}

// Parsing in pieces gives what parsing whole gives: the same diagnostics
// (rendered, with positions and snippets) and the same plan, for every
// fixture and example.
func TestPiecesMatchWhole(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.hcl")
	examples, _ := filepath.Glob("../examples/*/dewy.hcl")
	files = append(files, examples...)
	files = append(files, "../dewy.hcl.example")
	files = append(files, "testdata/generated/many_apps.hcl") // not a file: generated below
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if strings.HasPrefix(path, "testdata/generated/") {
				src, err = append(manyAppsSource(50), duplicateSignalsSource(3)...), nil
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := splitTopLevel(src, 1); !ok {
				t.Skip("not split: heredoc, template or unbalanced")
			}
			whole := LoadSource(src, path, Inputs{})
			pieces := loadInPieces(src, path, Inputs{})
			if diff := cmp.Diff(render(t, whole), render(t, pieces)); diff != "" {
				t.Errorf("diagnostics (-whole +pieces):\n%s", diff)
			}
			if diff := cmp.Diff(planText(t, whole.Plan), planText(t, pieces.Plan)); diff != "" {
				t.Errorf("plan (-whole +pieces):\n%s", diff)
			}
		})
	}
}

func TestSplitTopLevel(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // the pieces; nil when the source is not split
	}{
		{"items", "a {\n}\nb {\n}\n", []string{"a {\n}\n", "b {\n}\n"}},
		{"newlines inside brackets stay", "x = [\n1,\n]\ny = 2", []string{"x = [\n1,\n]\n", "y = 2"}},
		{"comments", "# { not a brace\n// ( nor this\n/* [\n] */ z = 1\n", []string{"# { not a brace\n", "// ( nor this\n", "/* [\n] */ z = 1\n"}},
		{"strings with braces and escapes", "a = \"{\\\"[\"\nb = 1\n", []string{"a = \"{\\\"[\"\n", "b = 1\n"}},
		{"heredoc", "a = <<EOT\n}\nEOT\n", nil},
		{"template", "a = \"${x}\"\n", nil},
		{"unbalanced", "a {\n", nil},
		{"extra close", "}\n{\n", nil},
		{"unterminated string", "a = \"x\n", nil},
		{"unterminated comment", "/* x\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := []byte(tt.src)
			pieces, ok := splitTopLevel(src, 1)
			var got []string
			if ok {
				got = []string{}
				line := 1
				for _, p := range pieces {
					got = append(got, string(src[p.start:p.end]))
					if p.pos.Byte != p.start || p.pos.Line != line || p.pos.Column != 1 {
						t.Errorf("piece at %d has position %+v, want line %d", p.start, p.pos, line)
					}
					line += strings.Count(string(src[p.start:p.end]), "\n")
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pieces (-want +got):\n%s", diff)
			}
		})
	}
}

// A large source that cannot be split and is garbage from its start is
// read no further than its head.
func TestGarbageHead(t *testing.T) {
	res := LoadSource(randomText(4<<20), "dewy.hcl", Inputs{})
	if len(res.Diags) != MaxDiagnostics+1 || res.Diags[0].Summary != "Too many errors" {
		t.Fatalf("%d diagnostics, the first %q", len(res.Diags), res.Diags[0].Summary)
	}
	if !strings.Contains(res.Diags[0].Detail, "dewy.hcl has ") {
		t.Errorf("detail does not name the file: %q", res.Diags[0].Detail)
	}
	if out := render(t, res); len(out) > maxRenderedOutput {
		t.Errorf("rendered %d bytes", len(out))
	}
}

// A large valid source that cannot be split (a heredoc) is parsed whole.
func TestLargeUnsplittableValid(t *testing.T) {
	src := append(manyAppsSource(10_000), "app \"h\" {\n  command = [\"/h\"]\n  hooks {\n    before_deploy = <<EOT\necho }\nEOT\n  }\n}\n"...)
	if len(src) <= chunkAbove {
		t.Fatalf("source of %d bytes is not large", len(src))
	}
	if _, ok := splitTopLevel(src, chunkSize); ok {
		t.Fatal("a source with a heredoc was split")
	}
	res := LoadSource(src, "dewy.hcl", Inputs{})
	if res.Errors != 0 || res.Warnings != 1 || len(res.Plan.Apps) != 10_001 { // the warning: hooks without a registry
		t.Fatalf("%d apps, diagnostics %v", len(res.Plan.Apps), res.Diags)
	}
}

// A large valid source is parsed in pieces, to the same plan.
func TestLargeSplitValid(t *testing.T) {
	src := manyAppsSource(10_000)
	pieces, ok := splitTopLevel(src, chunkSize)
	if !ok || len(pieces) < 2 {
		t.Fatalf("not split: %d pieces", len(pieces))
	}
	res := LoadSource(src, "dewy.hcl", Inputs{})
	if len(res.Diags) != 0 || len(res.Plan.Apps) != 10_000 {
		t.Fatalf("%d apps, diagnostics %v", len(res.Plan.Apps), res.Diags)
	}
	if res.Files["dewy.hcl"] == nil || len(res.Files["dewy.hcl"].Bytes) != len(src) {
		t.Error("the whole source is not kept for snippets")
	}
}
