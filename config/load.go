package config

import (
	"sort"

	"github.com/hashicorp/hcl/v2"

	"github.com/dewyhq/dewy/engine/plan"
)

// Result is what Load returns: the plan (meaningful only without errors),
// every diagnostic, and the parsed sources for rendering them.
type Result struct {
	Plan  *plan.Plan
	Diags hcl.Diagnostics
	Files map[string]*hcl.File
}

// Load reads, decodes and compiles a config file with a fresh parser.
func Load(filename string, in Inputs) Result {
	l := NewLoader()
	f, diags := l.LoadFile(filename)
	return finish(l, f, diags, in)
}

// LoadSource is Load for source already in memory (tests, fuzzing).
func LoadSource(src []byte, filename string, in Inputs) Result {
	l := NewLoader()
	f, diags := l.Parse(src, filename)
	return finish(l, f, diags, in)
}

func finish(l *Loader, f *File, diags hcl.Diagnostics, in Inputs) Result {
	res := Result{Diags: diags, Files: l.Files()}
	if f == nil {
		sortDiagnostics(res.Diags)
		return res
	}
	p, more := Compile(f, in)
	res.Plan = p
	res.Diags = append(res.Diags, more...)
	sortDiagnostics(res.Diags)
	return res
}

// sortDiagnostics orders diagnostics by position, so output is stable
// (hcl reports unknown attributes in map order). Diagnostics without a
// position come first.
func sortDiagnostics(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		default:
			return a.Start.Column < b.Start.Column
		}
	})
}
