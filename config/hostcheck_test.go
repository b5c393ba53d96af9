package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Relative paths in the file are the file's folder's; a bare program name
// stays for the PATH lookup.
func TestRelativePathsAreTheFilesFolders(t *testing.T) {
	src := `app "a" {
  command  = ["./bin/a", "-x"]
  dir      = "srv"
  env_file = "a.env"
  output {
    file = "logs/a.log"
  }
}
app "b" {
  command = ["sh", "-c", "true"]
}
registry "local" {
  url = "file:releases/web"
}
`
	res := LoadSource([]byte(src), "/etc/dewy/dewy.hcl", Inputs{})
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Error())
	}
	a, b := res.Plan.Apps[0], res.Plan.Apps[1]
	for _, c := range []struct{ got, want string }{
		{a.Command[0], "/etc/dewy/bin/a"},
		{a.Command[1], "-x"},
		{a.Dir, "/etc/dewy/srv"},
		{a.EnvFile, "/etc/dewy/a.env"},
		{a.Output.File, "/etc/dewy/logs/a.log"},
		{b.Command[0], "sh"},
		{res.Plan.Registries["local"].URL.Path, "/etc/dewy/releases/web"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// With CheckHost, what would make a start fail on this machine is a
// warning (never an error: the file may be meant for another machine).
func TestHostChecksWarn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ok.env"), []byte("A=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `app "missing" {
  command  = ["./bin/nothing"]
  env_file = "nothing.env"
  user     = "dewy-no-such-user"
  output {
    file = "no-folder/app.log"
  }
}
app "notinpath" {
  command = ["dewy-no-such-program"]
}
app "fine" {
  command  = ["sh", "-c", "true"]
  env_file = "ok.env"
  user     = "root"
  output {
    file = "app.log"
  }
}
app "deployed" {
  command  = ["/opt/deployed/current/app"]
  registry = "r"
  dir      = "/opt/deployed"
}
registry "r" {
  url = "file:///srv/releases"
}
`
	file := filepath.Join(dir, "dewy.hcl")
	in := Inputs{Environ: []string{"PATH=/usr/bin:/bin"}, CheckHost: true}
	res := LoadSource([]byte(src), file, in)
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Error())
	}
	var got []string
	for _, d := range res.Diags {
		got = append(got, d.Summary+" @"+strings.Fields(d.Detail)[1])
	}
	want := []string{
		`Command not found @"missing"`, `env_file not readable @"missing"`, `Unknown user @"missing"`,
		`Output folder missing @"missing"`, `Command not found @"notinpath"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res := LoadSource([]byte(src), file, Inputs{}); len(res.Diags) != 0 {
		t.Errorf("without CheckHost: %s", res.Diags.Error())
	}
}
