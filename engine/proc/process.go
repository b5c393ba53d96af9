package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/internal/procfs"
)

// ErrKilled is returned by Stop when the group had to be SIGKILLed.
var ErrKilled = errors.New("killed with SIGKILL")

// Process is a started child: the leader of its own process group.
type Process struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	spawner *Spawner
	// members finds the generation's processes that left the group; nil
	// without containment.
	members *members

	waited chan struct{} // closed when the leader has been reaped
	done   chan struct{} // closed when reaped and its output copied
	state  *os.ProcessState
	err    error
}

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Started is when Start returned.
func (p *Process) Started() time.Time { return p.started }

// Exited is closed once the process has been reaped (its output may still
// be copied for a moment).
func (p *Process) Exited() <-chan struct{} { return p.waited }

// Done is closed once the process has been reaped and its output copied;
// nothing of the Process runs after that.
func (p *Process) Done() <-chan struct{} { return p.done }

// State is the exit state; nil until Exited is closed.
func (p *Process) State() *os.ProcessState {
	select {
	case <-p.waited:
		return p.state
	default:
		return nil
	}
}

// ExitDescription says how the process ended: "exit status 1",
// "signal: killed"; "" while it runs.
func (p *Process) ExitDescription() string {
	select {
	case <-p.waited:
	default:
		return ""
	}
	if p.state != nil {
		return p.state.String()
	}
	if p.err != nil {
		return p.err.Error()
	}
	return "exited"
}

func (p *Process) wait(cp *copier, grace time.Duration) {
	err := p.cmd.Wait()
	p.state = p.cmd.ProcessState
	if p.state == nil {
		p.err = err
	}
	p.spawner.forget(p.pid)
	if p.members != nil && p.members.leaf != nil {
		p.spawner.retireLeaf(p.members.leaf)
	}
	close(p.waited)
	p.spawner.kickReaper()
	if cp != nil {
		cp.stop(grace)
	}
	close(p.done)
}

// Alive reports whether the process still runs: it has not been reaped
// and is not a zombie waiting to be.
func (p *Process) Alive() bool {
	select {
	case <-p.waited:
		return false
	default:
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and
	// may itself contain ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	switch b[i+2] {
	case 'Z', 'X', 'x':
		return false
	}
	return true
}

// Signal sends sig to the process group. It returns os.ErrProcessDone once
// the leader has been reaped. Processes of the generation outside the
// group are not signalled: Stop does that.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.waited:
		return os.ErrProcessDone
	default:
	}
	if err := unix.Kill(-p.pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return os.ErrProcessDone
		}
		return fmt.Errorf("signal %s to process group %d: %w", unix.SignalName(sig), p.pid, err)
	}
	return nil
}

// Kill sends SIGKILL to the whole process group now, also when the leader
// has already exited (to sweep processes it left in the group), and to
// every process of the generation outside it (its cgroup, its token). A
// group that no longer exists is not an error.
func (p *Process) Kill() error {
	err := unix.Kill(-p.pid, unix.SIGKILL)
	if p.members != nil {
		p.members.kill(p.pid)
	}
	p.spawner.kickReaper()
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", p.pid, err)
	}
	return nil
}

// groupGone reports whether no live process is left in the group. Zombies
// do not count: one reparented to an init that does not reap (as in some
// sandboxes and containers) would otherwise keep every stop waiting for
// its full timeout.
func (p *Process) groupGone() bool {
	if !errors.Is(unix.Kill(-p.pid, 0), unix.ESRCH) && liveInGroup(p.pid) {
		return false
	}
	return p.members == nil || p.members.gone(p.pid)
}

// liveInGroup scans /proc for a process of process group pgid that is not
// a zombie. It is only called while kill(-pgid, 0) says the group exists.
func liveInGroup(pgid int) bool {
	live := false
	if err := procfs.Scan(func(st procfs.Stat) bool {
		if st.PGRP == pgid && !st.Zombie() {
			live = true
			return false
		}
		return true
	}); err != nil {
		return true // cannot tell: assume the group still lives
	}
	return live
}

// Stop sends sig to the process group and to the generation's processes
// outside it, and waits until the leader has been reaped and every one of
// them has exited. After timeout, or when ctx ends, it sends
// SIGKILL to the group and waits for the leader. It returns nil after a
// clean stop, an error wrapping ErrKilled when SIGKILL was needed, and
// ctx.Err() when ctx ended (the group has been SIGKILLed then too, and
// Stop does not wait for the leader). A timeout of 0 kills at once.
func (p *Process) Stop(ctx context.Context, sig syscall.Signal, timeout time.Duration) error {
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	// Escaped processes get sig once each, also those forked while the
	// others stop (looked for again at each poll once the leader is gone).
	signalled := map[int]bool{}
	if p.members != nil {
		p.members.signal(p.pid, sig, signalled)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	leaderDone := false
	waited := p.waited
	for {
		if leaderDone && p.groupGone() {
			return nil
		}
		select {
		case <-waited:
			leaderDone, waited = true, nil
		case <-poll.C:
			if leaderDone {
				p.spawner.kickReaper() // stragglers may be zombies reparented to us
				if p.members != nil {
					p.members.signal(p.pid, sig, signalled)
				}
			}
		case <-deadline.C:
			_ = p.Kill()
			select {
			case <-p.waited:
			case <-ctx.Done():
				return ctx.Err()
			}
			return fmt.Errorf("process group %d did not stop within %s after %s: %w", p.pid, timeout, unix.SignalName(sig), ErrKilled)
		case <-ctx.Done():
			_ = p.Kill()
			return ctx.Err()
		}
	}
}
