package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Sizes and counts only: these machines are too noisy to assert durations.

const maxRenderedOutput = 64 << 10

func render(t *testing.T, res Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteDiagnostics(&b, res.Files, res.Diags); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Garbage text reaches the parser, which finds an error in nearly every
// token: the result keeps MaxDiagnostics and says how many more there are.
func TestRandomTextIsBounded(t *testing.T) {
	res := LoadSource(randomText(1<<20), "dewy.hcl", Inputs{})
	if res.Errors <= MaxDiagnostics {
		t.Fatalf("only %d errors in 1 MB of garbage; the test input no longer exercises the limit", res.Errors)
	}
	if len(res.Diags) != MaxDiagnostics+1 {
		t.Fatalf("%d diagnostics kept, want %d", len(res.Diags), MaxDiagnostics+1)
	}
	out := render(t, res)
	if len(out) > maxRenderedOutput {
		t.Errorf("rendered %d bytes, want at most %d", len(out), maxRenderedOutput)
	}
	paragraphs := strings.Split(strings.TrimSpace(out), "\n\n")
	last := paragraphs[len(paragraphs)-1]
	want := "error: " + strconv.Itoa(res.Errors-countErrorsIn(res.Diags[:MaxDiagnostics])) + " more errors"
	if !strings.HasPrefix(last, want) || !strings.Contains(last, "not shown") {
		t.Errorf("last paragraph %q, want it to start with %q and say not shown", last, want)
	}
	js, err := MarshalJSONDiagnostics(res.Diags)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) > maxRenderedOutput {
		t.Errorf("JSON is %d bytes, want at most %d", len(js), maxRenderedOutput)
	}
	if n := len(ToJSON(res.Diags)); n != MaxDiagnostics+1 {
		t.Errorf("JSON has %d diagnostics, want %d", n, MaxDiagnostics+1)
	}
}

func countErrorsIn(diags hcl.Diagnostics) int {
	n := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			n++
		}
	}
	return n
}

// Binary input is refused before parsing, with one error at the first
// bad byte.
func TestRandomBytesAreNotText(t *testing.T) {
	res := LoadSource(randomSource(1<<20), "dewy.hcl", Inputs{})
	if len(res.Diags) != 1 || res.Errors != 1 || res.Diags[0].Summary != "Not a text file" {
		t.Fatalf("diagnostics: %v (errors %d)", res.Diags, res.Errors)
	}
	if out := render(t, res); len(out) > 2<<10 {
		t.Errorf("rendered %d bytes for one error:\n%s", len(out), out)
	}
}

func TestNotText(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{"app \"a\" {\n  command = [\"/a\xe9\"]\n}\n", "dewy.hcl:2:17: error: Not a text file"},
		{"# caf\xe9\n", "dewy.hcl:1:6: error: Not a text file"},
		{"app \"a\" { command = [\"/a\"] }\n\x00", "dewy.hcl:2:1: error: Not a text file"},
		{"# é\x00", "dewy.hcl:1:4: error: Not a text file"},
	}
	for _, tt := range tests {
		res := LoadSource([]byte(tt.src), "dewy.hcl", Inputs{})
		out := render(t, res)
		if len(res.Diags) != 1 || !strings.HasPrefix(out, tt.want+"\n") {
			t.Errorf("%q: got\n%s\nwant a single %q", tt.src, out, tt.want)
		}
		if !strings.Contains(out, "dewy.hcl has ") {
			t.Errorf("%q: the detail does not name the file:\n%s", tt.src, out)
		}
	}
	if res := LoadSource([]byte("# café\napp \"a\" { command = [\"/a\"] }\n"), "dewy.hcl", Inputs{}); len(res.Diags) != 0 {
		t.Errorf("UTF-8 text refused: %v", res.Diags)
	}
}

func TestFileTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dewy.hcl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk space, and LoadFile must not read it anyway.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	res := Load(path, Inputs{})
	if len(res.Diags) != 1 || res.Errors != 1 {
		t.Fatalf("want exactly one error, got %v", res.Diags)
	}
	d := res.Diags[0]
	if d.Summary != "Config file too large" || !strings.Contains(d.Detail, path) || !strings.Contains(d.Detail, strconv.Itoa(MaxFileSize)) || !strings.Contains(d.Detail, strconv.Itoa(MaxFileSize+1)) {
		t.Errorf("diagnostic %q: %q does not name the file, its size and the limit", d.Summary, d.Detail)
	}
}

func TestReadLimited(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dewy.hcl")
	if err := os.WriteFile(path, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if src, diags := readLimited(path, 10); diags != nil || string(src) != "0123456789" {
		t.Errorf("at the limit: %q, %v", src, diags)
	}
	if _, diags := readLimited(path, 9); len(diags) != 1 || !strings.Contains(diags[0].Detail, "10 bytes") {
		t.Errorf("over the limit: %v", diags)
	}
	// A pipe has no size to stat: the bounded read catches it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = w.Write([]byte("0123456789")); w.Close() }()
	defer r.Close()
	if _, diags := readLimited("/dev/fd/"+strconv.Itoa(int(r.Fd())), 9); len(diags) != 1 || !strings.Contains(diags[0].Detail, "more than 9 bytes") {
		t.Errorf("pipe over the limit: %v", diags)
	}
	if _, diags := readLimited(filepath.Join(t.TempDir(), "missing.hcl"), 9); len(diags) != 1 || diags[0].Summary != "Cannot read config file" {
		t.Errorf("missing file: %v", diags)
	}
}

func TestTruncateDiagnostics(t *testing.T) {
	mk := func(errs, warns int) hcl.Diagnostics {
		var d hcl.Diagnostics
		for range errs {
			d = append(d, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "e"})
		}
		for range warns {
			d = append(d, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "w"})
		}
		return d
	}
	tests := []struct {
		name         string
		errs, warns  int
		limit        int
		wantLen      int
		wantSummary  string
		wantSeverity hcl.DiagnosticSeverity
	}{
		{"under the limit", 2, 1, 3, 3, "w", hcl.DiagWarning},
		{"errors cut", 5, 0, 2, 3, "3 more errors not shown", hcl.DiagError},
		{"both cut", 3, 4, 2, 3, "1 more error and 4 more warnings not shown", hcl.DiagError},
		{"only warnings cut: still no error", 1, 3, 2, 3, "2 more warnings not shown", hcl.DiagWarning},
		{"one warning cut", 0, 3, 2, 3, "1 more warning not shown", hcl.DiagWarning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, errs, warns := truncateDiagnostics(mk(tt.errs, tt.warns), tt.limit)
			if errs != tt.errs || warns != tt.warns {
				t.Errorf("counts %d, %d, want %d, %d", errs, warns, tt.errs, tt.warns)
			}
			if len(kept) != tt.wantLen {
				t.Fatalf("kept %d, want %d", len(kept), tt.wantLen)
			}
			last := kept[len(kept)-1]
			if last.Summary != tt.wantSummary || last.Severity != tt.wantSeverity {
				t.Errorf("last: %v %q, want %v %q", last.Severity, last.Summary, tt.wantSeverity, tt.wantSummary)
			}
		})
	}
}

func TestLongDetailIsClipped(t *testing.T) {
	name := strings.Repeat("x", 100_000)
	res := LoadSource([]byte(name+" = 1\n"), "dewy.hcl", Inputs{})
	if len(res.Diags) == 0 {
		t.Fatal("no diagnostics")
	}
	out := render(t, res)
	if len(out) > 8<<10 {
		t.Errorf("rendered %d bytes for a 100 kB name", len(out))
	}
}

