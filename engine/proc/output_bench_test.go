package proc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

// benchBytes is how much output each benchmark iteration copies.
const benchBytes = 100 << 20

// benchData writes benchBytes of 80-byte lines to a file in dir.
func benchData(b *testing.B, dir string) string {
	b.Helper()
	name := filepath.Join(dir, "data")
	f, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	line := []byte(fmt.Sprintf("%-79s\n", "2024-01-01T00:00:00Z INFO request served path=/api/v1/things status=200"))
	for i := 0; i < benchBytes/len(line); i++ {
		_, _ = w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return name
}

// BenchmarkCopier pushes benchBytes of 80-byte lines through a real pipe
// into a file, with `cat data` as the app at the pipe's write end, and
// compares sinks in the same run:
//
//   - copier: the copier, into a Log (what dewy does);
//   - lines: the copier as it was, one ReadSlice and one Write per line,
//     for reference;
//   - cat: `cat > file`, the floor.
//
// MB/s is wall-clock throughput. cpu-ms/op is the CPU the sink alone used
// (user+system): for cat, that child's own rusage (from wait4, so the
// feeding cat is not counted); for the copier, getrusage(RUSAGE_SELF)
// across the copy, which counts everything in this process: the copier
// goroutine, the Go runtime, and the benchmark goroutine waiting, which is
// close to nothing (the feeding cat, a child, is not counted either).
// cpu-MB/s is bytes per CPU-second of the sink.
//
//	go test -run '^$' -bench Copier -benchtime 5x ./engine/proc
func BenchmarkCopier(b *testing.B) {
	data := benchData(b, b.TempDir())
	cat, err := exec.LookPath("cat")
	if err != nil {
		b.Skip("no cat")
	}
	for _, sink := range []struct {
		name string
		run  func(b *testing.B, r *os.File, out string) time.Duration
	}{
		{"copier", func(b *testing.B, r *os.File, out string) time.Duration {
			l, err := OpenLog(plan.Output{File: out}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			before := selfCPU(b)
			c := startCopier(r, l)
			<-c.done
			return selfCPU(b) - before
		}},
		{"lines", func(b *testing.B, r *os.File, out string) time.Duration {
			l, err := OpenLog(plan.Output{File: out}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			before := selfCPU(b)
			copyLines(r, l)
			return selfCPU(b) - before
		}},
		{"cat", func(b *testing.B, r *os.File, out string) time.Duration {
			f, err := os.Create(out)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command(cat)
			cmd.Stdin, cmd.Stdout = r, f
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			_ = r.Close()
			return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}},
	} {
		b.Run(sink.name, func(b *testing.B) {
			b.SetBytes(benchBytes)
			dir := b.TempDir()
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				out := filepath.Join(dir, "out")
				_ = os.Remove(out)
				r, w, err := os.Pipe()
				if err != nil {
					b.Fatal(err)
				}
				feeder := exec.Command(cat, data)
				feeder.Stdout = w
				b.StartTimer()
				if err := feeder.Start(); err != nil {
					b.Fatal(err)
				}
				_ = w.Close()
				cpu += sink.run(b, r, out)
				b.StopTimer()
				if err := feeder.Wait(); err != nil {
					b.Fatal(err)
				}
				if fi, err := os.Stat(out); err != nil || fi.Size() != benchBytes/80*80 {
					b.Fatalf("output: %v, %d bytes", err, sizeOf(fi))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(benchBytes)*float64(b.N)/1e6/cpu.Seconds(), "cpu-MB/s")
		})
	}
}

// copyLines is the copier before buffering: a Write per line.
func copyLines(r *os.File, dst io.Writer) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			_, _ = dst.Write(line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
