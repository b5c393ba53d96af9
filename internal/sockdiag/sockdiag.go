package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

var (
	// ErrNotFound means there is no server end of the connection: no
	// socket with that address pair, or only the remains of a closed one
	// (an orphan in FIN_WAIT or LAST_ACK, a TIME_WAIT), which no process
	// holds any more. For unix sockets: the peer was closed.
	ErrNotFound = errors.New("sockdiag: no server end of the connection")
	// ErrNotAccepted means the server end exists but no process holds
	// it yet: the connection waits in the listener's accept queue
	// (states SYN_RECV, ESTABLISHED or, when the client already closed,
	// CLOSE_WAIT, with inode 0).
	ErrNotAccepted = errors.New("sockdiag: connection not accepted yet")
)

// TCPServerInode returns the inode of the server end of the loopback TCP
// connection client: the socket whose local address is client's remote
// address and whose remote address is client's local address. client
// must be a TCP connection (a *net.TCPConn, or anything whose LocalAddr
// and RemoteAddr are *net.TCPAddr); it need not be open any more, only
// its addresses are used.
//
// It returns ErrNotAccepted while the connection waits in the accept
// queue and ErrNotFound when there is no server end, or only a closed
// one. The inode names the holder through /proc/<pid>/fd/* links
// "socket:[inode]" (see procfs.SocketOwner).
func TCPServerInode(client net.Conn) (uint64, error) {
	if client == nil {
		return 0, errors.New("sockdiag: nil connection")
	}
	la, ok1 := client.LocalAddr().(*net.TCPAddr)
	ra, ok2 := client.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 || la == nil || ra == nil {
		return 0, fmt.Errorf("sockdiag: not a TCP connection: %v -> %v", client.LocalAddr(), client.RemoteAddr())
	}
	return TCPServerInodeAddr(la.AddrPort(), ra.AddrPort())
}

// TCPServerInodeAddr is TCPServerInode for the client's addresses: local
// is the client's own address, remote the one it connected to. IPv4,
// IPv6 and IPv4-mapped IPv6 addresses (as Go reports some IPv4 ones) are
// accepted; a server listening dual-stack on [::] is found for an IPv4
// client too.
func TCPServerInodeAddr(local, remote netip.AddrPort) (uint64, error) {
	// The server end's own (local) address is our remote one.
	server := netip.AddrPortFrom(remote.Addr().Unmap().WithZone(""), remote.Port())
	peer := netip.AddrPortFrom(local.Addr().Unmap().WithZone(""), local.Port())
	if !server.IsValid() || !peer.IsValid() || server.Port() == 0 || peer.Port() == 0 {
		return 0, fmt.Errorf("sockdiag: incomplete address pair %v -> %v", local, remote)
	}
	if server.Addr().Is4() != peer.Addr().Is4() {
		return 0, fmt.Errorf("sockdiag: mixed address families %v -> %v", local, remote)
	}

	s, err := diagTCP(server, peer)
	if err == nil && s.state == tcpListen {
		// The listener answers when no connection matches (see
		// tcpSock.result). The kernel may also have been caught in
		// the instant it swaps a request socket for the full one in
		// its hash chain (lockless lookups can miss both): ask once
		// more.
		s, err = diagTCP(server, peer)
	}
	switch {
	case err == nil:
		return s.result(server, peer)
	case errors.Is(err, unix.ENOENT):
		// Either there is no such socket, or nobody in the kernel
		// answers for TCP (sock_diag without inet_diag/tcp_diag says
		// ENOENT too). Our own end of the connection tells the two
		// apart: if the kernel finds that, it would have found the
		// server end.
		if _, err2 := diagTCP(peer, server); err2 == nil {
			return 0, fmt.Errorf("%w: %v -> %v", ErrNotFound, peer, server)
		}
	case errors.Is(err, errUnavailable):
	default:
		return 0, fmt.Errorf("sockdiag: %v -> %v: %w", peer, server, err)
	}

	// No sock_diag: read /proc/net/tcp{,6}.
	files := []string{"/proc/net/tcp6"}
	if server.Addr().Is4() {
		files = []string{"/proc/net/tcp", "/proc/net/tcp6"}
	}
	s, err = procLookup(files, server, peer)
	if err != nil {
		return 0, err
	}
	return s.result(server, peer)
}

