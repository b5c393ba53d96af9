package procfs

import (
	"errors"
	"os"
	"strconv"
)

// SocketOwner returns the pid of a process of process group pgid that has
// the socket with the given inode open: one of whose /proc/<pid>/fd/*
// links reads "socket:[<inode>]". It returns 0 and no error when no
// process of the group holds it. When several do (a socket inherited
// across fork), it returns the group leader (pid pgid) if that is one of
// them, else the first in /proc order, usually the lowest pid.
//
// The leader is looked at first, reading only its descriptors; only when
// it does not hold the socket are the other processes' stat files read
// to find the group's members. Processes that exit or close descriptors
// during the scan are skipped silently, as are those whose descriptors
// cannot be read, and zombies. It returns an error only when /proc cannot
// be listed.
func SocketOwner(pgid int, inode uint64) (pid int, err error) {
	if pgid <= 0 || inode == 0 {
		return 0, errors.New("procfs: SocketOwner needs a process group and a socket inode")
	}
	target := "socket:[" + strconv.FormatUint(inode, 10) + "]"
	if s, err := Read(pgid); err == nil && s.PGRP == pgid && !s.Zombie() && holds(pgid, target) {
		return pgid, nil
	}
	err = Scan(func(s Stat) bool {
		if s.PGRP != pgid || s.PID == pgid || s.Zombie() {
			return true
		}
		if holds(s.PID, target) {
			pid = s.PID
			return false
		}
		return true
	})
	return pid, err
}

// holds reports whether one of pid's descriptors links to target.
func holds(pid int, target string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	d, err := os.Open(dir)
	if err != nil {
		return false // gone, or not ours to read
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return false
	}
	for _, n := range names {
		// Socket links are short; a failed readlink is a closed fd.
		if l, err := os.Readlink(dir + n); err == nil && l == target {
			return true
		}
	}
	return false
}
