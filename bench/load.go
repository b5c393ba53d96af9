package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The outcome of one request.
const (
	kindOK uint8 = iota
	kindRefused
	kindReset
	kindEOF
	kindTimeout
	kindNon2xx
	kindOther
	numKinds
)

var kindNames = [numKinds]string{"ok", "refused", "reset", "EOF", "timeout", "non-2xx", "other"}

// errorPause is how long a client waits after a failed request before the
// next one, so a stopped server does not turn the clients into a busy loop
// of refused connections. It bounds how precisely the baseline's restart
// latency is seen (the other clients keep trying meanwhile).
const errorPause = 5 * time.Millisecond

// result is one request's outcome.
type result struct {
	kind     uint8
	status   int
	pid, gen int
	err      error
	// retried: Go's transport sent the request again on a new connection
	// after a reused one was closed under it (it does so for a GET by
	// itself); the request then counts by its final outcome.
	retried bool
}

func (r result) describe() string {
	switch {
	case r.err != nil:
		return r.err.Error()
	case r.kind == kindNon2xx:
		return "HTTP " + strconv.Itoa(r.status)
	default:
		return kindNames[r.kind]
	}
}

// client is one load client: its own transport, so a keep-alive client
// holds its own connection and never shares it.
type client struct {
	hc      *http.Client
	timeout time.Duration
	conns   *atomic.Int64 // counts the new connections the client used; may be nil
}

func newClient(keepAlive bool, timeout time.Duration, conns *atomic.Int64) *client {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: -1}).DialContext,
		DisableKeepAlives:   !keepAlive,
		DisableCompression:  true,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
	}
	return &client{hc: &http.Client{Transport: tr}, timeout: timeout, conns: conns}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// get sends one GET with the client's timeout and classifies the outcome.
func (c *client) get(ctx context.Context, u string) result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var conns atomic.Int32
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		conns.Add(1)
		if !info.Reused && c.conns != nil {
			c.conns.Add(1) // a connection the server accepted for this request
		}
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return result{kind: kindOther, err: err}
	}
	r := c.do(req)
	r.retried = conns.Load() > 1
	return r
}

func (c *client) do(req *http.Request) result {
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{kind: classify(err), err: err}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if err != nil {
		return result{kind: classify(err), status: resp.StatusCode, err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return result{kind: kindNon2xx, status: resp.StatusCode}
	}
	r := result{kind: kindOK, status: resp.StatusCode}
	if strings.HasSuffix(req.URL.Path, "/healthz") {
		return r
	}
	pid, gen, ok := parseBody(string(body))
	if !ok {
		return result{kind: kindOther, status: resp.StatusCode, err: fmt.Errorf("unexpected body %q", body)}
	}
	r.pid, r.gen = pid, gen
	return r
}

// parseBody reads the app's "pid=123 generation=4\n".
func parseBody(s string) (pid, gen int, ok bool) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return 0, 0, false
	}
	p, okp := strings.CutPrefix(fields[0], "pid=")
	g, okg := strings.CutPrefix(fields[1], "generation=")
	if !okp || !okg {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(p)
	gen, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return pid, gen, true
}

// classify sorts a transport error into the report's kinds.
func classify(err error) uint8 {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return kindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return kindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), "EOF"), strings.Contains(err.Error(), "server closed idle connection"):
		return kindEOF
	}
	return kindOther
}

// record is one finished request; times are offsets from the run's start.
type record struct {
	start, end time.Duration
	pid, gen   int32
	status     int16
	kind       uint8
	retried    bool
}

// tracker notes the first response of each server instance (a generation
// under dewy, a pid in the baseline), so a restart can wait for the new one.
type tracker struct {
	last    atomic.Int64
	mu      sync.Mutex
	seen    map[int64]time.Duration
	waiters map[int64]chan struct{}
}

func newTracker() *tracker {
	t := &tracker{seen: map[int64]time.Duration{}, waiters: map[int64]chan struct{}{}}
	t.last.Store(math.MinInt64)
	return t
}

