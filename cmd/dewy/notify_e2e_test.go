package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/internal/testutil"
)

// Notifications end to end: the real dewy, the example app deployed from
// a file registry, a real SMTP server (mailpit) that asks for a password,
// real signals.

const mailPassword = "hunter2-mail-SECRET"

// mailID finds the ID line of a mail's text.
var mailID = regexp.MustCompile(`(?m)^ID: +([0-9A-Z]{26})`)

func TestNotificationsByMail(t *testing.T) {
	_, app := binaries(t)
	dir := t.TempDir()
	auth := filepath.Join(dir, "passwords")
	if err := os.WriteFile(auth, []byte("dewy:"+mailPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := testutil.StartMailpit(t, "--smtp-auth-file", auth, "--smtp-auth-allow-insecure")
	appBin, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	reg := fileRegistry{t: t, dir: filepath.Join(dir, "registry")}
	if err := os.MkdirAll(reg.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	appDir := filepath.Join(dir, "web")
	addr := testutil.FreeAddr(t)
	cfg := filepath.Join(dir, "dewy.hcl")
	// The app's notifier and the agent's are the same block: each message
	// goes out once.
	src := fmt.Sprintf(`
agent {
  log_format = "json"
  log_level  = "debug"
  notifiers  = ["ops"]
}
registry "r" {
  url      = %q
  interval = "1s"
}
notifier "ops" {
  url = "smtp://dewy:%s@%s/ops@example.com?tls=false&from=dewy@example.com"
}
app "web" {
  registry  = "r"
  dir       = %q
  command   = [%q, "-startup-delay", "50ms"]
  listen    = [%q]
  notifiers = ["ops"]
  ready {
    http     = "/healthz"
    interval = "20ms"
  }
}
`, reg.url(), mailPassword, mp.SMTP, appDir, filepath.Join(appDir, "current", platformArtifact("")), addr)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := map[string][]byte{platformArtifact(""): appBin}
	reg.publish("v1.0.0", bin, 0o755)
	d := launch(t, cfg, addr, dewyOpts{})

	subjects := func() []string {
		msgs, err := mp.Messages(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.Subject)
		}
		return out
	}
	has := func(subject string) bool {
		for _, s := range subjects() {
			if strings.Contains(s, subject) {
				return true
			}
		}
		return false
	}
	// (With nothing deployed yet, "started" may come before the first
	// deploy ends and count 0/1 apps running.)
	testutil.Eventually(t, "the start announced", 20*time.Second, func() bool { return has("/1 apps running") })
	testutil.Eventually(t, "the first deploy announced", 20*time.Second, func() bool { return has("web: v1.0.0 deployed") })

	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the restart message", 20*time.Second, func() bool { return has("] restarted by SIGUSR1") })

	reg.publish("v1.1.0", bin, 0o755)
	testutil.Eventually(t, "the deployed message", 30*time.Second, func() bool { return has("web: v1.1.0 deployed") })

	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	// The stop message left before dewy exited: it is there now.
	msgs, err := mp.Messages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ids := map[string]string{}
	for _, m := range msgs {
		got = append(got, m.Subject)
		if m.To[0].Address != "ops@example.com" || m.From.Address != "dewy@example.com" {
			t.Errorf("from %+v to %+v", m.From, m.To)
		}
		if id := mailID.FindStringSubmatch(m.Text); id != nil {
			ids[m.Subject] = id[1]
		}
	}
	t.Logf("mails:\n%s", strings.Join(got, "\n"))
	host, _ := os.Hostname()
	prefix := "[dewy on " + host + "] "
	wantInOrder := []string{
		prefix + "web: deploying v1.0.0 (" + platformArtifact("") + ", by poll)",
		prefix + "web: v1.0.0 downloaded from the registry (" + platformArtifact(""),
		prefix + "web: v1.0.0 deployed",
		prefix + "restarted by SIGUSR1",
		prefix + "web: deploying v1.1.0",
		prefix + "web: v1.1.0 downloaded from the registry (" + platformArtifact(""),
		prefix + "web: v1.1.0 deployed",
		prefix + "stopped by SIGTERM",
	}
	i := 0
	for _, s := range got {
		if i < len(wantInOrder) && strings.HasPrefix(s, wantInOrder[i]) {
			i++
		}
	}
	if i < len(wantInOrder) {
		t.Errorf("mails lack %q (in this order: %q)", wantInOrder[i], wantInOrder)
	}
	if len(got) != len(wantInOrder)+1 {
		t.Errorf("%d mails, want %d (each once, though the notifier is both the app's and the agent's)", len(got), len(wantInOrder)+1)
	}
	started := ""
	for _, s := range got {
		if strings.HasSuffix(s, "/1 apps running") {
			started = s
		}
	}
	if !strings.Contains(started, " with "+cfg+" started") {
		t.Errorf("the start message %q names no config file", started)
	}
	// Every message of one deploy carries the deploy's ULID.
	var dl, dep string
	for s, id := range ids {
		if strings.Contains(s, "web: v1.1.0 downloaded") {
			dl = id
		}
		if strings.Contains(s, "web: v1.1.0 deployed") {
			dep = id
		}
	}
	if dl == "" || dl != dep {
		t.Errorf("downloaded has ID %q, deployed %q: want the same deploy ULID", dl, dep)
	}
	if !strings.Contains(d.log.String(), `"deploy_id":"`+dep+`"`) {
		t.Errorf("the deploy's ULID %s is not in dewy's log", dep)
	}
	if strings.Contains(d.log.String(), mailPassword) {
		t.Errorf("dewy's log shows the mail password")
	}
}

// Notifiers that fail (an SMTP server that is down, one that refuses the
// password, a webhook that never answers) delay neither a restart nor the
// shutdown beyond its bound, and each failure is logged once per kind,
// not once per message. Their credentials never reach the log.
func TestFailingNotifiersDelayNothing(t *testing.T) {
	dir := t.TempDir()
	auth := filepath.Join(dir, "passwords")
	if err := os.WriteFile(auth, []byte("dewy:right\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := testutil.StartMailpit(t, "--smtp-auth-file", auth, "--smtp-auth-allow-insecure")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)

	extra := fmt.Sprintf(`
notifier "down" {
  url = "smtp://dewy:%[1]s@%[2]s/ops@example.com?tls=false"
}
notifier "refused" {
  url = "smtp://dewy:%[1]s@%[3]s/ops@example.com?tls=false"
}
notifier "hang" {
  url    = "%[4]s/hook?token=%[1]s"
  secret = "%[1]s"
}
`, mailPassword, down, mp.SMTP, hang.URL)
	d := startDewyWith(t, dewyOpts{extra: extra, web: `notifiers = ["down", "refused", "hang"]`})

	for i := range 3 {
		before := strings.Count(d.log.String(), "restarted by SIGUSR1")
		begin := time.Now()
		if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "the restart", 20*time.Second, func() bool { return strings.Count(d.log.String(), "restarted by SIGUSR1") > before })
		if took := time.Since(begin); took > 5*time.Second {
			t.Errorf("restart %d took %s with failing notifiers", i, took)
		}
	}
	// The refusals and the refused connections come fast; wait for them.
	testutil.Eventually(t, "the failures logged", 20*time.Second, func() bool {
		l := d.log.String()
		return strings.Contains(l, `"notifier":"down"`) && strings.Contains(l, `"notifier":"refused"`)
	})
	begin := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("dewy did not exit after TERM")
	}
	// The app stops at once; the hanging webhook's queue gets its 5s.
	if took := time.Since(begin); took > 8*time.Second {
		t.Errorf("shutdown took %s with a hanging webhook (bound: the apps' stop, then 5s)", took)
	}
	log := d.log.String()
	for _, c := range [][2]string{{"down", "refused"}, {"refused", "auth"}} {
		if n := countLines(log, `"level":"warn"`, `"notifier":"`+c[0]+`"`, `"failure":"`+c[1]+`"`); n != 1 {
			t.Errorf("notifier %s: %d warnings of kind %s, want 1 (several messages failed)", c[0], n, c[1])
		}
		if n := countLines(log, `"level":"debug"`, `"notifier":"`+c[0]+`"`, `"failure":"`+c[1]+`"`); n < 2 {
			t.Errorf("notifier %s: %d later failures at debug, want at least 2", c[0], n)
		}
	}
	if n := countLines(log, `"level":"warn"`, `"notifier":"hang"`, `"failure":"timeout"`) + countLines(log, `"level":"warn"`, `"notifier":"hang"`, `"failure":"cut at exit"`); n < 1 || n > 2 {
		t.Errorf("hanging webhook: %d warnings, want one per kind", n)
	}
	if strings.Contains(log, mailPassword) {
		t.Errorf("dewy's log shows a credential:\n%s", log)
	}
}

// countLines counts the lines of log that hold every part.
func countLines(log string, parts ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				all = false
				break
			}
		}
		if all {
			n++
		}
	}
	return n
}
