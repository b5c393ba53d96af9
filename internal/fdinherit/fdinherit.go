// Package fdinherit keeps the descriptors dewy inherited from whoever
// started it from leaking into the apps it starts.
//
// Go opens every descriptor of its own close-on-exec, but a descriptor
// dewy was handed open at exec (a shell's redirection, a parent's leaked
// pipe or lock file) stays inheritable, and every app, hook and shim dewy
// spawns would hold it for as long as it runs.
package fdinherit

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/listener"
)

// CloseOnExec marks every open descriptor above 2 close-on-exec, except
// those in keep. It returns the descriptors it changed.
func CloseOnExec(keep []int) ([]int, error) {
	return closeOnExecIn("/proc/self/fd", keep)
}

func closeOnExecIn(dir string, keep []int) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list inherited descriptors: %w", err)
	}
	var changed []int
	var errs []error
	for _, ent := range ents {
		fd, err := strconv.Atoi(ent.Name())
		if err != nil || fd <= 2 || slices.Contains(keep, fd) {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if errors.Is(err, unix.EBADF) {
			continue // the directory's own descriptor, closed since
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("fd %d: F_GETFD: %w", fd, err))
			continue
		}
		if flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err != nil {
			errs = append(errs, fmt.Errorf("fd %d: F_SETFD: %w", fd, err))
			continue
		}
		changed = append(changed, fd)
	}
	return changed, errors.Join(errs...)
}

// SocketActivation returns the descriptors systemd socket activation
// handed to the process pid: 3 .. 3+LISTEN_FDS-1 when LISTEN_PID is pid,
// none otherwise.
func SocketActivation(environ []string, pid int) []int {
	var listenPid, listenFds string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case listener.EnvListenPID:
			listenPid = v
		case listener.EnvListenFDs:
			listenFds = v
		}
	}
	if p, err := strconv.Atoi(listenPid); err != nil || p != pid {
		return nil
	}
	n, err := strconv.Atoi(listenFds)
	if err != nil || n <= 0 {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = 3 + i
	}
	return out
}
