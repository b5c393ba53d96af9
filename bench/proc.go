package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for user space on every architecture Go supports.
const userHZ = 100

// readRSS returns VmRSS of pid in KiB.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// readCPU returns utime+stime of pid.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. Field 3 (state) is then index 0, utime (14) index 11.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed /proc stat times")
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// procState returns the state letter of pid and its command line, or ok
// false when no such process exists.
func procState(pid int) (state byte, cmdline string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, "", false
	}
	c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return b[i+2], string(bytes.ReplaceAll(c, []byte{0}, []byte{' '})), true
}

// leftover reports whether pid is still a live process running something
// from dir (a zombie or a reused pid running something else does not count).
func leftover(pid int, dir string) bool {
	st, cmd, ok := procState(pid)
	return ok && st != 'Z' && st != 'X' && strings.Contains(cmd, dir)
}

// waitGone polls until none of pids is a leftover, up to d; it returns the
// ones still running, after killing their process groups.
func waitGone(pids []int, dir string, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		var left []int
		for _, p := range pids {
			if leftover(p, dir) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, p := range left {
				_ = syscall.Kill(-p, syscall.SIGKILL)
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rssSampler samples a process's RSS until stopped.
type rssSampler struct {
	stopc       chan struct{}
	wg          sync.WaitGroup
	peak, sum   int64
	n           int
	mu          sync.Mutex
	lastErr     error
	interval    time.Duration
	pid         int
	stoppedOnce sync.Once
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stopc: make(chan struct{}), interval: every, pid: pid}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.sample()
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	})
	return s
}

func (s *rssSampler) sample() {
	kb, err := readRSS(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return
	}
	s.peak = max(s.peak, kb)
	s.sum += kb
	s.n++
}

// stop ends the sampling and returns the peak and mean RSS in KiB.
func (s *rssSampler) stop() (peak, mean int64, n int) {
	s.stoppedOnce.Do(func() { close(s.stopc) })
	s.wg.Wait()
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		mean = s.sum / int64(s.n)
	}
	return s.peak, mean, s.n
}

// ctxSwitches are the context switches of each thread of a process, from
// /proc/<pid>/task/<tid>/status: voluntary (the thread blocked and was
// woken again) and nonvoluntary (it was preempted).
type ctxSwitches map[int][2]int64

// readCtxSwitches reads the context switches of every thread of pid. A
// thread that exits between the listing and the read is left out.
func readCtxSwitches(pid int) (ctxSwitches, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := ctxSwitches{}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name() + "/status")
		if err != nil {
			continue // exited meanwhile
		}
		var v [2]int64
		var seen int
		for line := range strings.Lines(string(b)) {
			for i, key := range [2]string{"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"} {
				if s, ok := strings.CutPrefix(line, key); ok {
					n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
					if err != nil {
						return nil, fmt.Errorf("%s/%s/status: %q: %w", dir, e.Name(), line, err)
					}
					v[i] = n
					seen++
				}
			}
		}
		if seen != 2 {
			return nil, fmt.Errorf("%s/%s/status: no context switch counts", dir, e.Name())
		}
		out[tid] = v
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no thread could be read", dir)
	}
	return out, nil
}

// since returns the context switches from before to c: for the threads in
// both, the difference; for threads started meanwhile, all of theirs. The
// switches of threads that exited meanwhile are lost (/proc keeps them for
// the process only in getrusage, which another process cannot read); exited
// counts those threads.
func (c ctxSwitches) since(before ctxSwitches) (vol, nonvol int64, exited int) {
	for tid, v := range c {
		b := before[tid] // zero for a new thread
		if v[0] < b[0] || v[1] < b[1] {
			b = [2]int64{} // the tid was reused by a new thread
			exited++
		}
		vol += v[0] - b[0]
		nonvol += v[1] - b[1]
	}
	for tid := range before {
		if _, ok := c[tid]; !ok {
			exited++
		}
	}
	return vol, nonvol, exited
}
