package testutil

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// SocketInode returns the inode of c's socket, by fstat on its descriptor
// through SyscallConn (never Fd, which would make it blocking).
func SocketInode(t testing.TB, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}
