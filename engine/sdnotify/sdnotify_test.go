package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
)

func TestSendReachesTheSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n := New(path)
	if err := n.Send("READY=1\nSTATUS=up"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	k, err := ln.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); got != "READY=1\nSTATUS=up" {
		t.Errorf("got %q", got)
	}
}

func TestNilNotifierDoesNothing(t *testing.T) {
	var n *Notifier = New("")
	if err := n.Send("READY=1"); err != nil {
		t.Error(err)
	}
}
