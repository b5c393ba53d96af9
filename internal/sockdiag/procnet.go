package sockdiag

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// The fallback when sock_diag cannot answer: /proc/net/tcp and
// /proc/net/tcp6 list every TCP socket of the namespace, one a line:
//
//	sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
//	 0: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 123456 ...
//
// Addresses are the kernel's 32-bit words printed as host-order hex
// (127.0.0.1 is 0100007F on a little-endian machine), ports plain hex,
// the state hex, the inode decimal. Reading them is linear in the number
// of sockets.

// procLookup finds the socket whose local address is local and remote
// address remote in the first of files that lists it. Files that do not
// exist (no IPv6) are skipped.
func procLookup(files []string, local, remote netip.AddrPort) (tcpSock, error) {
	read := 0
	for _, name := range files {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return tcpSock{}, fmt.Errorf("sockdiag: %w", err)
		}
		s, ok, err := scanProcNet(f, local, remote)
		f.Close()
		if err != nil {
			return tcpSock{}, fmt.Errorf("sockdiag: %s: %w", name, err)
		}
		if ok {
			return s, nil
		}
		read++
	}
	if read == 0 {
		return tcpSock{}, fmt.Errorf("sockdiag: neither sock_diag nor any of %s available", strings.Join(files, ", "))
	}
	return tcpSock{}, fmt.Errorf("%w: %v -> %v", ErrNotFound, remote, local)
}

// scanProcNet reads a /proc/net/tcp{,6} listing for the socket local ->
// remote. Lines are compared as text first and parsed only on a match.
func scanProcNet(r io.Reader, local, remote netip.AddrPort) (tcpSock, bool, error) {
	want := [][2]string{{hexAddrPort(local, false), hexAddrPort(remote, false)}}
	if local.Addr().Is4() {
		// /proc/net/tcp6 lists an IPv4 pair v4-mapped.
		want = append(want, [2]string{hexAddrPort(local, true), hexAddrPort(remote, true)})
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		_, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		l, rest, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		r, _, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		for _, w := range want {
			if strings.EqualFold(l, w[0]) && strings.EqualFold(r, w[1]) {
				s, err := parseProcNetLine(line)
				return s, err == nil, err
			}
		}
	}
	return tcpSock{}, false, sc.Err()
}

// parseProcNetLine parses one socket line of /proc/net/tcp or tcp6.
func parseProcNetLine(line string) (tcpSock, error) {
	f := strings.Fields(line)
	if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
		return tcpSock{}, fmt.Errorf("not a socket line: %q", line)
	}
	local, err1 := parseHexAddrPort(f[1])
	remote, err2 := parseHexAddrPort(f[2])
	state, err3 := strconv.ParseUint(f[3], 16, 8)
	inode, err4 := strconv.ParseUint(f[9], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return tcpSock{}, fmt.Errorf("bad socket line %q: %w", line, err)
	}
	return tcpSock{state: uint8(state), local: local, remote: remote, inode: inode}, nil
}

// parseHexAddrPort parses "0100007F:1F90" (IPv4) or 32 hex digits and a
// port (IPv6); v4-mapped addresses come back as IPv4.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || (len(a) != 8 && len(a) != 32) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	// Each 32-bit word was printed as a host-order number: turn the
	// number back into the bytes it was in memory.
	var b [16]byte
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		addr = netip.AddrFrom16(b).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// hexAddrPort formats ap as /proc/net/tcp (v6 false, ap IPv4) or
// /proc/net/tcp6 does.
func hexAddrPort(ap netip.AddrPort, v6 bool) string {
	var b []byte
	if ap.Addr().Is4() && !v6 {
		a := ap.Addr().As4()
		b = a[:]
	} else {
		a := ap.Addr().As16()
		b = a[:]
	}
	var sb strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&sb, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	fmt.Fprintf(&sb, ":%04X", ap.Port())
	return sb.String()
}
