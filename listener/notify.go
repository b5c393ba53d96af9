package listener

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// Notify sends state to the supervisor's NOTIFY_SOCKET, like sd_notify(3):
// "READY=1" once the app serves, "STOPPING=1" when it begins to drain,
// "STATUS=..." for a line the supervisor may show. Several assignments may be
// joined with newlines. With NOTIFY_SOCKET unset, Notify does nothing and
// returns nil, so the app runs the same outside dewy and systemd.
//
// dewy gives each generation a notify socket of its own and checks the
// sender's credentials, so READY=1 from this process proves that this
// generation, not the old one, is ready. Send it only when the app is truly
// able to serve.
func Notify(state string) error { return NotifySocket(os.Getenv(EnvNotifySocket), state) }

// NotifySocket sends state to socket (a NOTIFY_SOCKET value); "" does
// nothing. dewy itself uses it to talk to systemd.
func NotifySocket(socket, state string) error {
	if socket == "" {
		return nil
	}
	if state == "" {
		return fmt.Errorf("listener: notify: empty state")
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return &EnvError{Var: EnvNotifySocket, Value: socket, Reason: "is neither an absolute path nor an abstract socket ('@name')"}
	}
	// net maps a leading '@' to Linux's abstract namespace.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("listener: notify %s=%q: %w", EnvNotifySocket, socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("listener: notify %s=%q: %w", EnvNotifySocket, socket, err)
	}
	return nil
}