// tcpSock is what both sock_diag and /proc/net/tcp tell of a socket.
type tcpSock struct {
	state         uint8
	local, remote netip.AddrPort // unmapped
	inode         uint64
}

// result turns a socket found for the pair server (its local address)
// and peer (its remote one) into TCPServerInode's answer.
func (s tcpSock) result(server, peer netip.AddrPort) (uint64, error) {
	// The kernel's exact lookup falls back to the listener when no
	// connection matches, as an incoming packet would: a listener, or
	// anything else not matching exactly, is no answer.
	if s.state == tcpListen || s.local != server || s.remote != peer {
		return 0, fmt.Errorf("%w: %v -> %v", ErrNotFound, peer, server)
	}
	if s.inode != 0 {
		return s.inode, nil
	}
	switch s.state {
	case tcpEstablished, tcpSynRecv, tcpNewSynRecv, tcpCloseWait:
		return 0, fmt.Errorf("%w: %v -> %v", ErrNotAccepted, peer, server)
	}
	// FIN_WAIT1/2, CLOSING, LAST_ACK, TIME_WAIT, CLOSE with no inode:
	// accepted once, then closed.
	return 0, fmt.Errorf("%w: %v -> %v: server end closed (state %d)", ErrNotFound, peer, server, s.state)
}

// diagTCP asks sock_diag for the TCP socket with local address local and
// remote address remote. IPv4 pairs are asked as AF_INET: the kernel looks
// them up in the established hash that IPv4 and IPv6 sockets share, so a
// dual-stack server's AF_INET6 socket is found too (and answered as
// AF_INET6 with v4-mapped addresses). Should an old kernel not find it
// so, the pair is asked again as AF_INET6, v4-mapped.
func diagTCP(local, remote netip.AddrPort) (tcpSock, error) {
	if local.Addr().Is4() {
		s, err := diagTCPFamily(unix.AF_INET, local, remote)
		if !errors.Is(err, unix.ENOENT) {
			return s, err
		}
	}
	return diagTCPFamily(unix.AF_INET6, local, remote)
}

func diagTCPFamily(family uint8, local, remote netip.AddrPort) (tcpSock, error) {
	req := make([]byte, sizeofInetDiagReqV2)
	req[0] = family
	req[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[4:8], ^uint32(0)) // all states; an exact lookup ignores them
	putSockID(req[8:], family, local, remote)
	body, err := query(req)
	if err != nil {
		return tcpSock{}, err
	}
	if len(body) < sizeofInetDiagMsg {
		return tcpSock{}, fmt.Errorf("sockdiag: short inet_diag_msg (%d bytes)", len(body))
	}
	return parseInetDiagMsg(body), nil
}

// putSockID encodes struct inet_diag_sockid with no interface and no
// cookie (INET_DIAG_NOCOOKIE).
func putSockID(b []byte, family uint8, local, remote netip.AddrPort) {
	binary.BigEndian.PutUint16(b[0:2], local.Port())
	binary.BigEndian.PutUint16(b[2:4], remote.Port())
	putAddr(b[4:20], family, local.Addr())
	putAddr(b[20:36], family, remote.Addr())
	binary.NativeEndian.PutUint32(b[36:40], 0)
	binary.NativeEndian.PutUint32(b[40:44], noCookie)
	binary.NativeEndian.PutUint32(b[44:48], noCookie)
}

func putAddr(b []byte, family uint8, a netip.Addr) {
	if family == unix.AF_INET {
		a4 := a.Unmap().As4()
		copy(b, a4[:])
		return
	}
	a16 := a.As16() // v4-mapped for an IPv4 address
	copy(b, a16[:])
}

func parseInetDiagMsg(b []byte) tcpSock {
	family := b[0]
	id := b[4 : 4+sizeofInetDiagSockID]
	return tcpSock{
		state:  b[1],
		local:  netip.AddrPortFrom(getAddr(id[4:20], family), binary.BigEndian.Uint16(id[0:2])),
		remote: netip.AddrPortFrom(getAddr(id[20:36], family), binary.BigEndian.Uint16(id[2:4])),
		inode:  uint64(binary.NativeEndian.Uint32(b[4+sizeofInetDiagSockID+16:])),
	}
}

