package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Layouts from linux/inet_diag.h and linux/unix_diag.h, which x/sys/unix
// does not carry. Multi-byte fields are in host order except ports and
// addresses, which are in network order.
const (
	// struct inet_diag_sockid: sport, dport (be16), src[4], dst[4]
	// (be32), if (u32), cookie[2] (u32).
	sizeofInetDiagSockID = 48
	// struct inet_diag_req_v2: family, protocol, ext, pad (u8),
	// states (u32), id.
	sizeofInetDiagReqV2 = 8 + sizeofInetDiagSockID
	// struct inet_diag_msg: family, state, timer, retrans (u8), id,
	// expires, rqueue, wqueue, uid, inode (u32).
	sizeofInetDiagMsg = 4 + sizeofInetDiagSockID + 20

	// struct unix_diag_req: family, protocol (u8), pad (u16), states,
	// ino, show, cookie[2] (u32).
	sizeofUnixDiagReq = 24
	// struct unix_diag_msg: family, type, state, pad (u8), ino,
	// cookie[2] (u32).
	sizeofUnixDiagMsg = 16

	udiagShowPeer    = 0x4 // UDIAG_SHOW_PEER
	unixDiagPeer     = 2   // UNIX_DIAG_PEER
	unixDiagShutdown = 6   // UNIX_DIAG_SHUTDOWN
	shutdownMask     = 3   // RCV_SHUTDOWN|SEND_SHUTDOWN in sk_shutdown

	noCookie = ^uint32(0) // INET_DIAG_NOCOOKIE

	// recvTimeout bounds every wait for the kernel's answer.
	recvTimeout = time.Second
)

// TCP states as sock_diag and /proc/net/tcp report them
// (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpSynRecv     = 3
	tcpCloseWait   = 8
	tcpListen      = 10
	tcpNewSynRecv  = 12
)

// errUnavailable marks a sock_diag that cannot answer at all (no netlink
// family, no handler for the protocol, not allowed): the caller may fall
// back to /proc.
var errUnavailable = errors.New("sock_diag unavailable")

// unavailable reports whether err from socket(2) or from the kernel's
// answer means sock_diag cannot be used here.
func unavailable(err error) bool {
	return errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.EACCES) || errors.Is(err, unix.ESOCKTNOSUPPORT)
}

// query sends one SOCK_DIAG_BY_FAMILY request (NLM_F_REQUEST, no dump)
// with the given payload and returns the payload of the kernel's single
// answer. A negative answer comes back as the kernel's errno
// (unix.ENOENT: no such socket); an answer that cannot come at all as an
// error wrapping errUnavailable.
func query(req []byte) ([]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		if unavailable(err) {
			return nil, fmt.Errorf("%w: socket: %w", errUnavailable, err)
		}
		return nil, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(recvTimeout))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("sock_diag SO_RCVTIMEO: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("sock_diag SO_SNDTIMEO: %w", err)
	}

	const seq = 1 // one request per socket: any sequence number does
	msg := make([]byte, unix.NLMSG_HDRLEN+len(req))
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(msg[6:8], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:12], seq)
	// nlmsg_pid 0: the kernel fills in our port id.
	copy(msg[unix.NLMSG_HDRLEN:], req)
	for {
		err = unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sock_diag send: %w", err)
	}

	// An exact answer is one message (a few hundred bytes at most), or
	// an NLMSG_ERROR. Anything else (another sequence number) is
	// skipped. Each receive waits at most recvTimeout, and no receive
	// starts after recvTimeout has passed.
	buf := make([]byte, 8192)
	deadline := time.Now().Add(recvTimeout)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("sock_diag: no answer within %v", recvTimeout)
		}
		if err != nil {
			return nil, fmt.Errorf("sock_diag receive: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return nil, fmt.Errorf("sock_diag: malformed answer (length %d of %d)", l, len(b))
			}
			typ := binary.NativeEndian.Uint16(b[4:6])
			mseq := binary.NativeEndian.Uint32(b[8:12])
			body := b[unix.NLMSG_HDRLEN:l]
			if a := nlmsgAlign(l); a < len(b) {
				b = b[a:]
			} else {
				b = nil
			}
			if mseq != seq {
				continue
			}
			switch typ {
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return nil, errors.New("sock_diag: short error answer")
				}
				errno := -int32(binary.NativeEndian.Uint32(body[0:4]))
				if errno == 0 {
					continue // an acknowledgement; we asked for none
				}
				e := unix.Errno(errno)
				if unavailable(e) {
					return nil, fmt.Errorf("%w: %w", errUnavailable, e)
				}
				return nil, e
			case unix.NLMSG_DONE:
				return nil, unix.ENOENT
			case unix.SOCK_DIAG_BY_FAMILY:
				return body, nil
			}
		}
	}
	return nil, fmt.Errorf("sock_diag: no answer within %v", recvTimeout)
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// attrs calls fn for each netlink attribute (struct nlattr: len, type
// u16, then the value, padded to 4 bytes) in b.
func attrs(b []byte, fn func(typ uint16, val []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:4])&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), b[4:l])
		a := (l + unix.NLA_ALIGNTO - 1) &^ (unix.NLA_ALIGNTO - 1)
		if a >= len(b) {
			return
		}
		b = b[a:]
	}
}
