// Package procfs reads the few facts dewy needs about processes from
// Linux's /proc: state, parent and process group. The supervisor uses it
// to tell a live process from a zombie, and tests use it to check that no
// app process is left behind.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat is the part of /proc/<pid>/stat dewy reads.
type Stat struct {
	PID  int
	PPID int
	PGRP int
	// State is R, S, D, Z (zombie), T, X, ...
	State byte
	// StartTime is when the process started, in clock ticks after boot:
	// with PID it names one process for good (a reused pid has another).
	StartTime uint64
}

// Zombie reports whether the process has exited and waits to be reaped
// (or is being torn down).
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// Read returns the stat of one process.
func Read(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parse(pid, b)
}

func parse(pid int, b []byte) (Stat, error) {
	// The command may contain spaces and parentheses: fields start after
	// the last ')'. Then: state ppid pgrp ...
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: bad ppid or pgrp", pid)
	}
	st := Stat{PID: pid, PPID: ppid, PGRP: pgrp, State: f[0][0]}
	// starttime is field 22 of stat(5); f[0] is field 3.
	if len(f) > 19 {
		st.StartTime, _ = strconv.ParseUint(f[19], 10, 64)
	}
	return st, nil
}

// Scan calls fn for every process it can read, until fn returns false.
// It returns an error only when /proc itself cannot be listed.
func Scan(fn func(Stat) bool) error {
	d, err := os.Open("/proc")
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		s, err := Read(pid)
		if err != nil {
			continue // gone meanwhile
		}
		if !fn(s) {
			return nil
		}
	}
	return nil
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	s, err := Read(pid)
	return err == nil && !s.Zombie()
}

// Children counts the live and zombie children of pid.
func Children(pid int) (live, zombies int) {
	_ = Scan(func(s Stat) bool {
		if s.PPID == pid {
			if s.Zombie() {
				zombies++
			} else {
				live++
			}
		}
		return true
	})
	return live, zombies
}

// FDCount returns how many descriptors pid has open, or -1.
func FDCount(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// Environ returns the environment pid was started with (as execve gave
// it: a later setenv in the process does not show), or an error when it
// cannot be read (another user's process without privilege, gone).
func Environ(pid int) ([]byte, error) {
	return os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
}

// EnvValue returns the value of key in environ, a NUL-separated block
// as Environ returns it.
func EnvValue(environ []byte, key string) (string, bool) {
	for len(environ) > 0 {
		kv := environ
		if i := bytes.IndexByte(environ, 0); i >= 0 {
			kv, environ = environ[:i], environ[i+1:]
		} else {
			environ = nil
		}
		if len(kv) > len(key) && kv[len(key)] == '=' && string(kv[:len(key)]) == key {
			return string(kv[len(key)+1:]), true
		}
	}
	return "", false
}
