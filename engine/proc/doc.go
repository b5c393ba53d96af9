// Package proc starts, signals and reaps dewy's child processes, and owns
// where their output goes.
//
// # Starting
//
// A Spawner starts every child from one long-lived goroutine that holds
// runtime.LockOSThread for its whole life. That matters because the
// parent-death signal (PR_SET_PDEATHSIG, set here to SIGKILL) fires when the
// *thread* that forked the child exits, not the process (golang/go#27505):
// a child forked from an ordinary goroutine dies whenever the Go runtime
// retires that thread. Every child gets its own process group (Setpgid), so
// a stop signal reaches everything the app started that stayed in the
// group.
//
// When Spawner.Run returns, its locked thread exits and the kernel sends
// SIGKILL to every child it started that still runs. Stop the supervisors
// (which stop the apps gracefully) before cancelling the Spawner.
//
// # The shim and LISTEN_PID
//
// systemd socket activation requires LISTEN_PID to be the child's own pid,
// which os/exec cannot know before fork. With a shim configured (dewy passes
// os.Executable()), a child is started as the shim executable with the app's
// argv and the marker DEWY_SHIM=1. MaybeRunShim, called first thing by main
// (and by TestMain in tests), sees the marker, removes it, sets LISTEN_PID to
// its own pid when LISTEN_FDS is set, resolves the command with
// exec.LookPath in the app's PATH and execs it, keeping the pid. It exits 127
// with a message on stderr when it cannot.
//
// The shim execs from the main thread: this package's init locks the main
// goroutine to it when the marker is present. The kernel keeps the
// parent-death signal per thread, and only the thread that was forked has
// it (threads the Go runtime creates later start without one); an execve
// from another thread turns that thread into the whole new process, without
// the signal, and the app would no longer die with dewy.
//
// # Reaping
//
// SetSubreaper makes dewy the reaper of its descendants, so an app's child
// whose parent exits is reparented to dewy rather than to init. With
// SpawnerOptions.ReapOrphans, the Spawner's goroutine reaps those: on a
// timer, and whenever one of its children exits, it lists dewy's children
// (/proc/self/task/*/children) and calls wait4(pid, WNOHANG) on each one it did
// not start itself. It never waits on -1 and never waits on a pid it started,
// whose status belongs to os/exec's Wait. The one rule this imposes:
// with ReapOrphans on, every child of the dewy process must be started
// through a Spawner, or its exit status may be taken by the reaper. A
// waitid(P_ALL, WNOWAIT) peek was considered and rejected: it keeps
// returning the same zombie until os/exec reaps it, which turns the reaper
// into a busy loop, and it cannot tell an orphan from a foreign child either.
//
// # Output
//
// A child's stdout and stderr either go to files the caller passes (dewy's
// own, for journald) or to a Log: a file with size-based rotation (f -> f.1
// -> f.2 ..., Keep files kept) that can be reopened for logrotate. A Log is
// fed through a pipe copied by a goroutine owned by the Process; it ends at
// EOF, or shortly after the process exits if a straggler still holds the
// pipe.
//
// This package does not decide when to restart anything, and it does not
// bind sockets; see the supervisor and sockets packages.
package proc
