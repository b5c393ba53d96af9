package procfs

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startGroup starts `sh -c 'exec sleep 30'` (startScript: any script) as the leader of a new process
// group, with extra inherited as fds 3... It is killed and reaped at the
// end of the test.
func startGroup(t testing.TB, extra ...*os.File) *exec.Cmd {
	t.Helper()
	return startScript(t, "exec sleep 30", extra...)
}

func startScript(t testing.TB, script string, extra ...*os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.ExtraFiles = extra
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// waitOwner polls SocketOwner until it returns want or a few seconds
// pass (a child's descriptors can be unreadable for an instant around
// exec), and returns its last answer.
func waitOwner(t testing.TB, pgid int, inode uint64, want int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pid, err := SocketOwner(pgid, inode)
		if err != nil {
			t.Fatalf("SocketOwner(%d, %d): %v", pgid, inode, err)
		}
		if pid == want || time.Now().After(deadline) {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSocketOwner(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	mine := os.NewFile(uintptr(fds[0]), "mine")
	defer mine.Close()
	other := os.NewFile(uintptr(fds[1]), "other")
	defer other.Close()
	fi, err := mine.Stat()
	if err != nil {
		t.Fatal(err)
	}
	inode := fi.Sys().(*syscall.Stat_t).Ino

	holder := startGroup(t, mine)
	bystander := startGroup(t)
	if pid := waitOwner(t, holder.Process.Pid, inode, holder.Process.Pid); pid != holder.Process.Pid {
		t.Errorf("holder's group: got pid %d, want %d", pid, holder.Process.Pid)
	}
	if pid := waitOwner(t, bystander.Process.Pid, inode, 0); pid != 0 {
		t.Errorf("bystander's group: got pid %d, want 0", pid)
	}
	// This process holds it too, in its own group.
	if pid := waitOwner(t, syscall.Getpgrp(), inode, os.Getpid()); pid != os.Getpid() {
		t.Errorf("our group: got pid %d, want %d", pid, os.Getpid())
	}
	mine.Close()
	if pid := waitOwner(t, syscall.Getpgrp(), inode, 0); pid != 0 {
		t.Errorf("our group after closing: got pid %d, want 0", pid)
	}
	// The other end of the pair is another socket.
	ofi, err := other.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if pid := waitOwner(t, holder.Process.Pid, ofi.Sys().(*syscall.Stat_t).Ino, 0); pid != 0 {
		t.Errorf("the other end: got pid %d, want 0", pid)
	}

	// Killed, a zombie, then reaped: nobody holds it, and no error.
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if pid := waitOwner(t, holder.Process.Pid, inode, 0); pid != 0 {
		t.Errorf("killed holder: got pid %d, want 0", pid)
	}
	_ = holder.Wait()
	if pid := waitOwner(t, holder.Process.Pid, inode, 0); pid != 0 {
		t.Errorf("reaped holder: got pid %d, want 0", pid)
	}

	if _, err := SocketOwner(0, inode); err == nil {
		t.Error("SocketOwner(0, ...): no error")
	}
	if _, err := SocketOwner(holder.Process.Pid, 0); err == nil {
		t.Error("SocketOwner(..., 0): no error")
	}
}

// The socket held by a member of the group, not by its leader: the
// shell starts sleep with fd 3 and closes its own copy.
func TestSocketOwnerGroupMember(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "held")
	defer syscall.Close(fds[1])
	var st syscall.Stat_t
	if err := syscall.Fstat(fds[0], &st); err != nil {
		t.Fatal(err)
	}
	leader := startScript(t, "sleep 30 & exec 3>&-; wait", f).Process.Pid
	f.Close()

	deadline := time.Now().Add(5 * time.Second)
	var pid int
	for {
		pid, err = SocketOwner(leader, st.Ino)
		if err != nil {
			t.Fatal(err)
		}
		if (pid != 0 && pid != leader) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if pid == 0 || pid == leader {
		t.Fatalf("got pid %d, want the leader's (%d) child", pid, leader)
	}
	// Let the shell reap its child: kill the sleep only.
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if s, err := Read(pid); err != nil || s.PGRP != leader || s.PPID != leader {
		t.Errorf("owner %d: %+v, %v; want a child of %d in its group", pid, s, err, leader)
	}
}

// BenchmarkSocketOwner: found in the group leader (the common case), and
// held by nobody in the group (every process's stat read).
func BenchmarkSocketOwner(b *testing.B) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	held := os.NewFile(uintptr(fds[0]), "held")
	defer held.Close()
	defer syscall.Close(fds[1])
	var st0, st1 syscall.Stat_t
	if err := syscall.Fstat(fds[0], &st0); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Fstat(fds[1], &st1); err != nil {
		b.Fatal(err)
	}
	leader := startGroup(b, held).Process.Pid
	if pid := waitOwner(b, leader, st0.Ino, leader); pid != leader {
		b.Fatalf("child does not hold the socket: %d", pid)
	}
	for _, bb := range []struct {
		name  string
		inode uint64
		want  int
	}{
		{"leader", st0.Ino, leader},
		{"nobody", st1.Ino, 0},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if pid, err := SocketOwner(leader, bb.inode); err != nil || pid != bb.want {
					b.Fatalf("got %d, %v; want %d", pid, err, bb.want)
				}
			}
		})
	}
}
