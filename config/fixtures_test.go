package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// marker finds "# ERROR: summary" and "# WARNING: summary" comments; a
// line may carry several.
var marker = regexp.MustCompile(`#\s*(ERROR|WARNING):\s*(.*?)\s*(?:$|#\s*(?:ERROR|WARNING):)`)

// expectedDiags reads the expected diagnostics of a fixture: the markers
// on its lines, or for JSON (no comments) a sidecar NAME.diags file with
// "LINE: ERROR: summary" lines.
func expectedDiags(t *testing.T, path string, src []byte) []string {
	t.Helper()
	var want []string
	if strings.HasSuffix(path, ".json") {
		side, err := os.ReadFile(path + ".diags")
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(side)), "\n") {
			if l != "" {
				want = append(want, l)
			}
		}
		sort.Strings(want)
		return want
	}
	for i, line := range strings.Split(string(src), "\n") {
		rest := line
		for {
			idx := strings.Index(rest, "# ")
			if idx < 0 {
				break
			}
			m := marker.FindStringSubmatch(rest[idx:])
			if m == nil {
				break
			}
			want = append(want, fmt.Sprintf("%d: %s: %s", i+1, m[1], m[2]))
			rest = rest[idx+2:]
		}
	}
	sort.Strings(want)
	return want
}

func gotDiags(diags hcl.Diagnostics) []string {
	var got []string
	for _, d := range diags {
		sev := "ERROR"
		if d.Severity == hcl.DiagWarning {
			sev = "WARNING"
		}
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		got = append(got, fmt.Sprintf("%d: %s: %s", line, sev, d.Summary))
	}
	sort.Strings(got)
	return got
}

// TestFixtures checks every file under testdata/{valid,warning,invalid}:
// exactly the marked diagnostics, on exactly the marked lines.
func TestFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*")
	n := 0
	for _, path := range files {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() || strings.HasSuffix(path, ".diags") {
			continue
		}
		n++
		t.Run(path, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			res := LoadSource(src, path, Inputs{})
			want := expectedDiags(t, path, src)
			got := gotDiags(res.Diags)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("diagnostics (-marked +got):\n%s", diff)
				_ = WriteDiagnostics(testWriter{t}, res.Files, res.Diags)
			}
			kind := filepath.Base(filepath.Dir(path))
			switch kind {
			case "valid":
				if len(res.Diags) > 0 {
					t.Errorf("valid fixture has diagnostics")
				}
			case "warning":
				if res.Diags.HasErrors() || len(res.Diags) == 0 {
					t.Errorf("warning fixture must have warnings and no errors")
				}
			case "invalid":
				if !res.Diags.HasErrors() {
					t.Errorf("invalid fixture has no errors")
				}
			}
			for _, d := range res.Diags {
				if d.Subject != nil && d.Subject.Filename != path {
					t.Errorf("diagnostic %q names file %q, want %q", d.Summary, d.Subject.Filename, path)
				}
				if !strings.HasSuffix(strings.TrimSpace(d.Detail), ".") && !strings.HasSuffix(strings.TrimSpace(d.Detail), "?") {
					t.Errorf("diagnostic %q: detail %q does not end with a sentence", d.Summary, d.Detail)
				}
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d fixtures found", n)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// The issue's own list: each case names its line and column.
func TestIssueCasesPositions(t *testing.T) {
	src, err := os.ReadFile("testdata/invalid/issue_cases.hcl")
	if err != nil {
		t.Fatal(err)
	}
	res := LoadSource(src, "dewy.hcl", Inputs{})
	want := map[string]string{
		"Unsupported argument":              "9:3",
		"Signal cannot be mapped":           "12:8",
		"Unknown signal":                    "13:8",
		"Unknown action":                    "14:26",
		"Duplicate signal block \"SIGHUP\"": "16:8",
		"Unknown registry":                  "7:14",
		"Invalid duration":                  "3:14",
	}
	for _, d := range res.Diags {
		pos, ok := want[d.Summary]
		if !ok {
			continue
		}
		got := strconv.Itoa(d.Subject.Start.Line) + ":" + strconv.Itoa(d.Subject.Start.Column)
		if got != pos {
			t.Errorf("%s at %s, want %s", d.Summary, got, pos)
		}
		delete(want, d.Summary)
	}
	for s := range want {
		t.Errorf("no %q diagnostic", s)
	}
}
