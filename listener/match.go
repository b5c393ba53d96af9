package listener

import (
	"net"
	"strconv"
)

// matches reports whether the inherited socket described by name (its
// SERVER_STARTER_PORT address or LISTEN_FDNAMES name) and bound at local
// address la is the one an app asking for Listen(network, addr) means.
//
// The bound address is the authority: LISTEN_FDNAMES cannot carry "host:port"
// (':' separates the names), and "0.0.0.0:8080", ":8080" and "[::]:8080" all
// mean "every interface, port 8080". An exact name match also counts, so an
// app can ask for a systemd FileDescriptorName.
func matches(network, addr, name string, la net.Addr) bool {
	switch network {
	case "unix", "unixpacket":
		ua, ok := la.(*net.UnixAddr)
		return ok && (addr == name || addr == ua.Name)
	case "tcp", "tcp4", "tcp6":
	default:
		return false
	}
	ta, ok := la.(*net.TCPAddr)
	if !ok {
		return false
	}
	is4 := ta.IP.To4() != nil
	if (network == "tcp4" && !is4) || (network == "tcp6" && is4) {
		return false
	}
	if addr == name {
		return true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		// A service name ("http"): resolve it from /etc/services, never DNS.
		p, err = net.LookupPort(network, port)
		if err != nil {
			return false
		}
	}
	if p == 0 || p != ta.Port {
		return false // port 0 asks for a fresh port, never an inherited one
	}
	switch host {
	case "", "0.0.0.0", "::":
		return ta.IP.IsUnspecified()
	case "localhost":
		return ta.IP.IsLoopback()
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.Equal(ta.IP)
}
