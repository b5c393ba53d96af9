package main

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/coder/websocket"

	"github.com/dewyhq/dewy/examples/apps/internal/apptest"
)

func TestMain(m *testing.M) { apptest.Main(m, run) }

func dial(t *testing.T, ctx context.Context, url string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// TestClosesClientsOnSIGTERM: SIGHUP is ignored; on SIGTERM every connected
// client receives a close frame with 1001 and the reason, every close
// handshake completes (nobody is cut off), and the app exits 0.
func TestClosesClientsOnSIGTERM(t *testing.T) {
	sockets := apptest.Hold(t, 1, false)
	notify := apptest.NewNotifier(t)
	app := apptest.Start(t, nil, sockets, notify)
	notify.Expect(t, "READY=1")

	ctx, cancel := context.WithTimeout(context.Background(), apptest.Timeout)
	defer cancel()
	url := "ws://" + sockets.Listeners[0].Addr().String() + "/ws"
	clients := []*websocket.Conn{dial(t, ctx, url), dial(t, ctx, url)}
	for i, c := range clients {
		msg := []byte{'h', 'i', byte('0' + i)}
		if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != string(msg) {
			t.Fatalf("echo = %q, %v", got, err)
		}
	}

	app.Signal(t, syscall.SIGHUP)
	app.WaitLog(t, "SIGHUP ignored")
	app.Signal(t, syscall.SIGTERM)

	for i, c := range clients {
		_, _, err := c.Read(ctx)
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("client %d: Read after SIGTERM = %v, want a close frame", i, err)
		}
		if ce.Code != websocket.StatusGoingAway || ce.Reason != "server shutting down" {
			t.Errorf("client %d: close frame %d %q, want 1001 \"server shutting down\"", i, ce.Code, ce.Reason)
		}
	}
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	line := app.WaitLog(t, "closed websocket clients")
	if !strings.Contains(line, "clients=2") || !strings.Contains(line, "cut_off=0") {
		t.Errorf("log %q, want clients=2 cut_off=0", line)
	}
}
