package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

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
// Each file's line starts are indexed once per call, so the cost is linear
// in the size of the files plus the number of diagnostics; a source line
// longer than maxSnippetColumns is clipped around the caret.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics) error {
	r := diagRenderer{files: files, lines: map[string]*lineIndex{}}
	for _, d := range diags {
		if err := r.write(w, d); err != nil {
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

// diagRenderer renders diagnostics against the files they point into,
// indexing each file's lines the first time a diagnostic needs it.
type diagRenderer struct {
	files map[string]*hcl.File
	lines map[string]*lineIndex // by file name; nil when the file is unknown
}

func (r *diagRenderer) write(w io.Writer, d *hcl.Diagnostic) error {
	var b strings.Builder
	if d.Subject != nil {
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, severity(d), d.Summary)
		r.snippet(&b, *d.Subject)
		if rel, ok := Related(d); ok {
			fmt.Fprintf(&b, "  first defined at %s:%d:%d\n", rel.Filename, rel.Start.Line, rel.Start.Column)
			r.snippet(&b, rel)
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

// index returns the line index of a file, building it on first use.
func (r *diagRenderer) index(filename string) *lineIndex {
	if ix, done := r.lines[filename]; done {
		return ix
	}
	var ix *lineIndex
	if f, ok := r.files[filename]; ok && f != nil {
		ix = newLineIndex(f.Bytes)
	}
	r.lines[filename] = ix
	return ix
}

// snippet writes the source line of rng and a caret line under its columns.
func (r *diagRenderer) snippet(b *strings.Builder, rng hcl.Range) {
	if rng.Start.Line < 1 {
		return
	}
	ix := r.index(rng.Filename)
	if ix == nil {
		return
	}
	line, ok := ix.line(rng.Start.Line)
	if !ok {
		return
	}
	writeSnippet(b, rng, maskSecrets(line))
}

// secretsInSource find credentials on a source line: a URL's userinfo
// password, the value of a credential option (password=, token=, ...),
// and the value of a secret attribute. Group 2 is the credential.
var secretsInSource = []*regexp.Regexp{
	regexp.MustCompile(`(://[^/?#@:\s"]*:)([^/?#@\s"]+)@`),
	regexp.MustCompile(`(?i)([?&;](?:password|token|secret|key|sig|signature|access_token|api_key|apikey)=)([^&#\s"]+)`),
	regexp.MustCompile(`(?i)((?:^|[\s{;,])"?secret"?\s*[=:]\s*")([^"]+)`),
}

// maskSecrets returns line with every credential replaced by as many
// '*' as it has runes, so a snippet never shows a password from the file
// and its caret stays under the same columns.
func maskSecrets(line []byte) []byte {
	for _, re := range secretsInSource {
		ms := re.FindAllSubmatchIndex(line, -1)
		if len(ms) == 0 {
			continue
		}
		out := append([]byte(nil), line...)
		// From the last match back, so earlier indices stay valid.
		for i := len(ms) - 1; i >= 0; i-- {
			s, e := ms[i][4], ms[i][5]
			stars := bytes.Repeat([]byte{'*'}, utf8.RuneCount(out[s:e]))
			out = append(out[:s:s], append(stars, out[e:]...)...)
		}
		line = out
	}
	return line
}

// lineIndex holds the offset at which each line of a source starts.
type lineIndex struct {
	src    []byte
	starts []int
}

func newLineIndex(src []byte) *lineIndex {
	starts := make([]int, 1, bytes.Count(src, []byte{'\n'})+1)
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &lineIndex{src: src, starts: starts}
}

// line returns 1-based line n without its line ending ("\n", "\r\n").
// A source ending in a newline has an empty last line, as strings.Split
// would give.
func (ix *lineIndex) line(n int) ([]byte, bool) {
	if n < 1 || n > len(ix.starts) {
		return nil, false
	}
	end := len(ix.src)
	if n < len(ix.starts) {
		end = ix.starts[n] - 1
	}
	return bytes.TrimRight(ix.src[ix.starts[n-1]:end], "\r"), true
}

// maxSnippetColumns is the most columns of a source line a snippet shows;
// a longer line is cut to a window around the caret, marked with "…".
const maxSnippetColumns = 200

// snippetLead is how many columns a clipped snippet shows before the caret.
const snippetLead = 40

// writeSnippet writes line (the source line of rng) and a caret line under
// the columns of rng. Columns count runes, tabs are shown as one space and
// other control characters and invalid UTF-8 as U+FFFD, so the caret stays
// aligned and the terminal safe.
func writeSnippet(b *strings.Builder, rng hcl.Range, line []byte) {
	n := utf8.RuneCount(line)
	// 0-based rune offsets of the caret: [s, e).
	s := max(rng.Start.Column-1, 0)
	e := rng.End.Column - 1
	if rng.End.Line != rng.Start.Line || e <= s {
		e = n
	}
	s = min(s, n)
	e = max(min(e, n), s+1)

	lo, hi := 0, n
	if n > maxSnippetColumns {
		lo = min(max(s-snippetLead, 0), n-maxSnippetColumns)
		hi = lo + maxSnippetColumns
	}
	num := fmt.Sprintf("%5d", rng.Start.Line)
	b.WriteString(num)
	b.WriteString(" | ")
	caretAt := s - lo
	if lo > 0 {
		b.WriteString("…")
		caretAt++
	}
	writeRunes(b, line, lo, hi)
	if hi < n {
		b.WriteString("…")
	}
	b.WriteString("\n")
	width := max(min(e, hi)-s, 1)
	fmt.Fprintf(b, "%s | %s%s\n", strings.Repeat(" ", len(num)), strings.Repeat(" ", caretAt), strings.Repeat("^", width))
}

// writeRunes writes the runes [lo, hi) of line, made printable.
func writeRunes(b *strings.Builder, line []byte, lo, hi int) {
	for i := 0; i < hi && len(line) > 0; i++ {
		c, size := utf8.DecodeRune(line)
		line = line[size:]
		if i < lo {
			continue
		}
		switch {
		case c == '\t':
			c = ' '
		case c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0):
			c = utf8.RuneError
		}
		b.WriteRune(c)
	}
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
