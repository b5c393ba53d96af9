// Package sdnotify sends sd_notify(3) states (READY=1, RELOADING=1,
// STOPPING=1) to the service manager over the NOTIFY_SOCKET datagram
// socket, so dewy can run as a systemd Type=notify service. It does
// nothing when no socket was given. The datagram is written by
// listener.NotifySocket, the same code the apps use to tell dewy.
package sdnotify

import "github.com/dewyhq/dewy/listener"

// Notifier sends states to one socket. A nil *Notifier is valid and does
// nothing, so callers need no checks.
type Notifier struct {
	socket string
}

// New returns a Notifier for the NOTIFY_SOCKET value socket ("" -> nil).
// A leading '@' names an abstract socket.
func New(socket string) *Notifier {
	if socket == "" {
		return nil
	}
	return &Notifier{socket: socket}
}

// Send sends one or more newline-separated assignments, e.g. "READY=1".
func (n *Notifier) Send(state string) error {
	if n == nil {
		return nil
	}
	return listener.NotifySocket(n.socket, state)
}
