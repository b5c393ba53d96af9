package sockdiag

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// Lines as a little-endian machine writes them.
const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D2F0 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:D2F2 06 00000000:00000000 03:00000E7B 00000000     0        0 0 3 0000000000000000
`

const procNetTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5000 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1F91 00000000000000000000000001000000:B00B 01 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 20 4 30 10 -1
   2: 0000000000000000FFFF00000100007F:1F91 0000000000000000FFFF00000100007F:B00C 08 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
   3: 000080FE0000000002FF0D0AFE5A87A3:0016 000080FE0000000002FF0D0AFE5A8704:C350 01 00000000:00000000 02:00051A2C 00000000     0        0 777 2 0000000000000000 20 4 1 10 -1
`

func TestParseProcNetLine(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		line string
		want tcpSock
		bad  bool
	}{
		{line: strings.Split(procNetTCP, "\n")[1], want: tcpSock{state: 10, local: ap("127.0.0.1:8080"), remote: ap("0.0.0.0:0"), inode: 31337}},
		{line: strings.Split(procNetTCP, "\n")[2], want: tcpSock{state: 1, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:54000"), inode: 0}},
		{line: strings.Split(procNetTCP, "\n")[4], want: tcpSock{state: 6, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:54002"), inode: 0}},
		{line: strings.Split(procNetTCP6, "\n")[1], want: tcpSock{state: 10, local: ap("[::]:8081"), remote: ap("[::]:0"), inode: 5000}},
		{line: strings.Split(procNetTCP6, "\n")[2], want: tcpSock{state: 1, local: ap("[::1]:8081"), remote: ap("[::1]:45067"), inode: 5001}},
		// v4-mapped comes back as IPv4.
		{line: strings.Split(procNetTCP6, "\n")[3], want: tcpSock{state: 8, local: ap("127.0.0.1:8081"), remote: ap("127.0.0.1:45068"), inode: 0}},
		{line: strings.Split(procNetTCP6, "\n")[4], want: tcpSock{state: 1, local: ap("[fe80::a0d:ff02:a387:5afe]:22"), remote: ap("[fe80::a0d:ff02:487:5afe]:50000"), inode: 777}},
		{line: strings.Split(procNetTCP, "\n")[0], bad: true}, // the header
		{line: "   0: 0100007F:1F90 0100007F 01 0 0 0 0 0 5", bad: true},
		{line: "   0: 0100007G:1F90 0100007F:0001 01 0 0 0 0 0 5", bad: true},
		{line: "   0: 0100007F:1F90 0100007F:0001 01 0 0 0 0 0 x", bad: true},
		{line: "   0: 0100007F:1F90", bad: true},
	}
	for _, tt := range tests {
		got, err := parseProcNetLine(tt.line)
		if (err != nil) != tt.bad {
			t.Errorf("%q: err %v, want bad %v", tt.line, err, tt.bad)
			continue
		}
		if !tt.bad && got != tt.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.line, got, tt.want)
		}
	}
}

func TestHexAddrPortRoundTrip(t *testing.T) {
	for _, s := range []string{"127.0.0.1:8080", "10.1.2.3:1", "[::1]:443", "[2001:db8::7]:65535"} {
		ap := netip.MustParseAddrPort(s)
		for _, v6 := range []bool{false, true} {
			h := hexAddrPort(ap, v6)
			got, err := parseHexAddrPort(h)
			if err != nil || got != ap {
				t.Errorf("%v (v6 %v): %q parses as %v, %v", ap, v6, h, got, err)
			}
		}
	}
	if got := hexAddrPort(netip.MustParseAddrPort("127.0.0.1:8080"), false); got != "0100007F:1F90" {
		t.Errorf("127.0.0.1:8080 as /proc/net/tcp: %q", got)
	}
}

func TestScanProcNet(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		text          string
		local, remote netip.AddrPort
		want          uint64
		wantErr       error
		found         bool
	}{
		{text: procNetTCP, local: ap("127.0.0.1:54000"), remote: ap("127.0.0.1:8080"), found: true, want: 424242},
		{text: procNetTCP, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:54000"), found: true, wantErr: ErrNotAccepted},
		{text: procNetTCP, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:54002"), found: true, wantErr: ErrNotFound}, // TIME_WAIT
		{text: procNetTCP, local: ap("127.0.0.1:8080"), remote: ap("127.0.0.1:1"), found: false},
		{text: procNetTCP6, local: ap("[::1]:8081"), remote: ap("[::1]:45067"), found: true, want: 5001},
		{text: procNetTCP6, local: ap("127.0.0.1:8081"), remote: ap("127.0.0.1:45068"), found: true, wantErr: ErrNotAccepted}, // CLOSE_WAIT
	}
	for _, tt := range tests {
		s, found, err := scanProcNet(strings.NewReader(tt.text), tt.local, tt.remote)
		if err != nil || found != tt.found {
			t.Errorf("%v -> %v: found %v, %v; want found %v", tt.remote, tt.local, found, err, tt.found)
			continue
		}
		if !found {
			continue
		}
		got, err := s.result(tt.local, tt.remote)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%v -> %v: got %d, %v; want %v", tt.remote, tt.local, got, err, tt.wantErr)
			}
		} else if err != nil || got != tt.want {
			t.Errorf("%v -> %v: got %d, %v; want %d", tt.remote, tt.local, got, err, tt.want)
		}
	}
}
