package config

import (
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
)

func compileOK(t *testing.T, src string, in Inputs) *plan.Plan {
	t.Helper()
	res := LoadSource([]byte(src), "dewy.hcl", in)
	if res.Diags.HasErrors() {
		t.Fatalf("unexpected errors: %s", res.Diags.Error())
	}
	return res.Plan
}

type row struct {
	Signal string
	Action string
	Origin string
}

func table(p *plan.Plan) []row {
	var out []row
	for _, e := range p.Signals.Entries() {
		out = append(out, row{plan.SignalName(e.Signal), e.Action.String(), e.Origin})
	}
	return out
}

func TestSignalTable(t *testing.T) {
	defaults := []row{
		{"SIGHUP", "ignore", "default"},
		{"SIGINT", "shutdown", "default"},
		{"SIGQUIT", "shutdown", "default"},
		{"SIGUSR1", "restart", "default"},
		{"SIGTERM", "shutdown", "default"},
	}
	tests := []struct {
		name string
		src  string
		want []row
	}{
		{"shipped defaults are the seed's", ``, defaults},
		{"override one signal by label, others keep defaults", `
app "a" { command = ["/a"] }
signal "HUP" { action = "forward" }`, []row{
			{"SIGHUP", "forward", "dewy.hcl:3:1"},
			{"SIGINT", "shutdown", "default"},
			{"SIGQUIT", "shutdown", "default"},
			{"SIGUSR1", "restart", "default"},
			{"SIGTERM", "shutdown", "default"},
		}},
		{"names in any case, with or without SIG", `
app "a" { command = ["/a"] }
signal "sigusr2" { action = "deploy" }
signal "Term" {
  action = "status"
  apps = ["a"]
}
signal "SIGHUP" {
  action = "forward"
  send = "sigusr1"
}`, []row{
			{"SIGHUP", "forward send=SIGUSR1", "dewy.hcl:8:1"},
			{"SIGINT", "shutdown", "default"},
			{"SIGQUIT", "shutdown", "default"},
			{"SIGUSR1", "restart", "default"},
			{"SIGUSR2", "deploy", "dewy.hcl:3:1"},
			{"SIGTERM", "status apps=[a]", "dewy.hcl:4:1"},
		}},
		{"block order does not matter (merge by label, not index)", `
signal "QUIT" { action = "ignore" }
signal "HUP" { action = "restart" }`, []row{
			{"SIGHUP", "restart", "dewy.hcl:3:1"},
			{"SIGINT", "shutdown", "default"},
			{"SIGQUIT", "ignore", "dewy.hcl:2:1"},
			{"SIGUSR1", "restart", "default"},
			{"SIGTERM", "shutdown", "default"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compileOK(t, tt.src, Inputs{})
			if diff := cmp.Diff(tt.want, table(p)); diff != "" {
				t.Errorf("signal table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultSignalsAreExactlyTheSeeds(t *testing.T) {
	want := map[syscall.Signal]actions.Name{
		syscall.SIGHUP: actions.Ignore, syscall.SIGUSR1: actions.Restart,
		syscall.SIGINT: actions.Shutdown, syscall.SIGTERM: actions.Shutdown, syscall.SIGQUIT: actions.Shutdown,
	}
	got := map[syscall.Signal]actions.Name{}
	for _, e := range plan.DefaultSignals() {
		got[e.Signal] = e.Action.Name
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestLayeringOrder(t *testing.T) {
	file := `agent {
  log_level = "warn"
  state_dir = "/srv/dewy"
}`
	tests := []struct {
		name       string
		src        string
		in         Inputs
		wantLevel  string
		wantOrigin string
		wantState  string
	}{
		{"default", ``, Inputs{}, "info", "default", "/var/lib/dewy"},
		{"file over default", file, Inputs{}, "warn", "dewy.hcl:2:15", "/srv/dewy"},
		{"env over file", file, Inputs{Environ: []string{"DEWY_LOG_LEVEL=error", "PATH=/bin"}}, "error", "env DEWY_LOG_LEVEL", "/srv/dewy"},
		{"flag over env", file, Inputs{Environ: []string{"DEWY_LOG_LEVEL=error"}, Flags: map[string]string{"log_level": "debug"}}, "debug", "flag --log-level", "/srv/dewy"},
		{"env for another key leaves this one", file, Inputs{Environ: []string{"DEWY_STATE_DIR=/tmp/s"}}, "warn", "dewy.hcl:2:15", "/tmp/s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := compileOK(t, tt.src, tt.in)
			if p.Agent.LogLevel != tt.wantLevel || p.Agent.Origins[KeyLogLevel] != tt.wantOrigin || p.Agent.StateDir != tt.wantState {
				t.Errorf("got level %q from %q, state %q; want %q from %q, state %q",
					p.Agent.LogLevel, p.Agent.Origins[KeyLogLevel], p.Agent.StateDir, tt.wantLevel, tt.wantOrigin, tt.wantState)
			}
		})
	}
}

// pid_file: relative in the file means relative to the file's folder;
// relative from DEWY_PID_FILE or --pid-file stays relative (to the
// working directory); absolute stays as written; unset is empty.
func TestPidFileIsResolvedAgainstTheFilesFolder(t *testing.T) {
	tests := []struct {
		name, file, src string
		in              Inputs
		want, origin    string
	}{
		{"unset", "dewy.hcl", ``, Inputs{}, "", "default"},
		{"relative in the file", "/etc/dewy/dewy.hcl", "agent {\n  pid_file = \"run/dewy.pid\"\n}", Inputs{}, "/etc/dewy/run/dewy.pid", "/etc/dewy/dewy.hcl:2:14"},
		{"relative in a relative file", "conf/dewy.hcl", "agent {\n  pid_file = \"dewy.pid\"\n}", Inputs{}, "conf/dewy.pid", "conf/dewy.hcl:2:14"},
		{"absolute in the file", "/etc/dewy.hcl", "agent {\n  pid_file = \"/run/dewy.pid\"\n}", Inputs{}, "/run/dewy.pid", "/etc/dewy.hcl:2:14"},
		{"relative flag", "/etc/dewy.hcl", "agent {\n  pid_file = \"x.pid\"\n}", Inputs{Flags: map[string]string{"pid_file": "dewy.pid"}}, "dewy.pid", "flag --pid-file"},
		{"relative env", "/etc/dewy.hcl", ``, Inputs{Environ: []string{"DEWY_PID_FILE=d.pid"}}, "d.pid", "env DEWY_PID_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := LoadSource([]byte(tt.src), tt.file, tt.in)
			if res.Diags.HasErrors() {
				t.Fatalf("unexpected errors: %s", res.Diags.Error())
			}
			a := res.Plan.Agent
			if a.PidFile != tt.want || a.Origins[KeyPidFile] != tt.origin {
				t.Errorf("pid file %q from %q, want %q from %q", a.PidFile, a.Origins[KeyPidFile], tt.want, tt.origin)
			}
		})
	}
}

func TestSharedCacheSettings(t *testing.T) {
	src := "agent {\n  cache = \"s3://eu-west-1/fleet/dewy?endpoint=http://127.0.0.1:9000\"\n  registry_ttl = \"2m\"\n}\n"
	res := LoadSource([]byte(src), "dewy.hcl", Inputs{})
	if len(res.Diags) != 0 {
		t.Fatalf("diagnostics: %v", res.Diags)
	}
	a := res.Plan.Agent
	if a.Cache == nil || a.Cache.Scheme != "s3" || a.Cache.Host != "eu-west-1" || a.Cache.Path != "/fleet/dewy" || a.RegistryTTL != 2*time.Minute {
		t.Fatalf("cache %v, ttl %s", a.Cache, a.RegistryTTL)
	}
	res = LoadSource(nil, "dewy.hcl", Inputs{})
	if res.Plan.Agent.Cache != nil || res.Plan.Agent.RegistryTTL != 0 {
		t.Fatalf("default cache %v, ttl %s; want local and 0", res.Plan.Agent.Cache, res.Plan.Agent.RegistryTTL)
	}
}

func TestLayeringErrorsNameTheirOrigin(t *testing.T) {
	tests := []struct {
		name       string
		in         Inputs
		wantDetail string
		severity   string
	}{
		{"bad env value", Inputs{Environ: []string{"DEWY_LOG_LEVEL=loud"}}, `From env DEWY_LOG_LEVEL: "loud" is not a valid log_level.`, "error"},
		{"bad flag value", Inputs{Flags: map[string]string{"log_format": "xml"}}, `From flag --log-format: "xml" is not a valid log_format.`, "error"},
		{"unknown env is a warning", Inputs{Environ: []string{"DEWY_LOG_LEVLE=debug"}}, `DEWY_LOG_LEVLE is not a dewy setting and is ignored. Did you mean "DEWY_LOG_LEVEL"?`, "warning"},
		{"unknown flag key", Inputs{Flags: map[string]string{"colour": "on"}}, `--colour is not a dewy setting.`, "error"},
		{"cache of another scheme", Inputs{Flags: map[string]string{"cache": "file:///srv/cache"}}, `From flag --cache: "file://" is not a cache scheme. Use one of s3://, gs://. Or write local`, "error"},
		{"s3 cache without a bucket", Inputs{Environ: []string{"DEWY_CACHE=s3://eu-west-1"}}, `From env DEWY_CACHE: "s3://eu-west-1": an S3 URL names a region and a bucket`, "error"},
		{"registry_ttl not a duration", Inputs{Environ: []string{"DEWY_REGISTRY_TTL=30"}}, `From env DEWY_REGISTRY_TTL: "30" is not a duration: it has no unit.`, "error"},
		{"registry_ttl without a shared cache", Inputs{Flags: map[string]string{"registry_ttl": "30s"}}, `From flag --registry-ttl: registry_ttl shares the registries' answers through a shared cache, and cache is local`, "warning"},
		{"unknown notifier from env", Inputs{Environ: []string{"DEWY_NOTIFIERS=ops"}}, `From env DEWY_NOTIFIERS: notifier "ops" is not defined. Define it with a notifier "ops" { ... } block.`, "error"},
		{"unknown notifier from a flag", Inputs{Flags: map[string]string{"notifiers": " ,ops"}}, `From flag --notifiers: notifier "ops" is not defined.`, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := LoadSource(nil, "dewy.hcl", tt.in)
			if len(res.Diags) != 1 {
				t.Fatalf("got %d diagnostics: %v", len(res.Diags), res.Diags)
			}
			d := res.Diags[0]
			if got := severity(d); got != tt.severity {
				t.Errorf("severity %s, want %s", got, tt.severity)
			}
			if len(d.Detail) < len(tt.wantDetail) || d.Detail[:len(tt.wantDetail)] != tt.wantDetail {
				t.Errorf("detail %q, want prefix %q", d.Detail, tt.wantDetail)
			}
		})
	}
}

func TestHookEnvironmentIsNotAWarning(t *testing.T) {
	res := LoadSource(nil, "dewy.hcl", Inputs{Environ: []string{"DEWY_APP=api", "DEWY_VERSION=v1.2.3", "DEWY_CONFIG=/etc/dewy.hcl"}})
	if len(res.Diags) != 0 {
		t.Errorf("diagnostics for variables dewy sets itself: %v", res.Diags)
	}
}

// An app without a hooks block still has the shipped hook timeout, so a
// hooks block added by a reload needs nothing else.
func TestHookTimeoutDefault(t *testing.T) {
	p := compileOK(t, `app "a" { command = ["/bin/a"] }`, Inputs{})
	a, _ := p.App("a")
	if a.Hooks.Timeout != plan.DefaultHooks().Timeout || a.Hooks.Timeout != 5*time.Minute {
		t.Errorf("hook timeout %s, want the default %s", a.Hooks.Timeout, plan.DefaultHooks().Timeout)
	}
}

func TestAppCompiles(t *testing.T) {
	p := compileOK(t, `
registry "r" { url = "file:///srv/r?pre-release=true" }
app "api" {
  registry = "r"
  dir = "/opt/api/"
  command = ["/opt/api/current/api", "-v"]
  listen = ["127.0.0.1:8080", "[::1]:8080", "unix:/run/api.sock"]
  env = { A = "1" }
  ready {
    http = "/healthz"
    timeout = "5s"
  }
  stop {
    signal = "SIGINT"
    timeout = "3s"
  }
  restart {
    policy = "on-failure"
    backoff = "200ms"
  }
  output {
    file = "/var/log/api.log"
    max_size = "10MB"
  }
  hooks {
    before_deploy = "./migrate"
    timeout       = "90s"
  }
}`, Inputs{})
	a, ok := p.App("api")
	if !ok {
		t.Fatal("no app")
	}
	want := plan.App{
		Name: "api", Registry: "r", Dir: "/opt/api", Command: []string{"/opt/api/current/api", "-v"},
		Env: map[string]string{"A": "1"},
		Listen: []plan.ListenAddr{
			{Network: "tcp", Address: "127.0.0.1:8080", Raw: "127.0.0.1:8080"},
			{Network: "tcp", Address: "[::1]:8080", Raw: "[::1]:8080"},
			{Network: "unix", Address: "/run/api.sock", Raw: "unix:/run/api.sock"},
		},
		Ready:   plan.Ready{Delay: time.Second, HTTP: "/healthz", Timeout: 5 * time.Second, Interval: 100 * time.Millisecond},
		Stop:    plan.Stop{Signal: syscall.SIGINT, Timeout: 3 * time.Second},
		Restart: plan.RestartPolicy{Policy: "on-failure", Initial: 200 * time.Millisecond, Max: time.Minute, Jitter: 0.2, Burst: 5, Window: time.Minute, Cooldown: 5 * time.Minute},
		Output:  plan.Output{File: "/var/log/api.log", MaxSize: 10 * 1000 * 1000, Keep: 5},
		Hooks:   plan.Hooks{BeforeDeploy: "./migrate", Timeout: 90 * time.Second},
		Keep:    7,
		Origin:  "dewy.hcl:3:1",
	}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("app (-want +got):\n%s", diff)
	}
	if r := p.Registries["r"]; !r.PreRelease || r.Scheme != "file" || r.URL.Path != "/srv/r" || r.Interval != time.Minute {
		t.Errorf("registry %+v", r)
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		raw, network, addr string
		bad                bool
	}{
		{raw: "0.0.0.0:8080", network: "tcp", addr: "0.0.0.0:8080"},
		{raw: ":8080", network: "tcp", addr: ":8080"},
		{raw: "[::]:443", network: "tcp", addr: "[::]:443"},
		{raw: "localhost:80", network: "tcp", addr: "localhost:80"},
		{raw: "unix:/run/a.sock", network: "unix", addr: "/run/a.sock"},
		{raw: "8080", bad: true},
		{raw: "127.0.0.1:0", bad: true},
		{raw: "127.0.0.1:http", bad: true},
		{raw: "unix:a.sock", bad: true},
		{raw: "host.example:80", bad: true},
		{raw: "", bad: true},
	}
	for _, tt := range tests {
		la, problem := parseListen(tt.raw)
		if (problem != "") != tt.bad {
			t.Errorf("%q: problem %q, want bad=%v", tt.raw, problem, tt.bad)
			continue
		}
		if !tt.bad && (la.Network != tt.network || la.Address != tt.addr) {
			t.Errorf("%q: got %s %s", tt.raw, la.Network, la.Address)
		}
	}
}

func TestListenClash(t *testing.T) {
	l := func(s string) plan.ListenAddr { a, _ := parseListen(s); return a }
	tests := []struct {
		a, b  string
		clash bool
	}{
		{"0.0.0.0:80", "0.0.0.0:80", true},
		{"0.0.0.0:80", "127.0.0.1:80", true},
		{":80", "127.0.0.1:80", true},
		{"[::]:80", "127.0.0.1:80", true},
		{"127.0.0.1:80", "127.0.0.2:80", false},
		{"127.0.0.1:80", "localhost:80", true},
		{"127.0.0.1:80", "127.0.0.1:81", false},
		{"[::1]:80", "127.0.0.1:80", false},
		{"unix:/a", "unix:/a", true},
		{"unix:/a", "unix:/b", false},
	}
	for _, tt := range tests {
		if got := listenClash(l(tt.a), l(tt.b)) != ""; got != tt.clash {
			t.Errorf("%s vs %s: clash %v, want %v", tt.a, tt.b, got, tt.clash)
		}
	}
}

func TestParseDurationAndSize(t *testing.T) {
	for _, s := range []string{"ten", "30", "", "-1s", "1x"} {
		if _, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) accepted", s)
		}
	}
	if d, err := ParseDuration("1m30s"); err != nil || d != 90*time.Second {
		t.Errorf("1m30s: %v %v", d, err)
	}
	sizes := map[string]int64{"100MB": 100e6, "1KiB": 1024, "2M": 2 << 20, "512": 512, "1 GB": 1e9}
	for s, want := range sizes {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"0", "-1MB", "lots", "1.5MB", "99999999999GB"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) accepted", s)
		}
	}
}

// TestSpecDefaultsParse compiles a config that leaves every default in
// place, so a bad default declaration panics here first.
func TestSpecDefaultsParse(t *testing.T) {
	p := compileOK(t, `
registry "r" { url = "file:///r" }
app "a" {
  command = ["/a"]
  ready {}
  stop {}
  restart {}
  output { file = "/var/log/a.log" }
}`, Inputs{})
	a := p.Apps[0]
	if a.Ready.Delay != time.Second || a.Stop.Signal != syscall.SIGTERM || a.Restart.Policy != "always" || a.Output.MaxSize != 100e6 || a.Keep != 7 || p.Registries["r"].Interval != time.Minute {
		t.Errorf("defaults: %+v %+v", a, p.Registries["r"])
	}
}
