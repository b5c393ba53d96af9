package listener

import (
	"net"
	"testing"
)

func TestMatches(t *testing.T) {
	v4 := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 8080}
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}
	v6 := &net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080}
	sock := &net.UnixAddr{Name: "/run/app.sock", Net: "unix"}
	tests := []struct {
		network, addr, name string
		la                  net.Addr
		want                bool
	}{
		{"tcp", "127.0.0.1:8080", "x", v4, true},
		{"tcp4", "127.0.0.1:8080", "x", v4, true},
		{"tcp6", "127.0.0.1:8080", "x", v4, false},
		{"tcp", "127.0.0.1:8081", "x", v4, false},
		{"tcp", "127.0.0.2:8080", "x", v4, false},
		{"tcp", "localhost:8080", "x", v4, true},
		{"tcp", "localhost:8080", "x", v6, true},
		{"tcp", ":8080", "x", any4, true},
		{"tcp", ":8080", "x", any6, true},
		{"tcp", "0.0.0.0:8080", "x", any6, true},
		{"tcp", "[::]:8080", "x", any4, true},
		{"tcp", ":8080", "x", v4, false},
		{"tcp", "[::1]:8080", "x", v6, true},
		{"tcp6", "[::1]:8080", "x", v6, true},
		{"tcp4", "[::1]:8080", "x", v6, false},
		{"tcp", "127.0.0.1:0", "x", v4, false},            // port 0 asks for a fresh port
		{"tcp", "example.com:8080", "x", any4, false},     // no DNS
		{"tcp", "web", "web", v4, true},                   // a LISTEN_FDNAMES name
		{"tcp", "0.0.0.0:8080", "0.0.0.0:8080", v4, true}, // a SERVER_STARTER_PORT address, exactly
		{"tcp", "/run/app.sock", "x", sock, false},
		{"unix", "/run/app.sock", "x", sock, true},
		{"unix", "/run/other.sock", "x", sock, false},
		{"unix", "api", "api", sock, true},
		{"unix", "/run/app.sock", "x", v4, false},
		{"udp", "127.0.0.1:8080", "x", v4, false},
		{"tcp", "garbage", "x", v4, false},
	}
	for _, tt := range tests {
		if got := matches(tt.network, tt.addr, tt.name, tt.la); got != tt.want {
			t.Errorf("matches(%q, %q, name %q, bound %v) = %v, want %v", tt.network, tt.addr, tt.name, tt.la, got, tt.want)
		}
	}
}
