package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dewyhq/dewy/examples/apps/internal/apptest"
)

func TestMain(m *testing.M) { apptest.Main(m, run) }

var client = &http.Client{Timeout: apptest.Timeout}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// TestUnderDewy runs the app as dewy would (held sockets in both protocols,
// a readiness socket, a NOTIFY_SOCKET), then sends SIGHUP, which it ignores,
// and SIGTERM in the middle of a slow request, which must still be answered.
func TestUnderDewy(t *testing.T) {
	sockets := apptest.Hold(t, 1, true)
	notify := apptest.NewNotifier(t)
	app := apptest.Start(t, []string{"-startup-delay=300ms"}, sockets, notify)

	notify.Expect(t, "READY=1")
	if code, body := get(t, "http://"+sockets.Ready.Addr().String()+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("readiness endpoint = %d %q, want 200 ok", code, body)
	}
	code, body := get(t, sockets.URL(0)+"/")
	if want := "pid=" + strconv.Itoa(app.Pid()) + " generation=1\n"; code != 200 || body != want {
		t.Fatalf("GET / = %d %q, want 200 %q", code, body, want)
	}
	if code, _ := get(t, sockets.URL(0)+"/healthz"); code != 200 {
		t.Fatalf("GET /healthz = %d", code)
	}

	app.Signal(t, syscall.SIGHUP)
	app.WaitLog(t, "SIGHUP ignored")
	if code, _ := get(t, sockets.URL(0)+"/"); code != 200 {
		t.Fatalf("after SIGHUP, GET / = %d", code)
	}

	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := client.Get(sockets.URL(0) + "/?sleep=1s")
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		slow <- result{resp.StatusCode, string(b), err}
	}()
	app.WaitLog(t, "slow request started")
	app.Signal(t, syscall.SIGTERM)
	notify.Expect(t, "STOPPING=1")

	r := <-slow
	if r.err != nil || r.code != 200 || !strings.HasPrefix(r.body, "pid=") {
		t.Fatalf("in-flight request across SIGTERM = %d %q %v, want 200", r.code, r.body, r.err)
	}
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	logs := app.Logs()
	for _, want := range []string{"draining", "slow request finished", "stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log has no %q", want)
		}
	}
}

// TestAlone runs the app without dewy: it binds -addr itself and stops on
// SIGINT.
func TestAlone(t *testing.T) {
	app := apptest.Start(t, []string{"-addr=127.0.0.1:0"}, nil, nil)
	line := app.WaitLog(t, "serving")
	m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no addr in %q", line)
	}
	if code, body := get(t, "http://"+m[1]+"/"); code != 200 || !strings.Contains(body, "generation=0") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	app.Signal(t, syscall.SIGINT)
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestStopDuringStartup: SIGTERM while starting slowly is a clean exit, and
// the readiness endpoint said "not ready" until then.
func TestStopDuringStartup(t *testing.T) {
	sockets := apptest.Hold(t, 1, true)
	app := apptest.Start(t, []string{"-startup-delay=1h"}, sockets, nil)
	app.WaitLog(t, "starting slowly")
	if code, _ := get(t, "http://"+sockets.Ready.Addr().String()+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("readiness endpoint during start-up = %d, want 503", code)
	}
	app.Signal(t, syscall.SIGTERM)
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	app.WaitLog(t, "stopped during start-up")
}
