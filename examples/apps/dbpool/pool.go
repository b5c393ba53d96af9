package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Pool is a fixed-size pool of connections to a line-oriented server. It
// stands in for a database/sql pool: connections are opened up front,
// borrowed one query at a time, and on Close each is ended politely with the
// protocol's goodbye ("QUIT", as a database's Terminate message) before the
// socket closes, so the server frees the session at once instead of waiting
// for a TCP timeout.
type Pool struct {
	addr string
	idle chan *conn

	mu       sync.Mutex
	closed   bool
	live     int            // connections that exist, idle or borrowed
	borrowed sync.WaitGroup // queries holding a connection
}

type conn struct {
	net.Conn
	r *bufio.Reader
}

// ErrPoolClosed is returned by Query after Close.
var ErrPoolClosed = errors.New("pool closed")

// OpenPool dials size connections to addr.
func OpenPool(ctx context.Context, addr string, size int) (*Pool, error) {
	if size < 1 {
		return nil, fmt.Errorf("pool size %d: need at least 1", size)
	}
	p := &Pool{addr: addr, idle: make(chan *conn, size)}
	for range size {
		c, err := p.dial(ctx)
		if err != nil {
			p.Close(ctx)
			return nil, err
		}
		p.live++
		p.idle <- c
	}
	return p, nil
}

func (p *Pool) dial(ctx context.Context) (*conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("pool: dial %s: %w", p.addr, err)
	}
	return &conn{Conn: c, r: bufio.NewReader(c)}, nil
}

// Query sends q on an idle connection and returns the one-line answer.
func (p *Pool) Query(ctx context.Context, q string) (string, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return "", ErrPoolClosed
	}
	p.borrowed.Add(1)
	p.mu.Unlock()
	defer p.borrowed.Done()

	var c *conn
	select {
	case c = <-p.idle:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	c.SetDeadline(deadline)
	answer, err := roundTrip(c, q)
	if err != nil {
		// A broken connection is replaced, so the pool keeps its size.
		c.Close()
		if nc, derr := p.dial(ctx); derr == nil {
			p.idle <- nc
		} else {
			p.mu.Lock()
			p.live--
			p.mu.Unlock()
		}
		return "", fmt.Errorf("pool: query: %w", err)
	}
	c.SetDeadline(time.Time{})
	p.idle <- c
	return answer, nil
}

func roundTrip(c *conn, q string) (string, error) {
	if strings.ContainsAny(q, "\r\n") {
		return "", errors.New("query contains a newline")
	}
	if _, err := fmt.Fprintf(c, "%s\n", q); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

// Close refuses new queries, waits (until ctx is done) for borrowed
// connections to come back, says QUIT on each and closes it. It returns how
// many connections it closed.
func (p *Pool) Close(ctx context.Context) (int, error) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()

	back := make(chan struct{})
	go func() { p.borrowed.Wait(); close(back) }()
	var err error
	select {
	case <-back:
	case <-ctx.Done():
		err = fmt.Errorf("pool: queries still running: %w", ctx.Err())
	}

	n := 0
	for {
		select {
		case c := <-p.idle:
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprint(c, "QUIT\n")
			c.Close()
			n++
		default:
			p.mu.Lock()
			p.live -= n
			p.mu.Unlock()
			return n, err
		}
	}
}
