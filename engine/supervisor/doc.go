// Package supervisor runs one app: an actor that starts its generations on
// the held sockets, restarts it gracefully on request, restarts it with
// backoff when it crashes, and stops it when dewy stops.
//
// One goroutine (Run's) owns all mutable state; Restart, Signal and Kill
// send it requests with reply channels, and Status reads a snapshot it
// publishes, so Status never blocks. Every other goroutine has an owner
// that stops it and Run waits for all of them: per generation, one reports
// its exit and one waits for its readiness; per stopping generation, one
// runs proc.Process.Stop.
//
// # Graceful restart
//
// Restart starts generation N+1 beside generation N, on the same held
// sockets, with SERVER_STARTER_GENERATION, DEWY_APP and DEWY_GENERATION set
// (over dewy's environment, App.EnvFile and App.Env; inherited socket and
// notify variables are removed first, so dewy's own NOTIFY_SOCKET never
// reaches an app). It waits until N+1 is ready, and only then sends N its
// stop signal, and SIGKILL after the stop timeout. If N+1 exits or is not
// ready in time, its process group is killed, N keeps serving, and Restart
// returns an error (and EventGenerationFailed is emitted). Restart returns
// once N has exited, so at most two generations are ever alive; calls that
// arrive meanwhile are coalesced into one pending restart, whose result
// they all receive.
//
// Readiness is the new generation's own (see PRODUCT.md): a probe sent to
// a held address may be answered by the old generation, so:
//   - Ready.Notify: dewy creates a NOTIFY_SOCKET per generation (an
//     abstract unix datagram socket) and accepts READY=1 only from a sender
//     whose kernel-checked pid (SCM_CREDENTIALS) is the generation's pid.
//   - Ready.HTTP as a bare path ("/healthz"): dewy binds a fresh
//     127.0.0.1:0 listener per generation and passes it after the held
//     sockets, named "dewy-ready" in LISTEN_FDNAMES (not in
//     SERVER_STARTER_PORT), with DEWY_READY_FD and DEWY_READY_ADDR; the
//     probe goes to http://DEWY_READY_ADDR/healthz until it answers 2xx.
//   - Ready.HTTP as a full URL, or Ready.TCP: probed as given, every
//     Interval. When the probe's connection lands on a socket dewy holds
//     for the app (any host form: 127.0.0.1:P reaches a held 0.0.0.0:P),
//     the answer counts only if the process that accepted that very
//     connection is in the new generation's process group: the server side
//     is found by its 4-tuple (internal/sockdiag, NETLINK_SOCK_DIAG) and its
//     inode among the group's descriptors (internal/procfs). An answer from
//     the old generation is logged at debug and the probe is retried at
//     once (the kernel picks the accepting process per connection), a few
//     times, then at the interval. A TCP probe additionally waits until
//     someone accepted the connection, since dewy's held socket completes
//     the handshake into its backlog whatever runs.
//   - otherwise a fixed Delay.
//
// All are bounded by Ready.Timeout, and a generation is ready only while it
// is still alive. Only a generation that replaces another is killed for not
// being ready in time: a first generation (or one whose predecessor died)
// has nothing better to fall back to, so it keeps running in state
// "not-ready", EventNotReady is emitted with the contract it missed (for
// example that nothing accepted on DEWY_READY_FD), and dewy keeps checking
// it without a deadline. A restart succeeds only if the new generation is
// still alive once the old one is gone: one that dies while the old one
// drains fails the restart, and the app comes back per its restart policy.
//
// Generation numbers come from a Counter that a replacing supervisor (after
// a reload) shares with its predecessor, so no two processes of an app are
// ever given the same SERVER_STARTER_GENERATION.
//
// # Crashes
//
// When the current worker exits on its own it is restarted per the
// restart policy (always, on-failure, never), after a backoff that doubles
// from Initial to Max, spread by ±Jitter, and resets when a worker lived a
// whole Window. Burst exits within Window put the app in "crash-loop"
// (logged at error, EventCrashLoop emitted) for Cooldown. A manual Restart
// clears backoff and crash-loop and starts a worker at once. A generation
// that cannot even be started (command not found, unreadable env file) is
// retried the same way and logged as "failed to start". When an app with
// listen addresses fails soon after it starts, without ever being ready,
// the supervisor says once why that usually happens: the app binds the
// addresses itself instead of taking dewy's sockets from
// SERVER_STARTER_PORT or LISTEN_FDS.
//
// # Defaults
//
// Zero settings mean: Ready.Timeout 30s, Ready.Interval 100ms, Ready.Delay
// 1s; Stop.Signal SIGTERM, Stop.Timeout 30s; Restart.Policy "always",
// Initial 1s, Max 1m, Burst 5 (negative disables crash-loop detection),
// Window 1m, Cooldown 5m. App.Dir is the working directory.
//
// This package does not bind sockets (sockets), fork (proc), or decide
// when to restart for a deploy or a signal (the engine and actions do).
package supervisor
