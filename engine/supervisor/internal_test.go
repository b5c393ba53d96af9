package supervisor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

func TestParseEnvFile(t *testing.T) {
	src := `# comment
A=1

export B = two words
C="quoted\tvalue"
D='single $NOT'
E=
`
	got, err := parseEnvFile("app.env", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"A", "1"}, {"B", "two words"}, {"C", "quoted\tvalue"}, {"D", "single $NOT"}, {"E", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseEnvFile:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS", "=value", "TWO WORDS=x", `Q="bad \q escape"`} {
		_, err := parseEnvFile("app.env", []byte("OK=1\n"+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "app.env:2") {
			t.Errorf("%q: error %v should name app.env:2", bad, err)
		}
	}
}

// TestBaseEnvLayers: dewy's environment < env file < App.Env, with the
// socket and notify variables dewy inherited removed.
func TestBaseEnvLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(file, []byte("FROM_FILE=file\nSHARED=file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"PATH=/usr/bin", "SHARED=dewy", "NOTIFY_SOCKET=/run/systemd/notify",
		"LISTEN_FDS=2", "LISTEN_PID=1", "LISTEN_FDNAMES=a:b", "SERVER_STARTER_PORT=80=3",
		"DEWY_SHIM=1", "WATCHDOG_USEC=1000", "DEWY_LOG_LEVEL=debug",
	}
	e, err := baseEnv(environ, file, map[string]string{"SHARED": "app", "Z": "z"})
	if err != nil {
		t.Fatal(err)
	}
	got := e.list()
	want := []string{"PATH=/usr/bin", "SHARED=app", "DEWY_LOG_LEVEL=debug", "FROM_FILE=file", "Z=z"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env:\n got %q\nwant %q", got, want)
	}
	if _, err := baseEnv(nil, filepath.Join(t.TempDir(), "missing.env"), nil); err == nil || !strings.Contains(err.Error(), "missing.env") {
		t.Errorf("missing env file: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	s := New(Options{App: plan.App{Restart: plan.RestartPolicy{Initial: 100 * time.Millisecond, Max: time.Second}}})
	var got []time.Duration
	for n := 0; n < 6; n++ {
		got = append(got, s.backoff(n))
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("backoff %v, want %v", got, want)
	}
	s = New(Options{App: plan.App{Restart: plan.RestartPolicy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.5}}})
	spread := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := s.backoff(2) // 400ms ± 50%
		if d < 200*time.Millisecond || d > 600*time.Millisecond {
			t.Fatalf("jittered backoff %v outside 200ms..600ms", d)
		}
		spread[d] = true
	}
	if len(spread) < 10 {
		t.Errorf("jitter produced only %d distinct delays", len(spread))
	}
}

func TestReadyURL(t *testing.T) {
	for _, c := range []struct{ check, addr, want string }{
		{"/healthz", "127.0.0.1:4000", "http://127.0.0.1:4000/healthz"},
		{"http://127.0.0.1:8080/healthz", "127.0.0.1:4000", "http://127.0.0.1:8080/healthz"},
	} {
		if got := readyURL(c.check, c.addr); got != c.want {
			t.Errorf("readyURL(%q, %q) = %q, want %q", c.check, c.addr, got, c.want)
		}
	}
}

func TestRestartReason(t *testing.T) {
	for cause, want := range map[string]string{
		"SIGUSR1": "signal", "SIGHUP": "signal", "dewy restart": "api", "dewy deploy": "api",
		"deploy v1.2.3": "deploy", "rollback to v1.2.2": "deploy", "something else": "other",
	} {
		if got := restartReason(cause); got != want {
			t.Errorf("restartReason(%q) = %q, want %q", cause, got, want)
		}
	}
}
