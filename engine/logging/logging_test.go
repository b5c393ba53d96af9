package logging

import (
	"bytes"
	"strings"
	"testing"
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
