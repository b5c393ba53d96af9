package artifact

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

// entry is one archive member: a file, a dir, a symlink, a hard link or a
// special file.
type entry struct {
	name, body, link string
	kind             byte // tar typeflag
	mode             int64
}

func file(name, body string) entry {
	return entry{name: name, body: body, kind: tar.TypeReg, mode: 0o644}
}
func exe(name, body string) entry {
	return entry{name: name, body: body, kind: tar.TypeReg, mode: 0o755}
}
func dir(name string) entry { return entry{name: name, kind: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) entry {
	return entry{name: name, link: to, kind: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) entry {
	return entry{name: name, link: to, kind: tar.TypeLink, mode: 0o644}
}

func tarOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Typeflag: e.kind, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body))}
		if e.kind != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.kind == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func xzOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := xz.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zipOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		switch e.kind {
		case tar.TypeDir:
			h.Name = strings.TrimSuffix(e.name, "/") + "/"
			h.SetMode(fs.ModeDir | 0o755)
		case tar.TypeSymlink:
			h.SetMode(fs.ModeSymlink | 0o777)
			e.body = e.link
		default:
			h.SetMode(fs.FileMode(e.mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// listing is every path below dir, for "nothing written outside" checks.
func listing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// unpackInSandbox writes the archive as name and unpacks it into
// sandbox/a/b/release, returning the error and the sandbox.
func unpackInSandbox(t testing.TB, name string, archive []byte, lim Limits) (string, error) {
	t.Helper()
	sandbox := t.TempDir()
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(sandbox, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	return sandbox, Unpack(context.Background(), src, name, filepath.Join(sandbox, "a", "b", "release"), lim)
}

func TestUnpackRefusesAndLeavesNothing(t *testing.T) {
	bomb := strings.Repeat("0", 1<<20)
	cases := []struct {
		name    string
		archive func(t *testing.T) (string, []byte)
		entry   string // named in the error
		lim     Limits
	}{
		{"tar dot-dot", func(t *testing.T) (string, []byte) {
			return "a.tar", tarOf(t, []entry{file("ok", "x"), file("../../evil", "x")})
		}, "../../evil", Limits{}},
		{"tar absolute", func(t *testing.T) (string, []byte) {
			return "a.tar.gz", gz(t, tarOf(t, []entry{file("/tmp/evil", "x")}))
		}, "/tmp/evil", Limits{}},
		{"tar symlink escaping", func(t *testing.T) (string, []byte) {
			return "a.tgz", gz(t, tarOf(t, []entry{symlink("up", "../../..")}))
		}, "up", Limits{}},
		{"tar symlink absolute then a file through it", func(t *testing.T) (string, []byte) {
			return "a.tar", tarOf(t, []entry{symlink("etc", "/etc"), file("etc/evil", "x")})
		}, "etc", Limits{}},
		{"tar nested symlink climbing out, then a file through it", func(t *testing.T) (string, []byte) {
			return "a.tar", tarOf(t, []entry{dir("d"), symlink("d/l", "../.."), file("d/l/evil", "x")})
		}, "d/l", Limits{}},
		{"tar hard link escaping", func(t *testing.T) (string, []byte) {
			return "a.tar", tarOf(t, []entry{hardlink("pw", "../../../etc/passwd")})
		}, "../../../etc/passwd", Limits{}},
		{"tar device", func(t *testing.T) (string, []byte) {
			return "a.tar", tarOf(t, []entry{{name: "null", kind: tar.TypeChar, mode: 0o644}})
		}, "null", Limits{}},
		{"tar bomb", func(t *testing.T) (string, []byte) {
			return "a.tar.gz", gz(t, tarOf(t, []entry{file("big1", bomb), file("big2", bomb)}))
		}, "big2", Limits{MaxBytes: 1<<20 + 100}},
		{"too many entries", func(t *testing.T) (string, []byte) {
			return "a.tar", tarOf(t, []entry{file("1", ""), file("2", ""), file("3", "")})
		}, "more than 2 entries", Limits{MaxFiles: 2}},
		{"truncated tar.gz", func(t *testing.T) (string, []byte) {
			b := gz(t, tarOf(t, []entry{file("f", strings.Repeat("data", 10000))}))
			return "a.tar.gz", b[:len(b)/2]
		}, "", Limits{}},
		{"zip dot-dot", func(t *testing.T) (string, []byte) {
			return "a.zip", zipOf(t, []entry{file("../evil", "x")})
		}, "../evil", Limits{}},
		{"zip symlink leaving", func(t *testing.T) (string, []byte) {
			return "a.zip", zipOf(t, []entry{symlink("l", "../../../../etc")})
		}, "l", Limits{}},
		{"zip bomb", func(t *testing.T) (string, []byte) {
			return "a.zip", zipOf(t, []entry{file("big", bomb)})
		}, "big", Limits{MaxBytes: 1000}},
		{"corrupt zip", func(t *testing.T) (string, []byte) {
			b := zipOf(t, []entry{file("f", "hello")})
			return "a.zip", b[:len(b)-10]
		}, "", Limits{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name, archive := c.archive(t)
			sandbox, err := unpackInSandbox(t, name, archive, c.lim)
			if err == nil {
				t.Fatal("unpacked without an error")
			}
			if c.entry != "" && !strings.Contains(err.Error(), c.entry) {
				t.Errorf("error %q does not name %q", err, c.entry)
			}
			if got := listing(t, sandbox); strings.Join(got, ",") != ",/a,/a/b" {
				t.Errorf("the sandbox holds %v after a refused archive; want only a/b", got)
			}
		})
	}
}

func TestUnpackFormats(t *testing.T) {
	es := []entry{dir("bin"), exe("bin/app", "#!/bin/sh\n"), file("conf/app.conf", "x=1"), symlink("app", "bin/app"), hardlink("bin/app2", "bin/app")}
	for _, c := range []struct {
		name    string
		archive []byte
	}{
		{"r.tar", tarOf(t, es)},
		{"r.tar.gz", gz(t, tarOf(t, es))},
		{"r.zip", zipOf(t, es[:4])},
		{"r.tar.xz", xzOf(t, tarOf(t, es))},
	} {
		t.Run(c.name, func(t *testing.T) {
			sandbox, err := unpackInSandbox(t, c.name, c.archive, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			rel := filepath.Join(sandbox, "a", "b", "release")
			fi, err := os.Stat(filepath.Join(rel, "bin", "app"))
			if err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Fatalf("bin/app: %v %v (want executable)", fi, err)
			}
			if b, _ := os.ReadFile(filepath.Join(rel, "conf", "app.conf")); string(b) != "x=1" {
				t.Errorf("conf/app.conf = %q", b)
			}
			if target, err := os.Readlink(filepath.Join(rel, "app")); err != nil || target != "bin/app" {
				t.Errorf("app -> %q %v", target, err)
			}
			if got := listing(t, filepath.Join(sandbox, "a", "b")); len(got) == 0 || strings.Contains(strings.Join(got, ","), ".tmp-") {
				t.Errorf("a temporary folder is left: %v", got)
			}
		})
	}
	// Anything else is a bare binary.
	sandbox, err := unpackInSandbox(t, "app_linux_amd64", []byte("\x7fELF"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(sandbox, "a", "b", "release", "app_linux_amd64"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("bare binary: %v %v", fi, err)
	}
}

func TestUnpackRefusesAnExistingDestination(t *testing.T) {
	dest := t.TempDir()
	src := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(src, tarOf(t, []entry{file("f", "x")}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Unpack(context.Background(), src, "a.tar", dest, Limits{}); err == nil {
		t.Fatal("unpacked over an existing folder")
	}
}

// failingReader fails after n bytes, once.
type failingReader struct {
	r    io.Reader
	n    int
	fail bool
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.fail && f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	if f.fail && len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestFetch(t *testing.T) {
	body := bytes.Repeat([]byte("release bytes "), 100_000)
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	calls := 0
	open := func(ctx context.Context) (io.ReadCloser, int64, error) {
		calls++
		// The first attempt is cut off half way.
		return io.NopCloser(&failingReader{r: bytes.NewReader(body), n: len(body) / 2, fail: calls == 1}), int64(len(body)), nil
	}
	dir := t.TempDir()
	p, got, err := Fetch(context.Background(), open, dir, "app.tar.gz", FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got != want || calls != 2 {
		t.Errorf("sum %s after %d attempts, want %s after 2", got, calls, want)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, body) {
		t.Error("the fetched file differs")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the cache holds %d files, want only the artifact (no partial file)", len(ents))
	}

	// Over the limit: refused, not retried, nothing left.
	calls = 0
	big := func(ctx context.Context) (io.ReadCloser, int64, error) {
		calls++
		return io.NopCloser(bytes.NewReader(body)), -1, nil // size unknown: counted on the way
	}
	dir2 := t.TempDir()
	if _, _, err := Fetch(context.Background(), big, dir2, "big", FetchOptions{MaxSize: 1000}); !errors.Is(err, ErrTooLarge) || calls != 1 {
		t.Errorf("too large: %v after %d attempts", err, calls)
	}
	if ents, _ := os.ReadDir(dir2); len(ents) != 0 {
		t.Errorf("a refused download left %d files", len(ents))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Fetch(ctx, open, t.TempDir(), "x", FetchOptions{}); err == nil {
		t.Error("a cancelled fetch succeeded")
	}
}

func TestVerify(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	cases := []struct {
		name     string
		files    map[string][]byte
		required bool
		want     string // "" for nil
	}{
		{"goreleaser", map[string][]byte{"checksums.txt": []byte(other + "  app_darwin.zip\n" + sum + "  app.tar.gz\n")}, true, ""},
		{"sha256sum binary mode", map[string][]byte{"SHA256SUMS": []byte(strings.ToUpper(sum) + " *app.tar.gz\n")}, true, ""},
		{"hex alone", map[string][]byte{"app.tar.gz.sha256": []byte(sum + "\n")}, true, ""},
		{"mismatch", map[string][]byte{"checksums.txt": []byte(other + "  app.tar.gz\n")}, false, "mismatch"},
		{"missing, optional", map[string][]byte{"checksums.txt": []byte(other + "  else\n")}, false, ""},
		{"missing, required", nil, true, "required"},
	}
	for _, c := range cases {
		err := Verify(sum, "app.tar.gz", c.files, c.required)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrChecksum)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
