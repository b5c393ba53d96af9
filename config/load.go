package config

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/dewyhq/dewy/engine/plan"
)

// Result is what Load returns: the plan (meaningful only without errors),
// the diagnostics, and the parsed sources for rendering them.
type Result struct {
	Plan *plan.Plan
	// Diags are the diagnostics in source order, at most MaxDiagnostics of
	// them; when more were found, a last diagnostic without a Subject says
	// how many errors and warnings are not shown.
	Diags hcl.Diagnostics
	Files map[string]*hcl.File
	// Errors and Warnings count every error and warning found, including
	// those cut from Diags (and not the summary of the cut ones). Report
	// these, not a count of Diags. When dewy stopped reading a file full
	// of errors early ("Too many errors"), they count what was read.
	Errors, Warnings int
}

// MaxDiagnostics is how many diagnostics a Result keeps. Garbage input
// gives one per bad token, millions for a large file; the first hundred
// are as useful and can be printed or logged in full.
const MaxDiagnostics = 100

// maxDiagText is the most bytes of a diagnostic's summary or detail kept:
// hcl quotes source text in some details, and a name may be megabytes.
const maxDiagText = 1024

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
	if f != nil {
		p, more := Compile(f, in)
		res.Plan = p
		res.Diags = append(res.Diags, more...)
	}
	sortDiagnostics(res.Diags)
	res.Diags, res.Errors, res.Warnings = truncateDiagnostics(res.Diags, MaxDiagnostics)
	return res
}

// truncateDiagnostics keeps the first limit of sorted diagnostics, clips
// their texts, and when some were cut appends a summary of them, with
// error severity if any cut one is an error. It returns the kept
// diagnostics and the counts of all errors and warnings.
func truncateDiagnostics(diags hcl.Diagnostics, limit int) (kept hcl.Diagnostics, errors, warnings int) {
	cutErrors, cutWarnings := 0, 0
	for i, d := range diags {
		isErr := d.Severity != hcl.DiagWarning
		if isErr {
			errors++
		} else {
			warnings++
		}
		if i < limit {
			d.Summary, d.Detail = clipText(d.Summary), clipText(d.Detail)
			continue
		}
		if isErr {
			cutErrors++
		} else {
			cutWarnings++
		}
	}
	if len(diags) <= limit {
		return diags, errors, warnings
	}
	kept = diags[:limit:limit]
	sev := hcl.DiagWarning
	if cutErrors > 0 {
		sev = hcl.DiagError
	}
	return append(kept, &hcl.Diagnostic{
		Severity: sev,
		Summary:  notShown(cutErrors, cutWarnings),
		Detail:   fmt.Sprintf("Only the first %d problems are shown. Fix the ones above and validate again to see the rest.", limit),
	}), errors, warnings
}

// notShown says "3 more errors and 1 more warning not shown".
func notShown(errors, warnings int) string {
	var parts []string
	if errors > 0 {
		parts = append(parts, plural(errors, "more error"))
	}
	if warnings > 0 {
		parts = append(parts, plural(warnings, "more warning"))
	}
	return strings.Join(parts, " and ") + " not shown"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// clipText cuts s to maxDiagText bytes at a rune boundary, marking the cut.
func clipText(s string) string {
	if len(s) <= maxDiagText {
		return s
	}
	cut := maxDiagText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (cut)"
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
