// Package listener is the app side of dewy's graceful restart: a small,
// dependency-free package that a Go app imports to take the sockets dewy
// holds for it, to tell dewy when it is ready, and to drain an http.Server
// without dropping a request.
//
// # The contract
//
// dewy binds every `listen` address of an app itself and starts each
// generation of the app with those sockets inherited from fd 3 on, described
// in two protocols at once, so apps written for either work unchanged:
//
//   - Server::Starter: SERVER_STARTER_PORT="addr=fd;addr=fd" (addr is
//     "host:port", "[v6]:port", a bare port, or a unix socket path) and
//     SERVER_STARTER_GENERATION=N;
//   - systemd socket activation: LISTEN_FDS=n, LISTEN_PID=<the app's pid>,
//     LISTEN_FDNAMES=name:name for fds 3..3+n-1.
//
// dewy may add one more socket per generation for the app's readiness
// endpoint: the last LISTEN_FDS descriptor, named "dewy-ready", absent from
// SERVER_STARTER_PORT, and announced as DEWY_READY_FD and DEWY_READY_ADDR.
// While two generations run they accept on the same held sockets, so a probe
// of a held address may be answered by the old one; a probe of the readiness
// socket can only be answered by the new one. A per-generation NOTIFY_SOCKET
// serves the same purpose for apps that prefer sd_notify's READY=1.
//
// On restart the old generation gets SIGTERM (or the configured stop signal)
// once the new one is ready, and SIGKILL after the stop timeout.
//
// # Use
//
//	lns, err := listener.Listeners()          // what dewy passed, if anything
//	if err == nil && len(lns) == 0 {
//		var ln net.Listener
//		ln, err = listener.Listen("tcp", ":8080") // running alone: bind it
//		lns = append(lns, ln)
//	}
//	if rl, ok, _ := listener.Ready(); ok {
//		go http.Serve(rl, health)             // dewy probes this generation here
//	}
//	listener.Notify("READY=1")                // no-op without NOTIFY_SOCKET
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
//	defer stop()
//	err = listener.Serve(ctx, srv, lns...)    // drains on SIGTERM
//
// # What it is not
//
// It binds, holds and passes nothing on the supervisor's side (that is dewy's
// engine), does not unset the variables it reads (children the app starts
// itself should be given an environment without them: LISTEN_PID protects
// systemd's variables, but SERVER_STARTER_PORT has no such guard), and knows
// nothing of HTTP/2 or WebSocket draining beyond what http.Server.Shutdown
// does. Linux only in practice: it relies on getsockopt SO_ACCEPTCONN and on
// abstract unix socket names.
package listener
