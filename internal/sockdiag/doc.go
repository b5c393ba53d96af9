// Package sockdiag proves which socket, and so (with procfs.SocketOwner)
// which process, accepted a connection that dewy itself opened.
//
// dewy probes an app's readiness by connecting to an address it holds: a
// listening socket that an old and a new generation of the app share. A
// successful connect proves only that the kernel completed the handshake
// on the shared listener; it says nothing about who will accept it. This
// package takes the client end of such a loopback connection and asks the
// kernel for the inode of the server end: the socket whose local address
// is the client's remote address and whose remote address is the client's
// local address (TCP), or the client's peer (unix stream sockets). The
// inode then names the process holding it, via /proc/<pid>/fd.
//
// Lookups go through NETLINK_SOCK_DIAG with an exact request (not a
// dump), so one probe costs one netlink round trip however many sockets,
// TIME_WAIT ones included, the host has. When sock_diag is unavailable,
// TCP lookups fall back to reading /proc/net/tcp and /proc/net/tcp6,
// which is linear in the number of sockets.
//
// Two sentinels tell the interesting outcomes apart: ErrNotAccepted (the
// server end exists but no process holds it yet: it waits in the accept
// queue) and ErrNotFound (there is no server end, or only the remains of
// a closed one).
//
// What it is not: a general socket inspection library (no dumps, no
// filters, no other protocols), a way to look at connections between
// other processes or across network namespaces (the lookup runs in the
// caller's namespace and is meant for loopback connections the caller
// made), or a proof of anything beyond the instant of the lookup: a
// socket can be passed to another process or closed right after.
//
// Every call opens its own netlink socket, bounds its wait with a one
// second receive timeout and closes the socket before returning. There
// are no goroutines and no package state.
package sockdiag
