// Package sdnotify sends sd_notify(3) states (READY=1, RELOADING=1,
// STOPPING=1) to the service manager over the NOTIFY_SOCKET datagram
// socket, so dewy can run as a systemd Type=notify service. It does
// nothing when no socket was given.
package sdnotify

import (
	"fmt"
	"net"
	"strings"
)

// Notifier sends states to one socket. A nil *Notifier is valid and does
// nothing, so callers need no checks.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a Notifier for the NOTIFY_SOCKET value socket ("" -> nil).
// A leading '@' names an abstract socket.
func New(socket string) *Notifier {
	if socket == "" {
		return nil
	}
	name := socket
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Send sends one or more newline-separated assignments, e.g. "READY=1".
func (n *Notifier) Send(state string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", state, err)
	}
	return nil
}