func TestDuplicateSignalsCounted(t *testing.T) {
	res := LoadSource(duplicateSignalsSource(10_000), "dewy.hcl", Inputs{})
	if res.Errors != 9_999 || res.Warnings != 0 || len(res.Diags) != MaxDiagnostics+1 {
		t.Fatalf("errors %d, warnings %d, kept %d", res.Errors, res.Warnings, len(res.Diags))
	}
	if got := res.Diags[MaxDiagnostics].Summary; got != "9899 more errors not shown" {
		t.Errorf("summary %q", got)
	}
	if out := render(t, res); len(out) > maxRenderedOutput {
		t.Errorf("rendered %d bytes", len(out))
	}
}

func TestManyAppsValid(t *testing.T) {
	src := manyAppsSource(2_000)
	if per := len(src) / 2_000; per*100_000 > MaxFileSize {
		t.Errorf("100,000 benchmark apps would be %d bytes, over MaxFileSize", per*100_000)
	}
	res := LoadSource(src, "dewy.hcl", Inputs{})
	if len(res.Diags) != 0 || len(res.Plan.Apps) != 2_000 {
		t.Fatalf("%d apps, diagnostics: %v", len(res.Plan.Apps), res.Diags)
	}
}

func TestSnippet(t *testing.T) {
	rng := func(line, col, endLine, endCol int) hcl.Range {
		return hcl.Range{Filename: "f", Start: hcl.Pos{Line: line, Column: col}, End: hcl.Pos{Line: endLine, Column: endCol}}
	}
	long := strings.Repeat("a", 500) + "XYZ" + strings.Repeat("b", 500)
	tests := []struct {
		name string
		src  string
		rng  hcl.Range
		want string // "" for no snippet
	}{
		{"plain", "a = 1\nbb = 2\n", rng(2, 1, 2, 3),
			"    2 | bb = 2\n      | ^^\n"},
		{"tab shown as a space", "\tx = 1\n", rng(1, 2, 1, 3),
			"    1 |  x = 1\n      |  ^\n"},
		{"CRLF", "a = 1\r\nbb = 2\r\n", rng(1, 5, 1, 6),
			"    1 | a = 1\n      |     ^\n"},
		{"multi-line range: caret to the end of the line", "x = [\n1]\n", rng(1, 5, 2, 3),
			"    1 | x = [\n      |     ^\n"},
		{"last line without a newline", "a = 1\nb = 2", rng(2, 5, 2, 6),
			"    2 | b = 2\n      |     ^\n"},
		{"empty last line after the final newline", "a = 1\n", rng(2, 1, 2, 1),
			"    2 | \n      | ^\n"},
		{"line past the end of the file", "a = 1\n", rng(3, 1, 3, 2), ""},
		{"column past the end of the line", "a = 1\n", rng(1, 50, 1, 60),
			"    1 | a = 1\n      |      ^\n"},
		{"control characters made safe", "a\x1b[2J = 1\n", rng(1, 1, 1, 2),
			"    1 | a\uFFFD[2J = 1\n      | ^\n"},
		{"long line clipped around the caret", long + "\n", rng(1, 501, 1, 504),
			"    1 | …" + strings.Repeat("a", 40) + "XYZ" + strings.Repeat("b", 157) + "…\n      |  " + strings.Repeat(" ", 40) + "^^^\n"},
		{"long line, caret at the start", long, rng(1, 1, 1, 2),
			"    1 | " + strings.Repeat("a", 200) + "…\n      | ^\n"},
		{"long line, caret at the end", long, rng(1, 1003, 1, 1004),
			"    1 | …" + strings.Repeat("b", 200) + "\n      |  " + strings.Repeat(" ", 199) + "^\n"},
		{"long caret clipped to the window", long, rng(1, 1, 1, 1004),
			"    1 | " + strings.Repeat("a", 200) + "…\n      | " + strings.Repeat("^", 200) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := diagRenderer{files: map[string]*hcl.File{"f": {Bytes: []byte(tt.src)}}, lines: map[string]*lineIndex{}}
			var b strings.Builder
			r.snippet(&b, tt.rng)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}
