package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The agent's notifiers come from the file, DEWY_NOTIFIERS or --notifiers
// (comma-separated), the later layer winning; duplicates are dropped.
func TestAgentNotifiersLayering(t *testing.T) {
	src := []byte(`
agent {
  notifiers = ["ops", "oncall", "ops"]
}
notifier "ops" {
  url = "slack://deploys"
}
notifier "oncall" {
  url = "https://hooks.example.com/dewy"
}
`)
	tests := []struct {
		name       string
		in         Inputs
		want       []string
		wantOrigin string
	}{
		{"file", Inputs{}, []string{"ops", "oncall"}, "dewy.hcl:3:15"},
		{"env", Inputs{Environ: []string{"DEWY_NOTIFIERS=oncall"}}, []string{"oncall"}, "env DEWY_NOTIFIERS"},
		{"flag", Inputs{Environ: []string{"DEWY_NOTIFIERS=oncall"}, Flags: map[string]string{"notifiers": "ops, oncall"}}, []string{"ops", "oncall"}, "flag --notifiers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := LoadSource(src, "dewy.hcl", tt.in)
			if len(res.Diags) > 0 {
				t.Fatalf("diagnostics: %v", res.Diags)
			}
			if diff := cmp.Diff(tt.want, res.Plan.Agent.Notifiers); diff != "" {
				t.Errorf("notifiers (-want +got):\n%s", diff)
			}
			if got := res.Plan.Agent.Origins[KeyNotifiers]; got != tt.wantOrigin {
				t.Errorf("origin %q, want %q", got, tt.wantOrigin)
			}
		})
	}
}

// A credential written in a notifier URL or a secret attribute never
// shows in what validate prints: not in a detail, not in the snippet of
// the source line (masked there, column for column).
func TestCredentialsNeverShown(t *testing.T) {
	const pw = "hunter2pw"
	src := []byte(`
notifier "a" {
  url = "smtp://dewy:` + pw + `@mail.example.com/ops@example.com"
}
notifier "b" {
  url = "smtp://mail.example.com:25/ops@example.com?tls=false&password=` + pw + `"
}
notifier "c" {
  url = "https://hooks.example.com/x?token=` + pw + `"
  secret = "` + pw + `"
  quiet = "loud"
}
notifier "d" {
  url = "http://u:` + pw + `@hooks.example.com/x?token=` + pw + `"
}
notifier "e" {
  url = "smtp://u:` + pw + `@[bad/ops@example.com"
}
notifier "f" {
  url = "slack://deploys?password=` + pw + `"
}
app "x" {
  command   = ["/bin/x"]
  notifiers = ["a", "b", "c", "d", "e", "f", "` + pw + `"]
}
`)
	res := LoadSource(src, "dewy.hcl", Inputs{})
	var out bytes.Buffer
	if err := WriteDiagnostics(&out, res.Files, res.Diags); err != nil {
		t.Fatal(err)
	}
	js, err := MarshalJSONDiagnostics(res.Diags)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if len(res.Diags) < 6 {
		t.Fatalf("want a diagnostic per notifier, got:\n%s", text)
	}
	// The unknown notifier named pw is not a credential: only that
	// diagnostic may quote it.
	for _, d := range res.Diags {
		if d.Summary == "Unknown notifier" {
			continue
		}
		if strings.Contains(d.Detail, pw) {
			t.Errorf("detail of %q shows the password: %s", d.Summary, d.Detail)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, pw) && !strings.Contains(line, `notifiers = [`) && !strings.Contains(line, "notifier \""+pw) {
			t.Errorf("validate output shows the password: %s", line)
		}
	}
	_ = js
	for _, d := range ToJSON(res.Diags) {
		if d.Summary != "Unknown notifier" && strings.Contains(d.Detail, pw) {
			t.Errorf("JSON detail shows the password: %s", d.Detail)
		}
	}
}

func TestMaskSecrets(t *testing.T) {
	tests := []struct{ in, want string }{
		{`  url = "smtp://u:pw@host:25/a@b.c"`, `  url = "smtp://u:**@host:25/a@b.c"`},
		{`  url = "https://h/x?a=1&token=abc&b=2"`, `  url = "https://h/x?a=1&token=***&b=2"`},
		{`  secret = "s3cr3t"`, `  secret = "******"`},
		{`  "secret": "s3cr3t",`, `  "secret": "******",`},
		{`  secret_env = "HOOK"`, `  secret_env = "HOOK"`},
		{`  url = "smtp://h:25/a@b.c?password=pä"`, `  url = "smtp://h:25/a@b.c?password=**"`},
		{`  command = ["/bin/x"]`, `  command = ["/bin/x"]`},
	}
	for _, tt := range tests {
		if got := string(maskSecrets([]byte(tt.in))); got != tt.want {
			t.Errorf("maskSecrets(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
