package artifact

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ulikunitz/xz"
)

// entry describes one archive entry for the generated test archives.
type entry struct {
	name string
	typ  byte // a tar type flag; 0 means a regular file
	mode int64
	body string
	link string // symlink or hard link target
}

func tarBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Format: tar.FormatPAX}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if typ == tar.TypeChar || typ == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipBytes writes entries as a zip; typ may be 0 (file), TypeDir or
// TypeSymlink (the target is the body, as Info-ZIP stores it).
func zipBytes(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := fs.FileMode(e.mode)
		if mode == 0 {
			mode = 0o644
		}
		body := e.body
		switch e.typ {
		case tar.TypeDir:
			fh.SetMode(fs.ModeDir | 0o755)
		case tar.TypeSymlink:
			fh.SetMode(fs.ModeSymlink | 0o777)
			body = e.link
		case tar.TypeChar:
			fh.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o644)
		default:
			fh.SetMode(mode)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// appTarBz2 is a small tar.bz2 made with GNU tar (the standard library has
// no bzip2 writer): app/, app/bin/server (0755, "#!/bin/sh\necho hi\n"),
// app/lib/deep/x.txt (0644, "nested\n"), app/run -> bin/server.
const appTarBz2 = `QlpoOTFBWSZTWZxub4UAASRfgNuQaAH/gAABGWR+Zd9ABQgwAPjQYGQZAAYjQZDIDCNRko9ExpGJ
gAQ0NGAikp6mSaemp5TTEAD0ymmTbVKc/22IPyLtwRatZbApHYgDPbwglWb4Cdos1vCqctC1gDCJ
hllsW5al5cM8+nLfJ9NBINDGsvvuUDwWAF+frLE45bQXDEWyWtZSJqqAysYi8lsJAHGA4wHmsIja
CUnMF6AUA+jT8vFM0pJZyV4+KUxX4cTVHQgx04Eyhme8buuWb9hY07gvqswWKLBC1yIa1llsA686
UhJGrd5oB/i7kinChITjc3wo`

func mustBase64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sandbox is the layout every unpack test runs in:
//
//	sentinel/outside/secret     a folder an escaping entry would reach
//	sentinel/releases/          the parent of dest
//	sentinel/releases/v1        dest, which Unpack creates
//
// The archive itself lives in another temporary folder, so the listing of
// sentinel shows exactly what Unpack wrote.
type sandbox struct {
	sentinel, parent, dest, archive string
}

func newSandbox(t testing.TB, artifactName string, data []byte) *sandbox {
	t.Helper()
	s := &sandbox{sentinel: t.TempDir()}
	s.parent = filepath.Join(s.sentinel, "releases")
	s.dest = filepath.Join(s.parent, "v1")
	for _, d := range []string{s.parent, filepath.Join(s.sentinel, "outside")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.sentinel, "outside", "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.archive = filepath.Join(t.TempDir(), artifactName)
	if err := os.WriteFile(s.archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// listing returns one line per file under dir (recursive, links not
// followed): relative path, type and permissions, size or link target.
func listing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v", filepath.ToSlash(rel), fi.Mode())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			line += fmt.Sprintf(" %d", fi.Size())
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// assertNoTrace checks that a failed Unpack left the sandbox as it found it:
// no dest, no temporary folder, nothing written anywhere under sentinel.
func (s *sandbox) assertNoTrace(t testing.TB, before []string) {
	t.Helper()
	if _, err := os.Lstat(s.dest); !os.IsNotExist(err) {
		t.Errorf("dest %s exists after a failed Unpack (Lstat: %v)", s.dest, err)
	}
	if diff := cmp.Diff(before, listing(t, s.sentinel)); diff != "" {
		t.Errorf("sentinel folder changed (-before +after):\n%s", diff)
	}
	entries, _ := os.ReadDir(s.parent)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary folder %s left behind", e.Name())
		}
	}
}
