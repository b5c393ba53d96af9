package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sync"
	"syscall"
	"testing"

	"github.com/dewyhq/dewy/examples/apps/internal/apptest"
)

func TestMain(m *testing.M) { apptest.Main(m, run) }

// fakeDB records how each pooled connection ended. A "slow" query is held
// until release is closed, to keep a query in flight across SIGTERM.
type fakeDB struct {
	ln      net.Listener
	gotSlow chan struct{}
	release chan struct{}

	mu       sync.Mutex
	accepted int
	quits    int // sessions ended with QUIT before the socket closed
	ended    int // sessions whose socket closed
	endedCh  chan struct{}
}

func newFakeDB(t *testing.T) *fakeDB {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	db := &fakeDB{ln: ln, gotSlow: make(chan struct{}, 1), release: make(chan struct{}), endedCh: make(chan struct{}, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			db.mu.Lock()
			db.accepted++
			db.mu.Unlock()
			go db.session(c)
		}
	}()
	return db
}

func (db *fakeDB) session(c net.Conn) {
	defer c.Close()
	quit := false
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		if sc.Text() == "QUIT" {
			quit = true
			break
		}
		if sc.Text() == "slow" {
			db.gotSlow <- struct{}{}
			<-db.release
		}
		fmt.Fprintf(c, "db: %s\n", sc.Text())
	}
	if quit { // after QUIT the client must close its side: wait for EOF
		io.Copy(io.Discard, c)
	}
	db.mu.Lock()
	if quit {
		db.quits++
	}
	db.ended++
	db.mu.Unlock()
	db.endedCh <- struct{}{}
}

func (db *fakeDB) counts() (accepted, quits, ended int) {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.accepted, db.quits, db.ended
}

var client = &http.Client{Timeout: apptest.Timeout}

func query(url string) (int, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestClosesPoolAfterDrain: a query in flight when SIGTERM arrives is
// answered; only then is every pooled connection ended with QUIT and closed.
func TestClosesPoolAfterDrain(t *testing.T) {
	const size = 3
	db := newFakeDB(t)
	sockets := apptest.Hold(t, 1, false)
	notify := apptest.NewNotifier(t)
	app := apptest.Start(t, []string{"-db-addr=" + db.ln.Addr().String(), fmt.Sprintf("-pool-size=%d", size)}, sockets, notify)
	notify.Expect(t, "READY=1")

	if code, body, err := query(sockets.URL(0) + "/query?q=hello"); err != nil || code != 200 || body != "db: hello\n" {
		t.Fatalf("query = %d %q %v", code, body, err)
	}

	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		code, body, err := query(sockets.URL(0) + "/query?q=slow")
		slow <- result{code, body, err}
	}()
	<-db.gotSlow
	app.Signal(t, syscall.SIGTERM)
	app.WaitLog(t, "draining")
	notify.Expect(t, "STOPPING=1")
	// The query cannot finish before release, so the drain cannot either,
	// so the pool must still be open.
	if _, quits, ended := db.counts(); quits != 0 || ended != 0 {
		t.Fatalf("pool closed while a query was in flight: %d QUIT, %d closed", quits, ended)
	}
	close(db.release)

	if r := <-slow; r.err != nil || r.code != 200 || r.body != "db: slow\n" {
		t.Fatalf("in-flight query across SIGTERM = %d %q %v", r.code, r.body, r.err)
	}
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	for range size {
		<-db.endedCh
	}
	accepted, quits, ended := db.counts()
	if accepted != size || quits != size || ended != size {
		t.Errorf("db saw %d connections, %d ended with QUIT, %d closed; want %d each", accepted, quits, ended, size)
	}
	app.WaitLog(t, "connection pool closed", fmt.Sprintf("closed=%d", size))
}

// TestStandInDatabase runs the app alone, with its own stand-in database.
func TestStandInDatabase(t *testing.T) {
	app := apptest.Start(t, []string{"-addr=127.0.0.1:0", "-pool-size=2"}, nil, nil)
	line := app.WaitLog(t, `msg=serving`)
	m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no addr in %q", line)
	}
	addr := m[1]
	if code, body, err := query("http://" + addr + "/query?q=x"); err != nil || code != 200 || body != "echo: x\n" {
		t.Fatalf("query = %d %q %v", code, body, err)
	}
	app.Signal(t, syscall.SIGINT)
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	app.WaitLog(t, "connection pool closed", "closed=2")
	app.WaitLog(t, "stand-in database stopped")
}