func (t *tracker) saw(key int64, at time.Duration) {
	if t.last.Load() == key {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last.Store(key)
	if _, ok := t.seen[key]; ok {
		return
	}
	t.seen[key] = at
	if w, ok := t.waiters[key]; ok {
		close(w)
		delete(t.waiters, key)
	}
}

// wait returns a channel closed once key has served a response.
func (t *tracker) wait(key int64) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.seen[key]; ok {
		c := make(chan struct{})
		close(c)
		return c
	}
	w, ok := t.waiters[key]
	if !ok {
		w = make(chan struct{})
		t.waiters[key] = w
	}
	return w
}

func (t *tracker) firstSeen(key int64) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.seen[key]
	return at, ok
}

// load is the set of clients of one run.
type load struct {
	o     Options
	url   string
	t0    time.Time
	key   func(pid, gen int) int64
	track *tracker

	started  atomic.Int64
	finished atomic.Int64
	newConns atomic.Int64 // connections opened (not reused) by the clients
	nfailed  atomic.Int64
	capped   chan struct{}
	capOnce  sync.Once
	halt     atomic.Bool
	stopOnce sync.Once
	wg       sync.WaitGroup
	clients  []*client
	recs     [][]record

	exMu     sync.Mutex
	examples [numKinds]map[string]int
}

// newLoad prepares o.Clients clients for base (http://127.0.0.1:port);
// t0 is the run's time origin.
func newLoad(o Options, base string, t0 time.Time, key func(pid, gen int) int64) (*load, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("refusing to load %s: only loopback addresses", base)
	}
	target := base + "/"
	if o.Sleep > 0 {
		target += "?sleep=" + o.Sleep.String()
	}
	l := &load{o: o, url: target, t0: t0, key: key, track: newTracker(), capped: make(chan struct{})}
	for i := range o.Clients {
		l.clients = append(l.clients, newClient(i%2 == 0, o.Timeout, &l.newConns))
	}
	l.recs = make([][]record, o.Clients)
	for i := range l.examples {
		l.examples[i] = map[string]int{}
	}
	return l, nil
}

func (l *load) since() time.Duration { return time.Since(l.t0) }
func (l *load) count() int64         { return l.finished.Load() }
func (l *load) failed() int64        { return l.nfailed.Load() }

// start runs the clients until stop, the request cap, or ctx's end.
func (l *load) start(ctx context.Context) {
	for i, c := range l.clients {
		l.recs[i] = make([]record, 0, 4096)
		l.wg.Go(func() { l.loop(ctx, i, c) })
	}
}

