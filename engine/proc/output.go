package proc

import (
	"bytes"
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
//
// A rotation that fails (a read-only folder, a full disk, no descriptor
// left) loses nothing: writing goes on in the current file, past MaxSize,
// and rotation is tried again rotateRetry later. OnError hears of it.
type Log struct {
	mu      sync.Mutex
	path    string
	maxSize int64
	keep    int
	f       *os.File
	size    int64
	closed  bool
	onError func(error)
	// noRotateUntil holds rotation off for retry after a failed one.
	noRotateUntil time.Time
	retry         time.Duration
}

// rotateRetry is how long after a failed rotation the next is tried.
const rotateRetry = 10 * time.Second

// OpenLog opens (appending, creating with mode 0640) o.File. onError, when
// not nil, is called (with the Log's lock held: it must not write to the
// Log) when a rotation fails and writing goes on in the current file.
func OpenLog(o plan.Output, onError func(error)) (*Log, error) {
	if o.File == "" {
		return nil, errors.New("output: no file")
	}
	l := &Log{path: o.File, maxSize: o.MaxSize, keep: o.Keep, onError: onError, retry: rotateRetry}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	f, size, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.f, l.size = f, size
	return nil
}

func openAppend(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, 0, fmt.Errorf("open output %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("stat output %s: %w", path, err)
	}
	return f, fi.Size(), nil
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
		l.rotate()
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate starts a new file. The current one stays open until its
// successor is: when any step fails, writing goes on where it was.
func (l *Log) rotate() {
	now := time.Now()
	if now.Before(l.noRotateUntil) {
		return
	}
	if err := l.tryRotate(); err != nil {
		l.noRotateUntil = now.Add(l.retry)
		if l.onError != nil {
			l.onError(fmt.Errorf("rotate %s: %w; writing on in the current file, retrying in %s", l.path, err, l.retry))
		}
	}
}

func (l *Log) tryRotate() error {
	if l.keep <= 0 {
		// Started afresh in place: nothing to rename or create.
		if err := l.f.Truncate(0); err != nil {
			return err
		}
		l.size = 0
		return nil
	}
	_ = os.Remove(l.path + "." + strconv.Itoa(l.keep))
	for i := l.keep - 1; i >= 1; i-- {
		from := l.path + "." + strconv.Itoa(i)
		if err := os.Rename(from, l.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	first := l.path + ".1"
	if err := os.Rename(l.path, first); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, size, err := openAppend(l.path)
	if err != nil {
		// Put the file back under its name, to go on writing there.
		_ = os.Rename(first, l.path)
		return err
	}
	_ = l.f.Close()
	l.f, l.size = f, size
	return nil
}

// Reopen closes the file and opens the path again (for logrotate's
// create/move scheme, after a SIGHUP-less rotation).
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return os.ErrClosed
	}
	f, size, err := openAppend(l.path)
	if err != nil {
		return err // writing goes on in the file open now
	}
	_ = l.f.Close()
	l.f, l.size = f, size
	l.noRotateUntil = time.Time{}
	return nil
}

// Close closes the file; later writes fail with os.ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.f.Close()
}

// writeLines appends p, a run of whole lines (the last one possibly
// unfinished), with Write's guarantee for each line rather than for p as a
// whole: as many lines go into the current file as fit under MaxSize, then
// the file rotates and the rest follows. A line never spans two files; a
// line longer than MaxSize gets a file of its own, as Write would give it.
// This is Write called once per line, in as few system calls as rotation
// allows.
func (l *Log) writeLines(p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return os.ErrClosed
	}
	for len(p) > 0 {
		if l.maxSize <= 0 || l.size+int64(len(p)) <= l.maxSize {
			return l.write(p)
		}
		// The lines that still fit in this file.
		if room := l.maxSize - l.size; room > 0 {
			if i := bytes.LastIndexByte(p[:room], '\n'); i >= 0 {
				if err := l.write(p[:i+1]); err != nil {
					return err
				}
				p = p[i+1:]
				continue
			}
		}
		// The next line does not fit: start a new file for it.
		if l.size > 0 {
			l.rotate()
		}
		if l.size+int64(len(p)) <= l.maxSize || l.size > 0 {
			// It fits, or rotation is failing: everything goes on here.
			return l.write(p)
		}
		// More than a file's worth: the lines that fit, or at least one.
		i := -1
		if room := l.maxSize - l.size; room > 0 {
			i = bytes.LastIndexByte(p[:room], '\n')
		}
		if i < 0 {
			if i = bytes.IndexByte(p, '\n'); i < 0 {
				i = len(p) - 1
			}
		}
		if err := l.write(p[:i+1]); err != nil {
			return err
		}
		p = p[i+1:]
	}
	return nil
}

