package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

// Log is an app's output file, shared by all its generations. It rotates
// by size (File -> File.1 -> File.2 ..., keeping Keep rotated files; with
// Keep 0 the file is simply started afresh) and can be reopened after an
// outside tool such as logrotate moved it. Safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	path    string
	maxSize int64
	keep    int
	f       *os.File
	size    int64
	closed  bool
}

// OpenLog opens (appending, creating with mode 0640) o.File.
func OpenLog(o plan.Output) (*Log, error) {
	if o.File == "" {
		return nil, errors.New("output: no file")
	}
	l := &Log{path: o.File, maxSize: o.MaxSize, keep: o.Keep}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open output %s: %w", l.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("stat output %s: %w", l.path, err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Path is the file written.
func (l *Log) Path() string { return l.path }

// Write appends p, rotating first when p would take the file past MaxSize.
// A write never splits p across two files.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.maxSize > 0 && l.size > 0 && l.size+int64(len(p)) > l.maxSize {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *Log) rotate() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("rotate %s: %w", l.path, err)
	}
	l.f = nil
	if l.keep <= 0 {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", l.path, err)
		}
	} else {
		_ = os.Remove(l.path + "." + strconv.Itoa(l.keep))
		for i := l.keep - 1; i >= 1; i-- {
			from := l.path + "." + strconv.Itoa(i)
			if err := os.Rename(from, l.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate %s: %w", l.path, err)
			}
		}
		if err := os.Rename(l.path, l.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", l.path, err)
		}
	}
	return l.open()
}

// Reopen closes the file and opens the path again (for logrotate's
// create/move scheme, after a SIGHUP-less rotation).
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return os.ErrClosed
	}
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	return l.open()
}

// Close closes the file; later writes fail with os.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// copier copies one child's output pipe into a Log, a line at a time where
// lines fit in its buffer, so that two generations writing at once
// interleave whole lines.
type copier struct {
	r    *os.File
	dst  io.Writer
	done chan struct{}
}

func startCopier(r *os.File, dst io.Writer) *copier {
	c := &copier{r: r, dst: dst, done: make(chan struct{})}
	go c.run()
	return c
}

func (c *copier) run() {
	defer close(c.done)
	defer c.r.Close()
	br := bufio.NewReaderSize(c.r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			_, _ = c.dst.Write(line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// stop lets the copier read what is left for up to grace, then cuts it off
// (a process that left a straggler holding the pipe), and waits for it.
func (c *copier) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	case <-time.After(grace):
	}
	_ = c.r.SetReadDeadline(time.Now())
	<-c.done
}
