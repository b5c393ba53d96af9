package artifact

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// benchArchive writes a .tar.gz of about size bytes of unpacked data (8
// files of compressible, non-repeating text) and returns its path.
func benchArchive(b *testing.B, size int64) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "release.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"deploy ", "release ", "generation ", "socket ", "ready ", "signal ", "dewy ", "\n"}
	const files = 8
	per := size / files
	buf := make([]byte, 0, 64<<10)
	for i := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/file" + strconv.Itoa(i), Mode: 0o755, Size: per, Typeflag: tar.TypeReg}); err != nil {
			b.Fatal(err)
		}
		for left := per; left > 0; {
			buf = buf[:0]
			for len(buf) < cap(buf)-16 {
				buf = append(buf, words[rng.IntN(len(words))]...)
			}
			n := min(int64(len(buf)), left)
			if _, err := tw.Write(buf[:n]); err != nil {
				b.Fatal(err)
			}
			left -= n
		}
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkUnpackTarGz unpacks a .tar.gz of DEWY_BENCH_MB (default 32) MB
// with Unpack and, in the same run, with `tar -xzf`, and reports both and
// their ratio. B/op shows that memory does not grow with the archive.
func BenchmarkUnpackTarGz(b *testing.B) {
	mb := int64(32)
	if v, err := strconv.ParseInt(os.Getenv("DEWY_BENCH_MB"), 10, 64); err == nil && v > 0 {
		mb = v
	}
	archive := benchArchive(b, mb<<20)
	tarBin, tarErr := exec.LookPath("tar")
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := range b.N {
		dest := filepath.Join(b.TempDir(), "r"+strconv.Itoa(i))
		t0 := time.Now()
		if err := Unpack(context.Background(), archive, "release.tar.gz", dest, Limits{}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		if tarErr == nil {
			b.StopTimer()
			out := filepath.Join(b.TempDir(), "t"+strconv.Itoa(i))
			if err := os.Mkdir(out, 0o755); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := exec.Command(tarBin, "-xzf", archive, "-C", out).Run(); err != nil {
				b.Fatal(err)
			}
			theirs += time.Since(t1)
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(ours.Milliseconds())/float64(b.N), "dewy-ms/op")
	if tarErr == nil {
		b.ReportMetric(float64(theirs.Milliseconds())/float64(b.N), "tar-xzf-ms/op")
		b.ReportMetric(float64(ours)/float64(theirs), "dewy/tar")
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapSys>>20), "heap-sys-MB")
}
