// Package sockets binds and holds the listening sockets dewy passes to every
// generation of an app, so that a graceful restart never closes a port.
//
// Bind opens each configured address once (TCP v4, TCP v6 and unix sockets)
// and the resulting Set stays open for the agent's whole life. For each child
// process the Set hands out fresh duplicates (Files) to put in
// exec.Cmd.ExtraFiles, and Env builds the variables that tell the child
// which descriptor is which, in both protocols apps understand:
// Server::Starter's SERVER_STARTER_PORT and systemd's LISTEN_FDS /
// LISTEN_FDNAMES. LISTEN_PID cannot be known before fork; the proc package's
// shim sets it in the child.
//
// The held sockets stay non-blocking. O_NONBLOCK is a property of the open
// file description, which the agent and every running generation share, so
// one descriptor put into blocking mode (which (*net.TCPListener).File and
// (*os.File).Fd do) would make a running Go worker block in accept() and
// never drain. This package therefore duplicates descriptors only through
// SyscallConn().Control and never calls Fd on them; a test checks the flag.
// A consequence for apps: the sockets they receive are non-blocking, like
// systemd's NonBlocking=yes. Go, Node, nginx and most event loops expect
// that; an app doing blocking accept() must handle EAGAIN (or clear the flag,
// which then affects the other generation too).
//
// dewy never accepts on a held socket, so it keeps each as a plain
// descriptor outside Go's network poller: a client connecting wakes only
// the generations that accept, never dewy (a test checks that no epoll
// instance of the process watches a held socket). A Socket can be shared
// by two Sets: after a reload an address passes from one app to another
// without being closed (Key matches addresses across plans).
//
// This package does not accept connections, probe readiness or start
// processes; it only owns the sockets.
package sockets