func (l *load) loop(ctx context.Context, i int, c *client) {
	defer c.close()
	for !l.halt.Load() && ctx.Err() == nil {
		if l.started.Add(1) > l.o.MaxRequests {
			l.capOnce.Do(func() { close(l.capped) })
			return
		}
		st := l.since()
		res := c.get(ctx, l.url)
		en := l.since()
		if res.kind != kindOK && ctx.Err() != nil {
			return // cut off by Ctrl-C or -max-duration: not the server's failure
		}
		l.recs[i] = append(l.recs[i], record{start: st, end: en, pid: int32(res.pid), gen: int32(res.gen), status: int16(res.status), kind: res.kind, retried: res.retried})
		l.finished.Add(1)
		pause := l.o.Think
		if res.kind == kindOK {
			l.track.saw(l.key(res.pid, res.gen), en)
		} else {
			l.nfailed.Add(1)
			l.example(res)
			pause = max(pause, errorPause)
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// example keeps a count of each distinct error message.
func (l *load) example(res result) {
	msg := res.describe()
	// Ports and pids differ from error to error; keep the shape only.
	msg = longNumber.ReplaceAllString(msg, "N")
	l.exMu.Lock()
	defer l.exMu.Unlock()
	m := l.examples[res.kind]
	if _, ok := m[msg]; ok || len(m) < 8 {
		m[msg]++
	}
}

var longNumber = regexp.MustCompile(`[0-9]{4,}`)

// stop ends the load and waits for the requests in flight (each is bounded
// by its timeout).
func (l *load) stop() {
	l.stopOnce.Do(func() {
		l.halt.Store(true)
		l.wg.Wait()
	})
}

// summarize fills r from the records and the restarts; steadyFrom and
// steadyTo bound the steady phase (both 0 when there was none).
func (l *load) summarize(r *RunReport, restarts []restart, steadyFrom, steadyTo time.Duration) {
	var all []record
	for _, rs := range l.recs {
		all = append(all, rs...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })

	// Windows are disjoint and in order; a request is inside one when its
	// [start, end] overlaps it.
	inWindow := func(rec record) bool {
		k := sort.Search(len(restarts), func(i int) bool { return restarts[i].Signal > rec.end }) - 1
		return k >= 0 && restarts[k].End >= rec.start
	}
	var overall, in, out, steady []time.Duration
	first := map[int64]time.Duration{} // instance -> first response's end
	keys := map[int64]bool{}
	var first0, last time.Duration
	for i, rec := range all {
		if i == 0 {
			first0 = rec.start
		}
		last = max(last, rec.end)
		inside := inWindow(rec)
		r.Requests++
		if inside {
			r.RequestsInWindows++
		}
		if rec.retried {
			r.Retried++
			if inside {
				r.RetriedInWindows++
			}
		}
		if rec.kind != kindOK {
			r.Failed.add(rec.kind, 1)
			if inside {
				r.FailedInWindows.add(rec.kind, 1)
			}
			continue
		}
		r.OK++
		d := rec.end - rec.start
		overall = append(overall, d)
		if inside {
			in = append(in, d)
		} else {
			out = append(out, d)
		}
		if steadyTo > 0 && rec.start >= steadyFrom && rec.end <= steadyTo {
			steady = append(steady, d)
		}
		k := l.key(int(rec.pid), int(rec.gen))
		keys[k] = true
		if f, ok := first[k]; !ok || rec.end < f {
			first[k] = rec.end
		}
	}
	r.LoadSeconds = (last - first0).Seconds()
	if r.LoadSeconds > 0 {
		r.Throughput = float64(r.Requests) / r.LoadSeconds
	}
	r.Instances = len(keys)
	r.Latency = Latencies{Overall: summary(overall), InWindows: summary(in), OutsideWindows: summary(out), Steady: summary(steady)}

	var lat, dur []time.Duration
	r.RestartsRequested = l.o.Restarts
	for _, rs := range restarts {
		dur = append(dur, rs.End-rs.Signal)
		if rs.Failed != "" {
			r.RestartsFailed++
			r.Notes = append(r.Notes, fmt.Sprintf("restart at %s failed: %s", rs.Signal.Round(time.Millisecond), rs.Failed))
			continue
		}
		r.RestartsDone++
		if f, ok := first[rs.NewKey]; ok && f >= rs.Signal {
			lat = append(lat, f-rs.Signal)
		} else {
			r.Notes = append(r.Notes, fmt.Sprintf("restart at %s: no response from the new instance %d was recorded", rs.Signal.Round(time.Millisecond), rs.NewKey))
		}
	}
	var unserved int
	var maxUnserved time.Duration
	for _, rs := range restarts {
		if rs.Unserved > 0 {
			unserved++
			maxUnserved = max(maxUnserved, rs.Unserved)
		}
	}
	if unserved > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d of %d restarts were reported over (the old instance gone) before the new instance had answered, by up to %s: its start-up stalled the clients; the windows last until the first response",
			unserved, len(restarts), maxUnserved.Round(time.Millisecond)))
	}
	r.RestartLatency = summary(lat)
	r.RestartDuration = summary(dur)

	l.exMu.Lock()
	defer l.exMu.Unlock()
	for k := range numKinds {
		msgs := make([]string, 0, len(l.examples[k]))
		for m := range l.examples[k] {
			msgs = append(msgs, m)
		}
		sort.Strings(msgs)
		for _, m := range msgs {
			r.ErrorSamples = append(r.ErrorSamples, fmt.Sprintf("%s x%d: %s", kindNames[k], l.examples[k][m], m))
		}
	}
}
