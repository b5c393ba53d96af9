// Package testapp is the app the supervisor's tests supervise: the test
// binary runs it (TestMain dispatches on EnvRun). It serves HTTP on the
// sockets it inherits, through Server::Starter's listener package or
// systemd's LISTEN_FDS, answers with its generation and pid, and can be
// told (through a behaviour file read at start) to start slowly, exit at
// once, never be ready, ignore SIGTERM, bind its address itself, or
// send READY=1 from itself or from a child.
//
// It is test code: not an example of a good app (see examples/ for that),
// though its shutdown follows the drain the style guide asks for.
package testapp
