package plan

import (
	"syscall"
	"time"
)

// The shipped settings of an app's ready, stop, restart and hooks blocks,
// declared once: the config spec documents its defaults from these
// (config/spec.go, and so the schema and `dewy validate`), the compiler
// starts from them, and Complete fills them into an App built by hand.

// DefaultReady is the ready block without attributes: wait Delay.
func DefaultReady() Ready {
	return Ready{Delay: time.Second, Timeout: 30 * time.Second, Interval: 100 * time.Millisecond}
}

// DefaultStop is the stop block without attributes.
func DefaultStop() Stop {
	return Stop{Signal: syscall.SIGTERM, Timeout: 30 * time.Second}
}

// DefaultHooks is the hooks block without attributes: no commands, and
// a hook's time limit.
func DefaultHooks() Hooks {
	return Hooks{Timeout: 5 * time.Minute}
}

// DefaultRestart is the restart block without attributes.
func DefaultRestart() RestartPolicy {
	return RestartPolicy{
		Policy: "always", Initial: time.Second, Max: time.Minute, Jitter: 0.2,
		Burst: 5, Window: time.Minute, Cooldown: 5 * time.Minute,
	}
}

// Complete returns a with every zero setting of its ready, stop,
// restart and hooks blocks set to the default. Jitter is the exception: 0 is a
// choice (no spread), kept as it is; it is only clamped to [0, 1]. A
// compiled plan is complete already; this is for apps built in code.
func (a App) Complete() App {
	r, st, p := DefaultReady(), DefaultStop(), DefaultRestart()
	setDur(&a.Ready.Timeout, r.Timeout)
	setDur(&a.Ready.Interval, r.Interval)
	setDur(&a.Ready.Delay, r.Delay)
	if a.Stop.Signal == 0 {
		a.Stop.Signal = st.Signal
	}
	setDur(&a.Stop.Timeout, st.Timeout)
	if a.Restart.Policy == "" {
		a.Restart.Policy = p.Policy
	}
	setDur(&a.Restart.Initial, p.Initial)
	setDur(&a.Restart.Max, p.Max)
	if a.Restart.Max < a.Restart.Initial {
		a.Restart.Max = a.Restart.Initial
	}
	a.Restart.Jitter = min(max(a.Restart.Jitter, 0), 1)
	if a.Restart.Burst == 0 {
		a.Restart.Burst = p.Burst
	}
	setDur(&a.Restart.Window, p.Window)
	setDur(&a.Restart.Cooldown, p.Cooldown)
	setDur(&a.Hooks.Timeout, DefaultHooks().Timeout)
	return a
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}
