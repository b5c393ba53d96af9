package pidfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// startProc starts a real long-running process whose argv[0] is name.
func startProc(t *testing.T, name string) int {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(sleep, "60")
	cmd.Args[0] = name
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// exitedPid returns the pid of a process that has exited and been reaped.
func exitedPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestWriteReadRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dewy.pid")
	if err := Write(path, 4242); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "4242\n" {
		t.Errorf("content %q", b)
	}
	if pid, err := Read(path); err != nil || pid != 4242 {
		t.Errorf("Read = %d, %v", pid, err)
	}
	// Replacing leaves no temporary file behind.
	if err := Write(path, 4343); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("files in the folder: %v", ents)
	}
	// Not ours any more: left alone.
	if removed, err := Remove(path, 4242); removed || err != nil {
		t.Errorf("Remove of another pid's file: %v, %v", removed, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("another pid's file was removed: %v", err)
	}
	if removed, err := Remove(path, 4343); !removed || err != nil {
		t.Errorf("Remove of our file: %v, %v", removed, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("our file is still there: %v", err)
	}
	if removed, err := Remove(path, 4343); removed || err != nil {
		t.Errorf("Remove with no file: %v, %v", removed, err)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dewy.pid")
	self := os.Getpid()

	if err := Check(path, self); err != nil {
		t.Errorf("no file: %v", err)
	}

	live := startProc(t, "/usr/local/bin/dewy")
	_ = Write(path, live)
	var re *RunningError
	err := Check(path, self)
	if !errors.As(err, &re) || re.Pid != live || re.Path != path {
		t.Fatalf("a live dewy in the file: %v", err)
	}
	for _, want := range []string{path, "pid", "running dewy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	// Stale: the pid is gone, or reused by something that is not dewy, or
	// it is our own (a restarted container with the same pid).
	for name, pid := range map[string]int{"exited": exitedPid(t), "not dewy": startProc(t, "sleep"), "self": self} {
		_ = Write(path, pid)
		if err := Check(path, self); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	_ = os.WriteFile(path, []byte("garbage"), 0o644)
	if err := Check(path, self); err != nil {
		t.Errorf("garbage in the file: %v", err)
	}
}

func TestCheckUnwritableFolder(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(notDir, "dewy.pid"), filepath.Join(t.TempDir(), "missing", "dewy.pid")} {
		err := Check(path, os.Getpid())
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want one naming the path", path, err)
		}
		if err := Write(path, 1); err == nil {
			t.Errorf("%s: Write succeeded", path)
		}
	}
}
