package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/dewyhq/dewy/control"
	"github.com/dewyhq/dewy/internal/testutil"
)

// dewyCLI runs a client command of dewy and returns its stdout, stderr
// and exit code.
func dewyCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	dewy, _ := binaries(t)
	cmd := exec.Command(dewy, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "DEWY_CONFIG=", "DEWY_ADMIN_SOCKET=")
	err := cmd.Run()
	return out.String(), errb.String(), exitCode(err)
}

// The control socket and the client commands against a real agent that
// deploys the example app from a file registry.
func TestControlSocketAndClientCommands(t *testing.T) {
	root, reg, appBin := fileRegistryWithApp(t)
	reg.publish("v1.0.0", map[string][]byte{platformArtifact(""): appBin}, 0o755)
	addr, metricsAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	appDir := filepath.Join(root, "web")
	cfg := filepath.Join(root, "dewy.hcl")
	sock := filepath.Join(root, "dewy.sock")
	src := fmt.Sprintf(`
agent {
  log_format   = "json"
  log_level    = "debug"
  admin_socket = "dewy.sock"
  metrics      = %q
}
registry "r" {
  url      = %q
  interval = "1h"
}
app "web" {
  registry = "r"
  dir      = %q
  command  = [%q]
  listen   = [%q]
  ready {
    http     = "/healthz"
    interval = "20ms"
  }
}
app "plain" {
  command = ["/bin/sleep", "3600"]
}
`, metricsAddr, reg.url(), appDir, filepath.Join(appDir, "current", platformArtifact("")), addr)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	d := launch(t, cfg, addr, dewyOpts{args: []string{"--admin-socket", sock}})

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("control socket mode %v, want a socket with 0600", fi.Mode())
	}

	status := func() control.Status {
		t.Helper()
		out, errs, code := dewyCLI(t, "status", "--json", "--socket", sock)
		if code != 0 {
			t.Fatalf("dewy status --json: exit %d: %s", code, errs)
		}
		var st control.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status JSON: %v\n%s", err, out)
		}
		return st
	}
	webOf := func(st control.Status) control.AppStatus {
		for _, a := range st.Apps {
			if a.Name == "web" {
				return a
			}
		}
		t.Fatalf("no web in %+v", st)
		return control.AppStatus{}
	}
	testutil.Eventually(t, "web running v1.0.0", 30*time.Second, func() bool {
		w := webOf(status())
		return w.State == "running" && w.Version == "v1.0.0"
	})
	st := status()
	w := webOf(st)
	if st.PID != d.cmd.Process.Pid || w.PID == 0 || w.Generation != 1 || w.LastDeploy == nil || w.LastDeploy.Result != "deployed" || w.NextPoll == nil {
		t.Errorf("status %+v, web %+v", st, w)
	}

	// The table, found through -c FILE's admin_socket (relative to the file).
	out, errs, code := dewyCLI(t, "status", "-c", cfg)
	if code != 0 || !regexp.MustCompile(`(?m)^web\s+running\s+\d+\s+1\s+v1\.0\.0\s`).MatchString(out) || !strings.Contains(out, "(no registry)") {
		t.Errorf("dewy status -c: exit %d\n%s%s", code, out, errs)
	}

	// Restart: waits, and the generation moves.
	out, errs, code = dewyCLI(t, "restart", "web", "--socket", sock)
	if code != 0 || !strings.Contains(out, "web restarted") {
		t.Fatalf("dewy restart web: exit %d: %s%s", code, out, errs)
	}
	if w := webOf(status()); w.Generation != 2 || w.Restarts < 1 {
		t.Errorf("after dewy restart: generation %d, restarts %d", w.Generation, w.Restarts)
	}
	if !strings.Contains(d.log.String(), `"message":"restarted by dewy restart"`) {
		t.Error("the restart's event does not say it came from dewy restart")
	}

	// Deploy now: the newer release, with its ULID; again: nothing to do.
	reg.publish("v1.1.0", map[string][]byte{platformArtifact(""): appBin}, 0o755)
	out, errs, code = dewyCLI(t, "deploy", "web", "--socket", sock)
	m := regexp.MustCompile(`web: deployed v1\.1\.0 \(deploy ([0-9A-Z]{26})\)`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("dewy deploy web: exit %d: %s%s", code, out, errs)
	}
	if n := strings.Count(d.log.String(), `"deploy_id":"`+m[1]+`"`); n < 3 {
		t.Errorf("the deploy's ULID %s is in %d log lines", m[1], n)
	}
	out, _, code = dewyCLI(t, "deploy", "web", "--socket", sock)
	if code != 0 || !strings.Contains(out, "nothing to deploy: v1.1.0 is deployed") {
		t.Errorf("a second dewy deploy: exit %d: %s", code, out)
	}
	// A pinned version, older.
	out, errs, code = dewyCLI(t, "deploy", "web", "--version", "v1.0.0", "--socket", sock)
	if code != 0 || !strings.Contains(out, "deployed v1.0.0") {
		t.Errorf("dewy deploy --version v1.0.0: exit %d: %s%s", code, out, errs)
	}
	out, errs, code = dewyCLI(t, "deploy", "web", "--version", "v9.9.9", "--socket", sock)
	if code != 4 || !strings.Contains(errs, "v9.9.9") {
		t.Errorf("dewy deploy of a version the registry lacks: exit %d: %s%s", code, out, errs)
	}

	// Releases, then a rollback to the one before.
	out, _, code = dewyCLI(t, "releases", "web", "--socket", sock)
	if code != 0 || !regexp.MustCompile(`(?m)_v1\.0\.0\s+v1\.0\.0\s+\*`).MatchString(out) || !strings.Contains(out, "v1.1.0") {
		t.Errorf("dewy releases web: exit %d:\n%s", code, out)
	}
	// The pinned v1.0.0 is the newest folder: back to v1.1.0.
	out, errs, code = dewyCLI(t, "rollback", "web", "--socket", sock)
	if code != 0 || !strings.Contains(out, "web: rolled back from v1.0.0 to v1.1.0") {
		t.Errorf("dewy rollback: exit %d: %s%s", code, out, errs)
	}
	if w := webOf(status()); w.Version != "v1.1.0" || w.LastDeploy == nil || w.LastDeploy.Result != "rolled back" {
		t.Errorf("after the rollback: %+v", w)
	}

	// Signals to the app.
	if _, errs, code = dewyCLI(t, "signal", "web", "HUP", "--socket", sock); code != 0 {
		t.Errorf("dewy signal web HUP: exit %d: %s", code, errs)
	}
	if _, errs, code = dewyCLI(t, "signal", "web", "NOPE", "--socket", sock); code != 1 || !strings.Contains(errs, `"NOPE" is not a signal name`) {
		t.Errorf("dewy signal web NOPE: exit %d: %s", code, errs)
	}

	// Reload through the socket.
	if out, errs, code = dewyCLI(t, "reload", "--socket", sock); code != 0 || !strings.Contains(out, "reload applied") {
		t.Errorf("dewy reload: exit %d: %s%s", code, out, errs)
	}

	// Bad requests: an unknown app, an app without a registry, a
	// malformed body.
	if _, errs, code = dewyCLI(t, "restart", "nope", "--socket", sock); code != 1 || !strings.Contains(errs, `app "nope": no such app`) {
		t.Errorf("dewy restart nope: exit %d: %s", code, errs)
	}
	if _, errs, code = dewyCLI(t, "deploy", "plain", "--socket", sock); code != 1 || !strings.Contains(errs, "not deployed from a registry") {
		t.Errorf("dewy deploy plain: exit %d: %s", code, errs)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	body := "{bad"
	fmt.Fprintf(c, "POST /v1/apps/web/deploy HTTP/1.1\r\nHost: dewy\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	resp := make([]byte, 4096)
	n, _ := c.Read(resp)
	c.Close()
	if !strings.HasPrefix(string(resp[:n]), "HTTP/1.1 400") || !strings.Contains(string(resp[:n]), "not valid JSON") {
		t.Errorf("a malformed body: %s", resp[:n])
	}

	// The metrics, on the socket and on TCP, parsed as Prometheus does.
	text, err := control.NewClient(sock).Get(t.Context(), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mresp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("metrics on TCP: %v", err)
	}
	mresp.Body.Close()
	if mresp.StatusCode != 200 {
		t.Errorf("metrics on TCP: %s", mresp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the metrics do not parse: %v\n%s", err, text)
	}
	value := func(name string, labels map[string]string) float64 {
		f := fams[name]
		if f == nil {
			t.Errorf("no metric %s", name)
			return -1
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
		return 0
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"dewy_restarts_total", map[string]string{"app": "web", "reason": "api"}, 1},
		{"dewy_restarts_total", map[string]string{"app": "web", "reason": "deploy"}, 3},
		{"dewy_deploys_total", map[string]string{"app": "web", "result": "deployed"}, 3},
		{"dewy_deploy_duration_seconds", map[string]string{"app": "web", "result": "deployed"}, 3},
		{"dewy_rollbacks_total", map[string]string{"app": "web"}, 1},
		{"dewy_readiness_wait_seconds", map[string]string{"app": "web"}, 4},
		{"dewy_registry_polls_total", map[string]string{"app": "web"}, 4},
		{"dewy_app_up", map[string]string{"app": "web"}, 1},
		{"dewy_build_info", nil, 1},
	} {
		if v := value(c.name, c.labels); v < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}
	if v := value("dewy_app_crash_loop", map[string]string{"app": "web"}); v != 0 {
		t.Errorf("dewy_app_crash_loop{web} = %v", v)
	}

	// A second agent on the same socket refuses to start.
	dewy, _ := binaries(t)
	second := exec.Command(dewy, "-c", cfg, "--state-dir", t.TempDir(), "--admin-socket", sock)
	sout, err := second.CombinedOutput()
	if code := exitCode(err); code != exitConfig || !strings.Contains(string(sout), "another dewy answers on this control socket") {
		t.Errorf("a second agent on the socket: exit %d\n%s", code, sout)
	}

	// Another user cannot connect (the socket is 0600).
	if os.Getuid() == 0 {
		// Only the socket's own mode stands in the way: its folder and a
		// copy of the binary are open to everyone.
		pub, err := os.MkdirTemp("", "dewy-pub")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(pub)
		for _, d := range []string{pub, root, filepath.Dir(root)} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(dewy)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pub, "dewy"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		probe := exec.Command(filepath.Join(pub, "dewy"), "status", "--socket", sock)
		probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		pout, err := probe.CombinedOutput()
		if code := exitCode(err); code != exitNet || !strings.Contains(string(pout), "permission denied") {
			t.Errorf("dewy status as nobody: exit %d (%v): %s", code, err, pout)
		}
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("dewy exit %d", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket is left after exit: %v", err)
	}
}

// Without an agent, and against something that is not dewy: one line
// naming the path, a non-zero exit.
func TestClientWithoutAnAgent(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.sock")
	_, errs, code := dewyCLI(t, "status", "--socket", missing)
	if code != exitNet || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "no dewy agent answers on "+missing+": the socket does not exist") {
		t.Errorf("no agent: exit %d: %q", code, errs)
	}
	other := filepath.Join(dir, "other.sock")
	ln, err := net.Listen("unix", other)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = http.Serve(ln, http.NotFoundHandler()) }()
	_, errs, code = dewyCLI(t, "status", "--socket", other)
	if code != exitNet || !strings.Contains(errs, "not a dewy control socket") {
		t.Errorf("a socket that is not dewy's: exit %d: %q", code, errs)
	}
}
