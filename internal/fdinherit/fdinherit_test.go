package fdinherit

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openInheritable opens a file without O_CLOEXEC, as a descriptor handed
// over at exec would be.
func openInheritable(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

func cloexec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// A child started after CloseOnExec sees the kept descriptor and not the
// other one; both were inheritable before.
func TestCloseOnExecKeepsOnlyTheExceptions(t *testing.T) {
	dir := t.TempDir()
	leak := openInheritable(t, filepath.Join(dir, "leak"))
	kept := openInheritable(t, filepath.Join(dir, "kept"))
	if cloexec(t, leak) || cloexec(t, kept) {
		t.Fatal("the test descriptors are close-on-exec from the start")
	}

	changed, err := CloseOnExec([]int{kept})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(changed, leak) || slices.Contains(changed, kept) {
		t.Errorf("changed %v; want %d in it and %d not", changed, leak, kept)
	}
	if !cloexec(t, leak) || cloexec(t, kept) {
		t.Errorf("after: leak close-on-exec %v (want true), kept %v (want false)", cloexec(t, leak), cloexec(t, kept))
	}
	for _, fd := range []int{0, 1, 2} {
		if cloexec(t, fd) {
			t.Errorf("fd %d became close-on-exec", fd)
		}
	}

	// A real child: the shell lists its own descriptors.
	out, err := exec.Command("sh", "-c", "ls /proc/$$/fd").Output()
	if err != nil {
		t.Fatal(err)
	}
	fds := strings.Fields(string(out))
	if slices.Contains(fds, strconv.Itoa(leak)) {
		t.Errorf("the child inherited fd %d: %v", leak, fds)
	}
	if !slices.Contains(fds, strconv.Itoa(kept)) {
		t.Errorf("the child lost the kept fd %d: %v", kept, fds)
	}

	// A second call has nothing left to change.
	if changed, err := CloseOnExec([]int{kept}); err != nil || slices.Contains(changed, leak) {
		t.Errorf("second call changed %v (%v)", changed, err)
	}
}

func TestCloseOnExecWithoutProc(t *testing.T) {
	if _, err := closeOnExecIn(filepath.Join(t.TempDir(), "missing"), nil); err == nil || !strings.Contains(err.Error(), "list inherited descriptors") {
		t.Errorf("err = %v", err)
	}
}

func TestSocketActivation(t *testing.T) {
	pid := os.Getpid()
	me := strconv.Itoa(pid)
	tests := []struct {
		name    string
		environ []string
		want    []int
	}{
		{"none", []string{"PATH=/bin"}, nil},
		{"ours", []string{"LISTEN_PID=" + me, "LISTEN_FDS=2"}, []int{3, 4}},
		{"another process's", []string{"LISTEN_PID=1", "LISTEN_FDS=2"}, nil},
		{"no count", []string{"LISTEN_PID=" + me}, nil},
		{"bad count", []string{"LISTEN_PID=" + me, "LISTEN_FDS=x"}, nil},
		{"zero", []string{"LISTEN_PID=" + me, "LISTEN_FDS=0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SocketActivation(tt.environ, pid); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
