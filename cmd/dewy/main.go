// Command dewy is the agent and its command-line tools. This is the only
// package that reads os.Args and the environment, registers real signals
// and calls os.Exit; everything else gets them as parameters.
package main

import (
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/engine/proc"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// unset, the version comes from the build info (see versionString).
var version string

func main() {
	// dewy re-executes itself as a tiny shim in front of every app, to set
	// LISTEN_PID to the app's own pid; that must happen before anything.
	proc.MaybeRunShim()

	// zerolog's formats are process-wide: durations as seconds ("timeout":30,
	// not an unlabelled count of milliseconds), times to the millisecond.
	zerolog.DurationFieldUnit = time.Second
	zerolog.DurationFieldInteger = false
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"

	// dewy's live heap is a few MB and it is idle nearly always: collect
	// more often so its resident memory stays small after many restarts
	// (measured: 16.4 MB RSS after 30 restarts at GOGC=100, 14.7 MB after
	// 120 at 50). An operator's own GOGC still wins.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}

	// A write to a broken stderr (a log pipe whose reader died) must fail
	// with EPIPE, not kill dewy and with it every app. Notify, not Ignore:
	// an ignored SIGPIPE would be inherited across exec by the apps.
	// Nobody reads the channel: Notify drops a signal whose channel is full.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)

	bi, _ := debug.ReadBuildInfo()
	sigs := make(chan os.Signal, 64)
	chld := make(chan os.Signal, 1)
	os.Exit(runCLI(cliEnv{
		args:    os.Args[1:],
		environ: os.Environ(),
		stdin:   os.Stdin,
		stdout:  os.Stdout,
		stderr:  os.Stderr,
		signals: sigs,
		notify:  func(s ...os.Signal) { signal.Notify(sigs, s...) },
		// SIGCHLD wakes the reaper of orphaned grandchildren; one pending
		// delivery is enough, since each wake-up reaps every exited child.
		childSignals:  chld,
		watchChildren: func() { signal.Notify(chld, syscall.SIGCHLD) },
		self:          os.Executable,
		version:       versionString(version, bi),
	}))
}
