package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/internal/testutil"
)

// startFlagDewy runs `dewy ARGS...` in dir until the test ends.
func startFlagDewy(t *testing.T, dir string, args ...string) *dewyProc {
	t.Helper()
	dewy, _ := binaries(t)
	d := &dewyProc{cmd: exec.Command(dewy, args...), log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	d.cmd.Dir = dir
	d.cmd.Stderr = d.log
	d.cmd.Stdout = io.Discard
	d.cmd.Env = append(os.Environ(), "DEWY_STATE_DIR=", "DEWY_ADMIN_SOCKET=", "DEWY_CONFIG=")
	d.cmd.WaitDelay = time.Second
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		if d.alive() {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.done:
			case <-time.After(20 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.done
			}
		}
		if t.Failed() {
			t.Logf("dewy log:\n%s", d.log.String())
		}
	})
	return d
}

// The founding document's command line, against a file registry: an
// existing deployment folder of the original dewy (releases/<time>/ and an
// absolute current link) is picked up and served at once, the newest
// release is deployed, USR1 restarts with no failed request (and is
// logged with dewy's pid), and TERM ends it with exit 0.
func TestDewyServerFlags(t *testing.T) {
	root, reg, appBin := fileRegistryWithApp(t)
	work := filepath.Join(root, "opt", "dewy")
	old := filepath.Join(work, "releases", "20240101T000000Z")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, platformArtifact("")), appBin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(old, filepath.Join(work, "current")); err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreeAddr(t)
	_, port, _ := strings.Cut(addr, ":")

	d := startFlagDewy(t, work, "server", "--registry", reg.url(), "--port", port, "--interval", "1",
		"--log-level", "debug", "--health-path", "/healthz", "--", filepath.Join(work, "current", platformArtifact("")))
	testutil.Eventually(t, "the original deployment served", 30*time.Second, func() bool { _, err := fetch(addr); return err == nil })
	if !strings.Contains(d.log.String(), "SIGHUP no longer restarts the app") {
		t.Error("no warning about HUP at start")
	}

	reg.publish("v1.0.0", map[string][]byte{platformArtifact(""): appBin}, 0o755)
	testutil.Eventually(t, "v1.0.0 deployed", 30*time.Second, func() bool {
		target, _ := os.Readlink(filepath.Join(work, "current"))
		return strings.HasSuffix(target, "_v1.0.0") && strings.Contains(d.log.String(), "release deployed")
	})
	if _, err := os.Stat(old); err != nil {
		t.Errorf("the original release folder is gone: %v", err)
	}

	load := testutil.StartLoad("http://"+addr+"/", 4)
	before, _ := fetch(addr)
	if err := d.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the USR1 restart", 30*time.Second, func() bool {
		now, err := fetch(addr)
		return err == nil && now[1] > before[1]
	})
	ok, failed, firstErr := load.Stop()
	if failed > 0 || ok == 0 {
		t.Errorf("%d of %d requests failed over the USR1 restart (first: %v)", failed, ok+failed, firstErr)
	}
	found := false
	for _, line := range strings.Split(d.log.String(), "\n") {
		if strings.Contains(line, "received signal") && strings.Contains(line, fmt.Sprintf("pid=%d ", d.cmd.Process.Pid)) && strings.Contains(line, "signal=SIGUSR1") {
			found = true
		}
	}
	if !found {
		t.Errorf("no 'received signal' line for SIGUSR1 with dewy's pid %d", d.cmd.Process.Pid)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after TERM", code)
	}
	if _, err := fetch(addr); err == nil {
		t.Error("the app still answers after dewy exited")
	}
}

// dewy assets keeps a folder of static files on the newest release.
func TestDewyAssetsFlags(t *testing.T) {
	binaries(t)
	root := t.TempDir()
	reg := fileRegistry{t: t, dir: filepath.Join(root, "registry")}
	if err := os.MkdirAll(reg.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(root, "www")
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	reg.publish("v1.0.0", map[string][]byte{"site.tar.gz": tarGz(t, [][2]string{{"index.html", "one"}, {"css/site.css", "body{}"}})}, 0o644)
	d := startFlagDewy(t, root, "assets", "--registry", reg.url(), "-i", "1", "-d", "www", "--after-deploy-hook", "echo $DEWY_VERSION >> deployed.txt")
	index := func() string {
		b, _ := os.ReadFile(filepath.Join(site, "current", "index.html"))
		return string(b)
	}
	testutil.Eventually(t, "v1.0.0 unpacked", 30*time.Second, func() bool { return index() == "one" })
	reg.publish("v1.1.0", map[string][]byte{"site.tar.gz": tarGz(t, [][2]string{{"index.html", "two"}})}, 0o644)
	testutil.Eventually(t, "v1.1.0 unpacked", 30*time.Second, func() bool { return index() == "two" })
	testutil.Eventually(t, "the hook ran twice", 10*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(site, "deployed.txt"))
		return string(b) == "v1.0.0\nv1.1.0\n"
	})
	if strings.Contains(d.log.String(), "SIGHUP no longer restarts") {
		t.Error("dewy assets warns about HUP restarts it never did")
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d after TERM", code)
	}
}
