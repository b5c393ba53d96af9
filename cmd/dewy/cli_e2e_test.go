package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// End-to-end tests of what the CLI adds around the engine: the pid file,
// a broken stderr, signals without an entry, inherited descriptors.

// stderr is a pipe whose reader goes away: dewy's next log lines fail
// with EPIPE instead of killing dewy (and the apps with it) by SIGPIPE.
func TestBrokenStderrDoesNotKillDewy(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
	// The app's own output goes to its file, which the broken pipe does
	// not concern.
	appLog := filepath.Join(t.TempDir(), "web.log")
	d := startDewyWith(t, dewyOpts{stderr: w, web: fmt.Sprintf("  output {\n    file = %q\n  }", appLog)})
	w.Close() // dewy holds the only write end
	before, err := fetch(d.addr)
	if err != nil {
		t.Fatal(err)
	}

	// The reader dies.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	<-drained

	// A restart makes dewy log a dozen lines into the broken pipe.
	if err := syscall.Kill(d.cmd.Process.Pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var after [2]int
	testutil.Eventually(t, "the restart to complete", 30*time.Second, func() bool {
		if !d.alive() {
			return true // reported below
		}
		after, err = fetch(d.addr)
		return err == nil && after[1] == before[1]+1
	})
	time.Sleep(200 * time.Millisecond) // the "restart complete" lines
	if !d.alive() {
		t.Fatalf("dewy died writing to a broken stderr: %v", d.cmd.ProcessState)
	}
	if now, err := fetch(d.addr); err != nil || now != after {
		t.Errorf("the app does not answer as generation %d: %v (%v)", after[1], now, err)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d after TERM, want 0 (%v)", code, d.cmd.ProcessState)
	}
	if b, _ := os.ReadFile(appLog); !strings.Contains(string(b), fmt.Sprintf("generation=%d", after[1])) {
		t.Errorf("the new generation's output is not in its file:\n%s", b)
	}
	if procfs.Alive(after[0]) {
		t.Error("the app outlived dewy")
	}
}

// Every signal a signal block may name is caught from the start: one
// without an entry is logged at warn with its name and does not kill dewy
// (ALRM, USR2 and XCPU would by default).
func TestSignalWithoutEntryIsLoggedAndIgnored(t *testing.T) {
	d := startDewy(t, "")
	pid := d.cmd.Process.Pid
	before, _ := fetch(d.addr)
	for _, sig := range []syscall.Signal{syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGXCPU} {
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		name := "SIG" + sigName(sig)
		want := []string{`"level":"warn"`, fmt.Sprintf(`"signal":%q`, name), fmt.Sprintf(`"message":"no action for %s; ignored"`, name)}
		testutil.Eventually(t, name+" logged", 10*time.Second, func() bool { return hasLine(d.log.String(), want...) })
	}
	if !d.alive() {
		t.Fatal("dewy exited")
	}
	if after, err := fetch(d.addr); err != nil || after != before {
		t.Errorf("the app changed: %v -> %v (%v)", before, after, err)
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// hasLine reports whether one line of log contains every part.
func hasLine(log string, parts ...string) bool {
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

func sigName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGUSR2: "USR2", syscall.SIGALRM: "ALRM", syscall.SIGXCPU: "XCPU"}[s]
}

// A descriptor dewy was started with does not reach the apps, and SIGPIPE
// is not ignored in them (dewy catches it, it does not ignore it).
func TestAppsInheritNeitherStrayFDsNorIgnoredSIGPIPE(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "inherited-marker")
	f, err := os.Create(marker)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(dir, "fds.txt")
	script := fmt.Sprintf("ls -l /proc/$$/fd > %[1]s.tmp; grep SigIgn /proc/$$/status >> %[1]s.tmp; mv %[1]s.tmp %[1]s; exec sleep 1000", out)
	d := startDewyWith(t, dewyOpts{
		extra:      fmt.Sprintf("app \"fds\" {\n  command = [\"/bin/sh\", \"-c\", %q]\n}\n", script),
		extraFiles: []*os.File{f}, // fd 3 in dewy
	})
	// dewy itself does hold it, so the test means something.
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", d.cmd.Process.Pid)); err != nil || target != marker {
		t.Fatalf("dewy's fd 3 is %q (%v), want the marker", target, err)
	}
	var report []byte
	testutil.Eventually(t, "the app's report", 20*time.Second, func() bool {
		report, err = os.ReadFile(out)
		return err == nil
	})
	if !strings.Contains(string(report), "0 -> ") {
		t.Fatalf("the report lists no descriptors:\n%s", report)
	}
	if strings.Contains(string(report), marker) {
		t.Errorf("the app inherited dewy's stray descriptor:\n%s", report)
	}
	var ign uint64
	for _, line := range strings.Split(string(report), "\n") {
		if v, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			ign, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if ign&(1<<(uint(syscall.SIGPIPE)-1)) != 0 {
		t.Errorf("the app starts with SIGPIPE ignored (SigIgn %x)", ign)
	}
}

// The pid file: a stale one is replaced once dewy is up; a second dewy
// with the same file refuses to start (exit 1, before binding anything:
// the first one's address would be exit 2); removed at exit.
func TestPidFile(t *testing.T) {
	dir := t.TempDir()
	pidPath := filepath.Join(dir, "dewy.pid")
	stale := exec.Command("true")
	if err := stale.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(stale.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A relative --pid-file is relative to the working directory.
	d := startDewyWith(t, dewyOpts{args: []string{"--pid-file", "dewy.pid"}, dir: dir})
	want := strconv.Itoa(d.cmd.Process.Pid) + "\n"
	testutil.Eventually(t, "the pid file", 10*time.Second, func() bool {
		b, _ := os.ReadFile(pidPath)
		return string(b) == want
	})
	if i, j := strings.Index(d.log.String(), "dewy is up"), strings.Index(d.log.String(), "pid file written"); i < 0 || j < i {
		t.Errorf("the pid file was not written after \"dewy is up\"")
	}

	dewy, _ := binaries(t)
	second := exec.Command(dewy, "-c", d.cmd.Args[2], "--state-dir", t.TempDir(), "--pid-file", pidPath)
	out, err := second.CombinedOutput()
	if code := exitCode(err); code != exitConfig {
		t.Errorf("second dewy: exit code %d, want %d\n%s", code, exitConfig, out)
	}
	if !strings.Contains(string(out), pidPath) || !strings.Contains(string(out), strconv.Itoa(d.cmd.Process.Pid)) {
		t.Errorf("the refusal does not name the file and the pid:\n%s", out)
	}
	if b, _ := os.ReadFile(pidPath); string(b) != want {
		t.Errorf("the refused dewy changed the pid file: %q", b)
	}

	if code := d.stop(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if _, err := os.Stat(pidPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file still there after exit: %v", err)
	}
}

// A pid file in a folder dewy cannot write to: an error naming the path,
// before any app started.
func TestPidFileUnwritableFolder(t *testing.T) {
	dewy, app := binaries(t)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "not-a-folder")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	appOut := filepath.Join(dir, "app-ran")
	cfg := filepath.Join(dir, "dewy.hcl")
	src := fmt.Sprintf("agent {\n  pid_file = \"not-a-folder/dewy.pid\"\n}\napp \"x\" {\n  command = [\"/bin/sh\", \"-c\", \"touch %s\"]\n}\n", appOut)
	_ = app
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dewy, "-c", cfg, "--state-dir", dir, "--admin-socket", filepath.Join(dir, "dewy.sock")).CombinedOutput()
	if code := exitCode(err); code != exitFS {
		t.Errorf("exit code %d, want %d\n%s", code, exitFS, out)
	}
	// Relative in the file: relative to the file's folder.
	if want := filepath.Join(notDir, "dewy.pid"); !strings.Contains(string(out), want) {
		t.Errorf("the error does not name %s:\n%s", want, out)
	}
	if _, err := os.Stat(appOut); err == nil {
		t.Error("the app ran although dewy refused to start")
	}
}
