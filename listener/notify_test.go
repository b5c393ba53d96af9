package listener

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	abstract := fmt.Sprintf("@dewy-listener-notify-%d", os.Getpid())
	for _, addr := range []string{path, abstract} {
		t.Run(addr, func(t *testing.T) {
			conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			t.Setenv(EnvNotifySocket, addr)
			if err := Notify("READY=1\nSTATUS=serving"); err != nil {
				t.Fatalf("Notify() = %v", err)
			}
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 256)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(buf[:n]); got != "READY=1\nSTATUS=serving" {
				t.Errorf("datagram = %q", got)
			}
		})
	}
}

func TestNotifyErrors(t *testing.T) {
	t.Setenv(EnvNotifySocket, "")
	if err := Notify("READY=1"); err != nil {
		t.Errorf("Notify() without NOTIFY_SOCKET = %v, want nil", err)
	}
	tests := []struct{ socket, state, want string }{
		{"relative.sock", "READY=1", `NOTIFY_SOCKET="relative.sock": is neither an absolute path`},
		{filepath.Join(t.TempDir(), "nobody-listens"), "READY=1", `notify NOTIFY_SOCKET=`},
		{"/run/x", "", "empty state"},
	}
	for _, tt := range tests {
		t.Setenv(EnvNotifySocket, tt.socket)
		if err := Notify(tt.state); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Notify(%q) with %s=%q: error = %v, want %q", tt.state, EnvNotifySocket, tt.socket, err, tt.want)
		}
	}
}
