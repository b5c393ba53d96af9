package artifact

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"
)

// writeTarGz writes a .tar.gz of nfiles files totalling size bytes of
// random-ish but compressible data (letters of a 16-letter alphabet, about
// 2:1 under gzip), plus a few folders, generated through a fixed buffer.
func writeTarGz(tb testing.TB, path string, size int64, nfiles int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	r := rand.New(rand.NewPCG(7, 11))
	chunk := make([]byte, 64<<10)
	per := size / int64(nfiles)
	for i := range nfiles {
		hdr := &tar.Header{Name: fmt.Sprintf("app/data/part%02d/blob.bin", i), Mode: 0o755, Size: per, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		for left := per; left > 0; {
			for j := range chunk {
				chunk[j] = 'a' + byte(r.Uint32()&15)
			}
			n := min(left, int64(len(chunk)))
			if _, err := tw.Write(chunk[:n]); err != nil {
				tb.Fatal(err)
			}
			left -= n
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkUnpackTarGz unpacks a generated .tar.gz of DEWY_BENCH_MB MiB (32
// by default; 200 for the figure in the review) made of four big files, then
// extracts the same file with `tar -xzf` (when tar is in PATH) as many times,
// and reports dewy-ns/op, tar-ns/op and their ratio. B/op and allocs/op are
// dewy's alone (see TestUnpackAllocationsFlat for why they barely move with
// the size).
func BenchmarkUnpackTarGz(b *testing.B) {
	mb := 32
	if s := os.Getenv("DEWY_BENCH_MB"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("DEWY_BENCH_MB=%q: want a positive number of MiB", s)
		}
		mb = v
	}
	dir := b.TempDir()
	archive := filepath.Join(dir, "app.tar.gz")
	writeTarGz(b, archive, int64(mb)<<20, 4)
	if fi, err := os.Stat(archive); err == nil {
		b.Logf("archive: %d MiB unpacked, %.1f MiB compressed", mb, float64(fi.Size())/(1<<20))
	}
	b.SetBytes(int64(mb) << 20)
	b.ReportAllocs()

	var dewy time.Duration
	n := 0
	for b.Loop() {
		dest := filepath.Join(dir, "dewy-"+strconv.Itoa(n))
		start := time.Now()
		if err := Unpack(context.Background(), archive, "app.tar.gz", dest, Limits{}); err != nil {
			b.Fatal(err)
		}
		dewy += time.Since(start)
		n++
		b.StopTimer()
		os.RemoveAll(dest)
		b.StartTimer()
	}
	dewyNs := float64(dewy.Nanoseconds()) / float64(n)
	b.ReportMetric(dewyNs, "dewy-ns/op")

	if _, err := exec.LookPath("tar"); err != nil {
		b.Log("tar not in PATH: no comparison")
		return
	}
	var tarTime time.Duration
	for i := range n {
		dest := filepath.Join(dir, "tar-"+strconv.Itoa(i))
		if err := os.Mkdir(dest, 0o755); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if out, err := exec.Command("tar", "-xzf", archive, "-C", dest).CombinedOutput(); err != nil {
			b.Fatalf("tar -xzf: %v\n%s", err, out)
		}
		tarTime += time.Since(start)
		os.RemoveAll(dest)
	}
	tarNs := float64(tarTime.Nanoseconds()) / float64(n)
	b.ReportMetric(tarNs, "tar-ns/op")
	b.ReportMetric(dewyNs/tarNs, "dewy/tar")
}

// TestUnpackAllocationsFlat proves memory does not grow with the archive.
// A bare binary is copied through the one fixed buffer: the bytes allocated
// for 32 MiB are those for 1 MiB. For .tar.gz, compress/flate allocates a
// few small, short-lived tables per deflate block (about 2 KiB per MiB, all
// garbage at once), so the test bounds that churn per MiB and checks that the
// peak heap while unpacking 32 MiB stays far below the data's size.
func TestUnpackAllocationsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 66 MiB")
	}
	if raceEnabled {
		t.Skip("the race detector changes allocation figures; run without -race")
	}
	dir := t.TempDir()
	measure := func(name string, size int64) (alloc, peak uint64) {
		archive := filepath.Join(dir, fmt.Sprintf("%d-%s", size, name))
		switch DetectFormat(name) {
		case TarGz:
			writeTarGz(t, archive, size, 4)
		default:
			if err := os.WriteFile(archive, make([]byte, size), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		dest := filepath.Join(dir, fmt.Sprintf("out-%d-%s", size, name))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		peakc := make(chan uint64)
		go func() { // sample the heap without stopping the world
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			var top uint64
			for {
				metrics.Read(sample)
				top = max(top, sample[0].Value.Uint64())
				select {
				case <-stop:
					peakc <- top
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		err := Unpack(context.Background(), archive, name, dest, Limits{})
		close(stop)
		peak = <-peakc
		if err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		os.RemoveAll(dest)
		os.Remove(archive)
		return after.TotalAlloc - before.TotalAlloc, peak
	}
	for _, tt := range []struct {
		name      string
		perMiB    uint64 // allowed allocation growth per MiB of data
		peakBound uint64
	}{
		{"app", 0, 16 << 20},
		{"app.tar.gz", 4 << 10, 16 << 20},
	} {
		small, _ := measure(tt.name, 1<<20)
		big, peak := measure(tt.name, 32<<20)
		t.Logf("%s: %d B allocated for 1 MiB, %d B for 32 MiB; peak heap %d B", tt.name, small, big, peak)
		if big > small+64<<10+31*tt.perMiB {
			t.Errorf("%s: allocations grow with the size: %d B for 32 MiB vs %d B for 1 MiB", tt.name, big, small)
		}
		if peak > tt.peakBound {
			t.Errorf("%s: peak heap %d B while unpacking 32 MiB, want under %d", tt.name, peak, tt.peakBound)
		}
	}
}
