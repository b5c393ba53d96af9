package proc

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

// testLines returns n lines of random lengths (1 to max bytes with the
// newline), each starting with its number so order can be checked.
func testLines(rng *rand.Rand, prefix string, n, max int) [][]byte {
	lines := make([][]byte, n)
	for i := range lines {
		l := []byte(fmt.Sprintf("%s%06d ", prefix, i))
		pad := rng.Intn(max)
		for j := 0; j < pad; j++ {
			l = append(l, byte('a'+j%26))
		}
		lines[i] = append(l, '\n')
	}
	return lines
}

// feed writes b into w in pieces of random sizes (cutting lines anywhere),
// then closes w.
func feed(t *testing.T, w *os.File, rng *rand.Rand, b []byte, maxPiece int) {
	t.Helper()
	for len(b) > 0 {
		k := 1 + rng.Intn(maxPiece)
		if k > len(b) {
			k = len(b)
		}
		if _, err := w.Write(b[:k]); err != nil {
			t.Errorf("write pipe: %v", err)
			break
		}
		b = b[k:]
	}
	if err := w.Close(); err != nil {
		t.Errorf("close pipe: %v", err)
	}
}

func openTestLog(t *testing.T, o plan.Output) *Log {
	t.Helper()
	l, err := OpenLog(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return r, w
}

// logFiles returns the contents of a Log's files, oldest first
// (f.N ... f.1, f).
func logFiles(t *testing.T, path string) [][]byte {
	t.Helper()
	names, err := filepath.Glob(path + ".*")
	if err != nil {
		t.Fatal(err)
	}
	num := func(name string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(name, path+"."))
		if err != nil {
			t.Fatalf("unexpected file %s", name)
		}
		return n
	}
	sort.Slice(names, func(i, j int) bool { return num(names[i]) > num(names[j]) })
	names = append(names, path)
	var out [][]byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// waitFor polls the file at path until it holds want.
func waitFor(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stopped(c *copier) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// TestCopierLinesInOrder: whatever pieces the writer cuts its output into,
// the file holds exactly what was written, in order.
func TestCopierLinesInOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, maxPiece := range []int{7, 100, 4 << 10, 200 << 10} {
		t.Run(strconv.Itoa(maxPiece), func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "out.log")
			l := openTestLog(t, plan.Output{File: f})
			r, w := pipe(t)
			want := bytes.Join(testLines(rng, "", 20000, 150), nil)
			// A line longer than the copier's buffer, then an unfinished
			// last line.
			want = append(want, bytes.Repeat([]byte("L"), 3*copyBufSize/2)...)
			want = append(want, "\nno newline at the end"...)
			c := startCopier(r, l)
			feed(t, w, rng, want, maxPiece)
			c.stop(time.Minute)
			if b, _ := os.ReadFile(f); !bytes.Equal(b, want) {
				t.Fatalf("the file holds %d bytes, want %d; first difference at %d", len(b), len(want), firstDiff(b, want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return len(a)
}

// TestCopierPartialLine: an unfinished line (a prompt) is written after a
// short wait, while the writer keeps the pipe open; complete lines are
// written without one; and the copier is idle again afterwards.
func TestCopierPartialLine(t *testing.T) {
	f := filepath.Join(t.TempDir(), "out.log")
	l := openTestLog(t, plan.Output{File: f})
	r, w := pipe(t)
	c := startCopier(r, l)
	write := func(s string) {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	write("line one\nname? ")
	waitFor(t, f, "line one\nname? ")
	write("bob\n")
	waitFor(t, f, "line one\nname? bob\n")
	write("progress 10%")
	waitFor(t, f, "line one\nname? bob\nprogress 10%")
	write(" 20%")
	waitFor(t, f, "line one\nname? bob\nprogress 10% 20%")
	write("\ndone\n")
	waitFor(t, f, "line one\nname? bob\nprogress 10% 20%\ndone\n")
	// Idle: the copier's deadline has been cleared, or goes off once more
	// and is cleared then; either way the copier only waits on the pipe.
	time.Sleep(2 * partialDelay)
	if stopped(c) {
		t.Fatal("the copier ended while the pipe is open")
	}
	_ = w.Close()
	c.stop(time.Minute)
}

// TestCopierRotationKeepsLines: with a small MaxSize and writes that cut
// across lines, every file holds whole lines and stays under MaxSize (but
// for a line longer than MaxSize, which gets a file of its own), and the
// files together hold everything, in order.
func TestCopierRotationKeepsLines(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	const maxSize = 1000
	f := filepath.Join(t.TempDir(), "app.log")
	// Every rotation renames each kept file: keep what this writes (about
	// 90 files), not many more.
	l := openTestLog(t, plan.Output{File: f, MaxSize: maxSize, Keep: 200})
	r, w := pipe(t)
	lines := testLines(rng, "", 1000, 120)
	long := append(bytes.Repeat([]byte("x"), 2500), '\n')
	lines = append(lines[:500], append([][]byte{long, long}, lines[500:]...)...)
	want := bytes.Join(lines, nil)
	c := startCopier(r, l)
	feed(t, w, rng, want, 20<<10)
	c.stop(time.Minute)

	files := logFiles(t, f)
	if len(files) < len(want)/maxSize {
		t.Fatalf("%d files for %d bytes", len(files), len(want))
	}
	checkLogFiles(t, files, maxSize)
	if got := bytes.Join(files, nil); !bytes.Equal(got, want) {
		t.Fatalf("the files hold %d bytes, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
}

func checkLogFiles(t *testing.T, files [][]byte, maxSize int) {
	t.Helper()
	for i, b := range files {
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("file %d of %d ends inside a line: %q", i, len(files), tail(b))
		}
		if len(b) > maxSize && bytes.Count(b, []byte("\n")) != 1 {
			t.Errorf("file %d of %d is %d bytes with %d lines, over MaxSize", i, len(files), len(b), bytes.Count(b, []byte("\n")))
		}
	}
}

func tail(b []byte) []byte {
	if len(b) > 40 {
		return b[len(b)-40:]
	}
	return b
}

// TestLogWriteLinesIsWritePerLine: writeLines leaves exactly the files that
// one Write per line leaves (of the files kept: both drop the same ones).
func TestLogWriteLinesIsWritePerLine(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, o := range []plan.Output{{MaxSize: 0}, {MaxSize: 1}, {MaxSize: 64}, {MaxSize: 500, Keep: 20}, {MaxSize: 4096, Keep: 20}} {
		t.Run(strconv.FormatInt(o.MaxSize, 10), func(t *testing.T) {
			dir := t.TempDir()
			a, b := o, o
			a.File, b.File = filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
			la, lb := openTestLog(t, a), openTestLog(t, b)
			lines := testLines(rng, "", 800, 300) // about 130 kB
			lines = append(lines, []byte("unfinished"))
			for len(lines) > 0 {
				k := 1 + rng.Intn(50)
				if k > len(lines) {
					k = len(lines)
				}
				if err := la.writeLines(bytes.Join(lines[:k], nil)); err != nil {
					t.Fatal(err)
				}
				for _, ln := range lines[:k] {
					if _, err := lb.Write(ln); err != nil {
						t.Fatal(err)
					}
				}
				lines = lines[k:]
			}
			fa, fb := logFiles(t, a.File), logFiles(t, b.File)
			if len(fa) != len(fb) {
				t.Fatalf("writeLines left %d files, Write %d", len(fa), len(fb))
			}
			for i := range fa {
				if !bytes.Equal(fa[i], fb[i]) {
					t.Fatalf("file %d differs: %d bytes, Write's %d", i, len(fa[i]), len(fb[i]))
				}
			}
		})
	}
}

// TestCopierTwoWritersWholeLines: two copiers into one Log (two
// generations) interleave whole lines, each in its own order.
func TestCopierTwoWritersWholeLines(t *testing.T) {
	f := filepath.Join(t.TempDir(), "out.log")
	l := openTestLog(t, plan.Output{File: f})
	var wg sync.WaitGroup
	var cs []*copier
	for i, prefix := range []string{"a", "b"} {
		r, w := pipe(t)
		cs = append(cs, startCopier(r, l))
		want := bytes.Join(testLines(rand.New(rand.NewSource(int64(i))), prefix, 20000, 100), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			feed(t, w, rand.New(rand.NewSource(int64(10+i))), want, 8<<10)
		}()
	}
	wg.Wait()
	for _, c := range cs {
		c.stop(time.Minute)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	next := map[byte]int{}
	for _, ln := range strings.SplitAfter(string(b), "\n") {
		if ln == "" {
			continue
		}
		if len(ln) < 8 || ln[7] != ' ' || ln[len(ln)-1] != '\n' {
			t.Fatalf("broken line %q", ln)
		}
		n, err := strconv.Atoi(ln[1:7])
		if err != nil || n != next[ln[0]] {
			t.Fatalf("line %q, want number %d of %c", ln, next[ln[0]], ln[0])
		}
		next[ln[0]]++
	}
	if next['a'] != 20000 || next['b'] != 20000 {
		t.Fatalf("lines: %v", next)
	}
}

// TestCopierStopWritesEverything: stop returns once everything written
// before the pipe's last writer closed it is in the file, an unfinished
// last line included, and the copier has ended.
func TestCopierStopWritesEverything(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	for i := 0; i < 20; i++ {
		f := filepath.Join(t.TempDir(), "out.log")
		l := openTestLog(t, plan.Output{File: f, MaxSize: 64 << 10, Keep: 50})
		r, w := pipe(t)
		want := bytes.Join(testLines(rng, "", 1+rng.Intn(20000), 100), nil)
		want = append(want, "last words"...)
		c := startCopier(r, l)
		go feed(t, w, rng, want, 32<<10)
		c.stop(time.Minute)
		if !stopped(c) {
			t.Fatal("stop returned before the copier ended")
		}
		if got := bytes.Join(logFiles(t, f), nil); !bytes.Equal(got, want) {
			t.Fatalf("run %d: the files hold %d bytes, want %d", i, len(got), len(want))
		}
	}
}

// TestCopierStopCutsOffStraggler: when something keeps the pipe open, stop
// ends the copy after grace and writes what the copier holds, even while
// the writer goes on writing unfinished lines (the copier's own deadline
// racing stop's).
func TestCopierStopCutsOffStraggler(t *testing.T) {
	for i := 0; i < 5; i++ {
		f := filepath.Join(t.TempDir(), "out.log")
		l := openTestLog(t, plan.Output{File: f})
		r, w := pipe(t)
		c := startCopier(r, l)
		if _, err := w.WriteString("complete\nunfinished"); err != nil {
			t.Fatal(err)
		}
		quit := make(chan struct{})
		writer := make(chan struct{})
		go func() {
			defer close(writer)
			for {
				select {
				case <-quit:
					return
				default:
				}
				if _, err := w.WriteString("."); err != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		// The copier has had "complete\nunfinished" in one read.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if b, _ := os.ReadFile(f); strings.HasPrefix(string(b), "complete\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no output")
			}
		}
		c.stop(time.Duration(i) * 10 * time.Millisecond)
		if !stopped(c) {
			t.Fatal("stop returned before the copier ended")
		}
		close(quit)
		<-writer
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "complete\nunfinished") {
			t.Fatalf("the file holds %q", b)
		}
		// Nothing more arrives: the copier has closed its end.
		time.Sleep(partialDelay + 50*time.Millisecond)
		if b2, _ := os.ReadFile(f); !bytes.Equal(b, b2) {
			t.Fatalf("written after stop: %q", b2[len(b):])
		}
		if _, err := w.WriteString("x"); err == nil {
			t.Fatal("the pipe's read end is still open")
		}
	}
}

// A rotation that fails loses no write: the current file takes them, past
// MaxSize, OnError hears of it, and rotation resumes once the cause is
// gone. The cause here is a directory squatting on File.1 (a read-only
// folder would not stop root); without root, the folder is made read-only
// too.
func TestFailedRotationLosesNothing(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.log")
	var errs []error
	l, err := OpenLog(plan.Output{File: f, MaxSize: 100, Keep: 1}, func(err error) { errs = append(errs, err) })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.retry = time.Millisecond
	line := func(i int) []byte { return fmt.Appendf(nil, "line %03d of the app\n", i) } // 20 bytes
	for i := range 4 {
		if _, err := l.Write(line(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(f+".1", "busy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dir, 0o755)
	}
	for i := 4; i < 20; i++ {
		time.Sleep(2 * time.Millisecond) // past the retry pause: every rotation is tried
		if _, err := l.Write(line(i)); err != nil {
			t.Fatalf("write %d while rotation fails: %v", i, err)
		}
	}
	if len(errs) == 0 || !strings.Contains(errs[0].Error(), "writing on in the current file") {
		t.Fatalf("OnError got %v", errs)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range 20 {
		want.Write(line(i))
	}
	if !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("while rotation failed the file got\n%s\nwant every line\n%s", b, want.Bytes())
	}

	_ = os.Chmod(dir, 0o755)
	if err := os.RemoveAll(f + ".1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	if _, err := l.Write(line(20)); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(f + ".1")
	if err != nil {
		t.Fatalf("rotation did not resume: %v", err)
	}
	cur, _ := os.ReadFile(f)
	if !bytes.Equal(old, want.Bytes()) || !bytes.Equal(cur, line(20)) {
		t.Fatalf("after the cause went: %s.1 = %q, %s = %q", f, old, f, cur)
	}
}