func getAddr(b []byte, family uint8) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[0:4]))
	}
	return netip.AddrFrom16([16]byte(b[0:16])).Unmap()
}

// UnixServerInode returns the inode of the peer of client, a connected
// unix stream (or seqpacket) socket: the socket a server accepted. It
// finds client's own inode with fstat on its descriptor and asks
// unix_diag for that socket's peer.
//
// It returns ErrNotAccepted while the connection waits in the accept
// queue (the kernel reports the peer of such a connection with inode 0:
// it gets one only when accepted), and ErrNotFound when the peer has been
// closed or client is not connected. A client that shut down both
// directions itself looks like one whose peer was closed.
//
// unix_diag finds a socket by inode by walking the namespace's table of
// unix sockets, so this call is linear in their number (fast still:
// no copying to user space).
func UnixServerInode(client *net.UnixConn) (uint64, error) {
	if client == nil {
		return 0, errors.New("sockdiag: nil connection")
	}
	rc, err := client.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("sockdiag: %w", err)
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		return 0, fmt.Errorf("sockdiag: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("sockdiag: fstat: %w", serr)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Ino == 0 || st.Ino > math.MaxUint32 {
		return 0, fmt.Errorf("sockdiag: descriptor is no socket (mode %o, inode %d)", st.Mode, st.Ino)
	}
	own := uint32(st.Ino)

	req := make([]byte, sizeofUnixDiagReq)
	req[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(req[4:8], ^uint32(0)) // states; an exact lookup ignores them
	binary.NativeEndian.PutUint32(req[8:12], own)
	binary.NativeEndian.PutUint32(req[12:16], udiagShowPeer)
	binary.NativeEndian.PutUint32(req[16:20], noCookie)
	binary.NativeEndian.PutUint32(req[20:24], noCookie)
	body, err := query(req)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, errUnavailable) {
		// Our own socket exists: a kernel that does not find it
		// cannot look at unix sockets.
		return 0, fmt.Errorf("sockdiag: unix_diag cannot see socket %d: %w (%w)", own, errors.ErrUnsupported, err)
	}
	if err != nil {
		return 0, fmt.Errorf("sockdiag: unix socket %d: %w", own, err)
	}
	peer, ok, err := parseUnixDiagMsg(body, own)
	if err != nil {
		return 0, err
	}
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: unix socket %d is not connected", ErrNotFound, own)
	case peer != 0:
		return peer, nil
	case peerClosed(body):
		return 0, fmt.Errorf("%w: the peer of unix socket %d was closed", ErrNotFound, own)
	}
	return 0, fmt.Errorf("%w: the peer of unix socket %d", ErrNotAccepted, own)
}

// parseUnixDiagMsg reads struct unix_diag_msg and its UNIX_DIAG_PEER
// attribute (ok: there is one).
func parseUnixDiagMsg(b []byte, own uint32) (peer uint64, ok bool, err error) {
	if len(b) < sizeofUnixDiagMsg {
		return 0, false, fmt.Errorf("sockdiag: short unix_diag_msg (%d bytes)", len(b))
	}
	if ino := binary.NativeEndian.Uint32(b[4:8]); ino != own {
		return 0, false, fmt.Errorf("sockdiag: asked for unix socket %d, told of %d", own, ino)
	}
	if typ := b[1]; typ != unix.SOCK_STREAM && typ != unix.SOCK_SEQPACKET {
		return 0, false, fmt.Errorf("sockdiag: unix socket %d is of type %d, not a stream", own, typ)
	}
	attrs(b[sizeofUnixDiagMsg:], func(typ uint16, val []byte) {
		if typ == unixDiagPeer && len(val) >= 4 {
			peer, ok = uint64(binary.NativeEndian.Uint32(val)), true
		}
	})
	return peer, ok, nil
}

// peerClosed reports whether the socket described by the unix_diag_msg b
// is shut down both ways, as closing its peer leaves it.
func peerClosed(b []byte) bool {
	closed := false
	attrs(b[sizeofUnixDiagMsg:], func(typ uint16, val []byte) {
		if typ == unixDiagShutdown && len(val) >= 1 {
			closed = val[0]&shutdownMask == shutdownMask
		}
	})
	return closed
}
