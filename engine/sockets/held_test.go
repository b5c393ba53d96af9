package sockets

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/internal/testutil"
)

// TestHeldSocketsAreOutsideThePoller: no epoll instance of this process
// watches a held socket, so a client connecting to it never wakes dewy.
// /proc/self/fdinfo of an epoll descriptor lists every watched file with
// its inode ("tfd: 7 events: 19 data: ... ino:1234 sdev:8").
func TestHeldSocketsAreOutsideThePoller(t *testing.T) {
	s := bindT(t, testAddrs(t))
	held := map[uint64]string{}
	for _, h := range s.socks {
		var st unix.Stat_t
		if err := unix.Fstat(h.fd, &st); err != nil {
			t.Fatal(err)
		}
		held[st.Ino] = h.addr.Raw
	}
	// Some traffic, as a client would make: it must not register anything.
	for _, a := range s.Addrs() {
		network, addr := a.Network(), a.String()
		if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			addr = "127.0.0.1:" + strconv.Itoa(ta.Port)
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	// A control: a listener of Go's own is in the poller, and the check sees it.
	ctl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctlIno := testutil.SocketInode(t, ctl.(*net.TCPListener))
	watched := epollWatchedInodes(t)
	if !watched[ctlIno] {
		t.Fatalf("the check does not see a Go listener (inode %d) in the poller; it cannot run here", ctlIno)
	}
	for ino, raw := range held {
		if watched[ino] {
			t.Errorf("held socket %s (inode %d) is registered in an epoll instance", raw, ino)
		}
	}
}

func epollWatchedInodes(t *testing.T) map[uint64]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		f, err := os.Open(filepath.Join("/proc/self/fdinfo", e.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			for _, field := range strings.Fields(sc.Text()) {
				if v, ok := strings.CutPrefix(field, "ino:"); ok {
					if n, err := strconv.ParseUint(v, 16, 64); err == nil {
						out[n] = true
					}
				}
			}
		}
		_ = f.Close()
	}
	return out
}

func TestReaches(t *testing.T) {
	ctx := context.Background()
	bind := func(network, addr string) *Socket {
		t.Helper()
		h, err := Listen(ctx, plan.ListenAddr{Network: network, Address: addr, Raw: addr})
		if err != nil {
			t.Skipf("cannot bind %s %s here: %v", network, addr, err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	port := func(h *Socket) uint16 { return uint16(h.Addr().(*net.TCPAddr).Port) }
	ap := func(ip string, p uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr(ip), p) }

	any4 := bind("tcp", "0.0.0.0:0")
	lo4 := bind("tcp", "127.0.0.1:0")
	type tc struct {
		name string
		h    *Socket
		dst  netip.AddrPort
		want bool
	}
	cases := []tc{
		{"wildcard v4, loopback", any4, ap("127.0.0.1", port(any4)), true},
		{"wildcard v4, other loopback", any4, ap("127.0.0.2", port(any4)), true},
		{"wildcard v4, v4-mapped", any4, ap("::ffff:127.0.0.1", port(any4)), true},
		{"wildcard v4, v6 loopback", any4, ap("::1", port(any4)), false},
		{"wildcard v4, other port", any4, ap("127.0.0.1", port(any4)+1), false},
		{"exact v4", lo4, ap("127.0.0.1", port(lo4)), true},
		{"exact v4, other ip", lo4, ap("127.0.0.2", port(lo4)), false},
	}
	if hasIPv6(t) {
		dual := bind("tcp", "[::]:0")
		v6only := bind("tcp6", "[::]:0")
		lo6 := bind("tcp", "[::1]:0")
		cases = append(cases,
			tc{"exact v6", lo6, ap("::1", port(lo6)), true},
			tc{"exact v6, v4", lo6, ap("127.0.0.1", port(lo6)), false},
			tc{"v6only wildcard, v6", v6only, ap("::1", port(v6only)), true},
			tc{"v6only wildcard, v4", v6only, ap("127.0.0.1", port(v6only)), false},
		)
		// [::] through Go's "tcp" with a literal v6 address is tcp6, which
		// Go binds v6only; whatever the kernel says is what Reaches uses.
		cases = append(cases, tc{"[::] wildcard, v6", dual, ap("::1", port(dual)), true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.h.Reaches(c.dst); got != c.want {
				t.Errorf("Reaches(%s) = %v, want %v (bound %s, v6only=%v)", c.dst, got, c.want, c.h.Addr(), c.h.v6only)
			}
			// The kernel agrees: a connection succeeds exactly when it lands.
			if c.want {
				conn, err := net.Dial("tcp", c.dst.String())
				if err != nil {
					t.Errorf("dial %s: %v", c.dst, err)
					return
				}
				_ = conn.Close()
			}
		})
	}
}