// write appends p to the current file; l.mu is held.
func (l *Log) write(p []byte) error {
	n, err := l.f.Write(p)
	l.size += int64(n)
	return err
}

// Copying a child's output.
const (
	// copyBufSize is the copier's buffer: the most read, and written, at
	// once. A pipe holds 64 KiB by default.
	copyBufSize = 64 << 10
	// partialDelay is how long an unfinished line (a prompt, a progress
	// bar) may wait in the copier for the rest of it before it is written
	// as it is.
	partialDelay = 150 * time.Millisecond
)

// lineWriter is what a Log offers the copier beyond io.Writer.
type lineWriter interface {
	writeLines(p []byte) error
}

// copier copies one child's output pipe into a Log. It reads as much as the
// pipe holds, up to its buffer, and writes at once everything up to the
// last newline, so complete lines are never held back; two generations
// writing at once still interleave whole lines, and rotation still never
// splits one (Log.writeLines). An unfinished line at the end of a read waits
// for the read that completes it, but no longer than partialDelay, and is
// written as it is when it fills the buffer or at the end.
//
// The wait is a read deadline on the pipe, armed only while an unfinished
// line is pending (and at most once more after it), so an idle copier costs
// nothing: no ticker, no second goroutine. stop cuts the copy off with a
// deadline too; mu orders the copier's deadlines after stop's.
type copier struct {
	r    *os.File
	dst  io.Writer
	done chan struct{}

	mu  sync.Mutex
	cut bool // stop set the deadline that ends the copy
}

func startCopier(r *os.File, dst io.Writer) *copier {
	c := &copier{r: r, dst: dst, done: make(chan struct{})}
	go c.run()
	return c
}

func (c *copier) run() {
	defer close(c.done)
	defer c.r.Close()
	var (
		buf     = make([]byte, copyBufSize)
		n       int       // bytes in buf: an unfinished line, after a flush
		since   time.Time // when the unfinished line in buf began
		armed   bool      // a deadline of ours is set on c.r
		timerOK = true    // c.r takes deadlines
	)
	for {
		m, err := c.r.Read(buf[n:])
		if m > 0 {
			read := buf[n : n+m]
			if i := bytes.LastIndexByte(read, '\n'); i >= 0 {
				end := n + i + 1
				c.write(buf[:end])
				n = copy(buf, buf[end:n+m])
				if n > 0 {
					since = time.Now()
				}
			} else {
				if n == 0 {
					since = time.Now()
				}
				n += m
				if n == len(buf) { // a line longer than the buffer
					c.write(buf)
					n = 0
				}
			}
			if n > 0 && !timerOK {
				c.write(buf[:n])
				n = 0
			}
			if n > 0 && !armed {
				armed, timerOK = c.deadline(since.Add(partialDelay))
			}
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			// EOF: everyone holding the pipe's write end has closed it;
			// or the pipe failed.
			break
		}
		c.mu.Lock()
		cut := c.cut
		c.mu.Unlock()
		if cut {
			break
		}
		// Our own deadline.
		if n > 0 && time.Since(since) >= partialDelay {
			c.write(buf[:n])
			n = 0
		}
		if n > 0 {
			armed, timerOK = c.deadline(since.Add(partialDelay))
		} else {
			armed, timerOK = c.deadline(time.Time{})
		}
	}
	if n > 0 {
		c.write(buf[:n])
	}
}

// deadline sets the pipe's read deadline to t (none when t is zero) unless
// stop has cut the copy off, whose deadline must stay. It reports whether
// a deadline of the copier's is now set, and whether the pipe takes
// deadlines at all.
func (c *copier) deadline(t time.Time) (armed, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return true, true // the next read ends the copy
	}
	if err := c.r.SetReadDeadline(t); err != nil {
		return false, false
	}
	return !t.IsZero(), true
}

func (c *copier) write(p []byte) {
	// A failed write (a closed Log, a full disk) loses this output; the
	// copy goes on draining the pipe so the child never blocks on it.
	if lw, ok := c.dst.(lineWriter); ok {
		_ = lw.writeLines(p)
		return
	}
	_, _ = c.dst.Write(p)
}

// stop lets the copier read what is left for up to grace, then cuts it off
// (a process that left a straggler holding the pipe), and waits for it. What
// the copier holds when cut off is written.
func (c *copier) stop(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.done:
		return
	case <-t.C:
	}
	c.mu.Lock()
	c.cut = true
	_ = c.r.SetReadDeadline(time.Now())
	c.mu.Unlock()
	<-c.done
}
