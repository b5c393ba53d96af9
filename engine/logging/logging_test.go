package logging

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFormatsAndLevels(t *testing.T) {
	var b bytes.Buffer
	l, err := New(&b, Options{Level: "warn", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Msg("hidden")
	l.Warn().Str("app", "api").Msg("shown")
	if out := b.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"app":"api"`) || !strings.Contains(out, `"level":"warn"`) {
		t.Errorf("json output %q", out)
	}
	b.Reset()
	l, _ = New(&b, Options{Level: "debug", Format: "console"})
	l.Debug().Msg("hello")
	if out := b.String(); !strings.Contains(out, "DBG") || !strings.Contains(out, "hello") || strings.Contains(out, "\x1b[") {
		t.Errorf("console output %q", out)
	}
	for _, o := range []Options{{Level: "loud", Format: "json"}, {Level: "info", Format: "xml"}, {Format: "json"}} {
		if _, err := New(&b, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestConsoleDurationsHaveUnits(t *testing.T) {
	var b bytes.Buffer
	l, err := New(&b, Options{Level: "info", Format: "console"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Dur("backoff", 939641117*time.Nanosecond).Dur("cooldown", 5*time.Minute).Dur("lifetime", 1500*time.Microsecond).Int("attempt", 2).Msg("x")
	out := b.String()
	for _, want := range []string{"backoff=940ms", "cooldown=5m0s", "lifetime=1.5ms", "attempt=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("console line %q lacks %q", out, want)
		}
	}
	b.Reset()
	l, _ = New(&b, Options{Level: "info", Format: "json"})
	l.Info().Dur("backoff", 1500*time.Millisecond).Msg("x")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["backoff"].(float64); !ok {
		t.Errorf("json backoff = %#v, want a number", m["backoff"])
	}
}

// TestEveryDurKeyIsKnown: a Dur field the console would print as a bare
// number is a bug; every key logged with Dur in the module must be listed
// in durationKeys.
func TestEveryDurKeyIsKnown(t *testing.T) {
	re := regexp.MustCompile(`\.Dur\("([a-z_]+)"`)
	keys := durationKeys()
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || strings.HasPrefix(p, filepath.Join(root, "bench")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			if !keys[string(m[1])] {
				t.Errorf("%s logs Dur(%q), which durationKeys does not list", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOutputApply: a reload switches level and format under loggers that
// already exist (child loggers included); an invalid setting changes nothing.
func TestOutputApply(t *testing.T) {
	var b bytes.Buffer
	l, out, err := NewOutput(&b, Options{Level: "info", Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	child := l.With().Str("app", "api").Logger()
	child.Debug().Msg("before")
	if err := out.Apply(Options{Level: "debug", Format: "console"}); err != nil {
		t.Fatal(err)
	}
	child.Debug().Msg("after")
	if err := out.Apply(Options{Level: "loud", Format: "json"}); err == nil {
		t.Error("Apply accepted level loud")
	}
	child.Debug().Msg("still")
	got := b.String()
	if strings.Contains(got, "before") {
		t.Errorf("debug line written at level info: %q", got)
	}
	if !strings.Contains(got, "DBG after app=api") || !strings.Contains(got, "DBG still") {
		t.Errorf("after Apply: %q, want console debug lines", got)
	}
}
