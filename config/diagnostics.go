package config

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics renders diagnostics for people, one per paragraph:
//
//	dewy.hcl:12:3: error: Unknown action
//	   12 |   action = "restrat"
//	      |            ^^^^^^^^^
//	  "restrat" is not an action. Did you mean "restart"? ...
//
// files are the parser's sources (Result.Files), used for the snippet.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	for _, d := range diags {
		if err := writeDiagnostic(w, files, d); err != nil {
			return err
		}
	}
	return nil
}

func severity(d *hcl.Diagnostic) string {
	if d.Severity == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

func writeDiagnostic(w io.Writer, files map[string]*hcl.File, d *hcl.Diagnostic) error {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, severity(d), d.Summary)
		snippet(&b, files, *d.Subject)
		if rel, ok := Related(d); ok {
			fmt.Fprintf(&b, "  first defined at %s:%d:%d\n", rel.Filename, rel.Start.Line, rel.Start.Column)
			snippet(&b, files, rel)
		}
	} else {
		fmt.Fprintf(&b, "%s: %s\n", severity(d), d.Summary)
	}
	if d.Detail != "" {
		for _, line := range strings.Split(d.Detail, "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// snippet writes the source line of r and a caret line under its columns.
func snippet(b *strings.Builder, files map[string]*hcl.File, r hcl.Range) {
	f, ok := files[r.Filename]
	if !ok || f == nil || r.Start.Line < 1 {
		return
	}
	lines := strings.Split(string(f.Bytes), "\n")
	if r.Start.Line > len(lines) {
		return
	}
	line := strings.TrimRight(lines[r.Start.Line-1], "\r")
	num := fmt.Sprintf("%5d", r.Start.Line)
	fmt.Fprintf(b, "%s | %s\n", num, strings.ReplaceAll(line, "\t", " "))
	start := r.Start.Column
	end := r.End.Column
	if r.End.Line != r.Start.Line || end <= start {
		end = len([]rune(line)) + 1
	}
	if start < 1 {
		start = 1
	}
	width := end - start
	if width < 1 {
		width = 1
	}
	fmt.Fprintf(b, "%s | %s%s\n", strings.Repeat(" ", len(num)), strings.Repeat(" ", start-1), strings.Repeat("^", width))
}

// JSONDiagnostic is one diagnostic in `dewy validate --json`.
type JSONDiagnostic struct {
	Severity string   `json:"severity"`
	Summary  string   `json:"summary"`
	Detail   string   `json:"detail,omitempty"`
	Filename string   `json:"filename,omitempty"`
	Start    *JSONPos `json:"start,omitempty"`
	End      *JSONPos `json:"end,omitempty"`
}

// JSONPos is a 1-based line and column.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// ToJSON converts diagnostics for machines.
func ToJSON(diags hcl.Diagnostics) []JSONDiagnostic {
	out := []JSONDiagnostic{}
	for _, d := range diags {
		j := JSONDiagnostic{Severity: severity(d), Summary: d.Summary, Detail: d.Detail}
		if d.Subject != nil {
			j.Filename = d.Subject.Filename
			j.Start = &JSONPos{Line: d.Subject.Start.Line, Column: d.Subject.Start.Column}
			j.End = &JSONPos{Line: d.Subject.End.Line, Column: d.Subject.End.Column}
		}
		out = append(out, j)
	}
	return out
}

// MarshalJSONDiagnostics renders diagnostics as an indented JSON array.
func MarshalJSONDiagnostics(diags hcl.Diagnostics) ([]byte, error) {
	return json.MarshalIndent(ToJSON(diags), "", "  ")
}
