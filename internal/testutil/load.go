package testutil

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Load sends GET requests to a URL from a few clients, half of them on
// keep-alive connections and half opening a connection per request, until
// Stop. It counts answered and failed requests; a failure is anything but
// a 200 with a body.
type Load struct {
	url      string
	stop     atomic.Bool
	wg       sync.WaitGroup
	ok, bad  atomic.Int64
	mu       sync.Mutex
	firstErr error
	bodies   map[string]int
}

// StartLoad starts 2*pairs clients on url. Each request is bounded (10 s)
// and each client sends at most 100,000 requests.
func StartLoad(url string, pairs int) *Load {
	l := &Load{url: url, bodies: map[string]int{}}
	keepAlive := &http.Transport{MaxIdleConnsPerHost: pairs}
	for i := 0; i < pairs; i++ {
		l.wg.Add(2)
		go l.client(&http.Client{Timeout: 10 * time.Second, Transport: keepAlive})
		go l.client(&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}})
	}
	return l
}

func (l *Load) client(c *http.Client) {
	defer l.wg.Done()
	defer c.CloseIdleConnections()
	for i := 0; !l.stop.Load() && i < 100000; i++ {
		resp, err := c.Get(l.url)
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			if err == nil {
				l.ok.Add(1)
				l.mu.Lock()
				l.bodies[string(b)]++
				l.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				continue
			}
		}
		l.bad.Add(1)
		l.mu.Lock()
		if l.firstErr == nil {
			l.firstErr = err
		}
		l.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// Stop ends the load and returns the counts and the first error.
func (l *Load) Stop() (ok, failed int64, firstErr error) {
	l.stop.Store(true)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok.Load(), l.bad.Load(), l.firstErr
}

// Bodies returns how often each distinct body was answered.
func (l *Load) Bodies() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.bodies))
	for k, v := range l.bodies {
		out[k] = v
	}
	return out
}
