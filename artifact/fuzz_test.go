package artifact

import (
	"archive/tar"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedEntries are the archives the fuzzers start from: a small tree with
// each kind of entry, and one of each attack the table tests refuse. They
// are kept small: the fuzzer minimizes every new interesting input, at a
// cost of one execution per byte or so.
var seedEntries = [][]entry{
	{
		{name: "./", typ: tar.TypeDir, mode: 0o755},
		{name: "app/bin/server", mode: 0o4755, body: "#!/bin/sh\n"},
		{name: "app/run", typ: tar.TypeSymlink, link: "bin/server"},
		{name: "app/server2", typ: tar.TypeLink, link: "app/bin/server"},
	},
	{{name: "../outside/pwned", body: "x"}},
	{{name: "/outside/pwned", body: "x"}},
	{{name: "link", typ: tar.TypeSymlink, link: "../outside"}, {name: "link/pwned", body: "x"}},
	{{name: "sub/", typ: tar.TypeDir}, {name: "link", typ: tar.TypeSymlink, link: "sub"}, {name: "link/pwned", body: "x"}},
	{{name: "d/x", typ: tar.TypeSymlink, link: ".."}, {name: "y", typ: tar.TypeSymlink, link: "d/x/.."}},
	{{name: "h", typ: tar.TypeLink, link: "../outside/secret"}},
	{{name: "a/b/s", typ: tar.TypeSymlink, link: "../../x"}, {name: "h", typ: tar.TypeLink, link: "a/b/s"}},
	{{name: "null", typ: tar.TypeChar}},
	{{name: "a", body: "x"}, {name: "a/b", body: "x"}},
}

// fuzzLimits keep each fuzz run small.
var fuzzLimits = Limits{MaxUnpackedSize: 1 << 20, MaxFiles: 200}

// checkUnpack runs Unpack on data and checks the safety properties whatever
// the outcome: no panic; on error, no trace at all; on success, nothing new
// outside dest, every link inside dest resolves inside it, and no file is
// setuid, setgid or sticky.
func checkUnpack(t *testing.T, artifact string, data []byte) {
	s := newFuzzSandbox(t, artifact, data)
	before := listing(t, s.sentinel)
	err := Unpack(context.Background(), s.archive, artifact, s.dest, fuzzLimits)
	if err != nil {
		if !errors.Is(err, ErrUnsafe) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrLimit) {
			// Not a failure of the property, but an error class a caller
			// cannot branch on: worth knowing about.
			t.Logf("unclassified error: %v", err)
		}
		s.assertNoTrace(t, before)
		return
	}
	old := make(map[string]bool, len(before))
	for _, l := range before {
		old[l] = true
	}
	for _, l := range listing(t, s.sentinel) {
		if old[l] {
			delete(old, l)
			continue
		}
		if !strings.HasPrefix(l, "releases/v1 ") && !strings.HasPrefix(l, "releases/v1/") {
			t.Errorf("Unpack succeeded and wrote %q outside dest", l)
		}
	}
	for l := range old {
		t.Errorf("Unpack succeeded and changed %q outside dest", l)
	}
	root, err := os.OpenRoot(s.dest)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	err = filepath.WalkDir(s.dest, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.dest, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
			t.Errorf("%s has mode %v", rel, fi.Mode())
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// os.Root follows links only while they stay inside.
			if _, err := root.Stat(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
				target, _ := os.Readlink(p)
				t.Errorf("link %s -> %s does not resolve inside dest: %v", rel, target, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzUnpackTar(f *testing.F) {
	for _, entries := range seedEntries {
		f.Add(tarBytes(f, entries))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnpack(t, "fuzz.tar", data)
	})
}

func FuzzUnpackZip(f *testing.F) {
	for _, entries := range seedEntries {
		var zipped []entry
		for _, e := range entries {
			if e.typ != tar.TypeLink { // zip has no hard links
				zipped = append(zipped, e)
			}
		}
		f.Add(zipBytes(f, zipped))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnpack(t, "fuzz.zip", data)
	})
}

// FuzzParseChecksums: the parser never panics, and what it accepts is
// well-formed (64 lowercase hex digits, a non-empty name) and verifies.
func FuzzParseChecksums(f *testing.F) {
	f.Add([]byte(sumA + "  app.tar.gz\n" + sumB + " *./other.zip\r\n# c\n"))
	f.Add([]byte("SHA256 (app) = " + sumA))
	f.Add([]byte(`\` + sumA + `  a\\b\n`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sums, err := ParseChecksums(data)
		if err != nil {
			return
		}
		for name, sum := range sums {
			if name == "" || !isSHA256Hex(sum) {
				t.Fatalf("accepted %q: %q", name, sum)
			}
			if err := Verify(sum, name, map[string][]byte{"checksums.txt": data}, true); err != nil {
				t.Fatalf("Verify(%q, %q) on the file it was parsed from: %v", sum, name, err)
			}
		}
	})
}

// newFuzzSandbox is newSandbox in a RAM file system when there is one: on a
// disk mounted with "discard" removing a sandbox took 14 ms, which made the
// fuzzer's minimization crawl at a few executions per second.
func newFuzzSandbox(t *testing.T, artifact string, data []byte) *sandbox {
	dir := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir = "/dev/shm"
	}
	base, err := os.MkdirTemp(dir, "dewy-fuzz-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	s := &sandbox{sentinel: filepath.Join(base, "s")}
	s.parent = filepath.Join(s.sentinel, "releases")
	s.dest = filepath.Join(s.parent, "v1")
	s.archive = filepath.Join(base, artifact)
	for _, d := range []string{s.sentinel, s.parent, filepath.Join(s.sentinel, "outside")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.sentinel, "outside", "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}
