package config

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The inputs of the benchmarks (and of the size tests) are generated here,
// not committed: each is megabytes.

// duplicateSignalsSource is n copies of the same signal block.
func duplicateSignalsSource(n int) []byte {
	return []byte(strings.Repeat("signal \"USR1\" { action = \"restart\" }\n", n))
}

// manyAppsSource is n valid apps, each as a real service is written: a
// command, a unix listen socket of its own and a ready probe. 100,000 of
// them are about 13 MiB, under MaxFileSize.
func manyAppsSource(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `app "svc-%06d" {
  command = ["/opt/svc-%06d/bin/svc"]
  listen  = ["unix:/run/svc-%06d.sock"]
  ready { http = "/healthz" }
}
`, i, i, i)
	}
	return []byte(b.String())
}

// randomSource is n seeded random bytes: the same garbage on every run.
func randomSource(n int) []byte {
	r := rand.New(rand.NewPCG(11, 1))
	src := make([]byte, n)
	for i := range src {
		src[i] = byte(r.Uint32())
	}
	return src
}

// randomText is n seeded random characters of HCL's own alphabet: valid
// UTF-8, so it passes the text check and reaches the parser, which finds
// an error in nearly every token.
func randomText(n int) []byte {
	const alphabet = "abcdefghij{}[]()=\"\n #,.:0123456789-+*/<>!?$%&|\\'`~^@;"
	r := rand.New(rand.NewPCG(11, 2))
	src := make([]byte, n)
	for i := range src {
		src[i] = alphabet[r.IntN(len(alphabet))]
	}
	return src
}

// countingWriter counts what a renderer writes.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// benchLoad loads and renders src as `dewy validate` does, and reports the
// size of the rendered diagnostics.
func benchLoad(b *testing.B, src []byte) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	var out countingWriter
	for b.Loop() {
		out.n = 0
		res := LoadSource(src, "dewy.hcl", Inputs{})
		if err := WriteDiagnostics(&out, res.Files, res.Diags); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.n), "out-bytes")
}

func BenchmarkLoadDuplicateSignals10k(b *testing.B) { benchLoad(b, duplicateSignalsSource(10_000)) }

func BenchmarkLoad100kApps(b *testing.B) { benchLoad(b, manyAppsSource(100_000)) }

func BenchmarkLoadRandom1MB(b *testing.B) { benchLoad(b, randomSource(1<<20)) }

func BenchmarkLoadRandomText1MB(b *testing.B) { benchLoad(b, randomText(1<<20)) }
