package artifact

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// appEntries is the happy-path tree: explicit and implicit nested folders,
// an executable, a setuid file that must lose the bit, a private file, a
// symlink and (tar only) a hard link.
var appEntries = []entry{
	{name: "./", typ: tar.TypeDir, mode: 0o755},
	{name: "app/", typ: tar.TypeDir, mode: 0o755},
	{name: "app/bin/server", mode: 0o755, body: "#!/bin/sh\necho hi\n"},
	{name: "app/bin/suid", mode: 0o4755, body: "suid"},
	{name: "app/etc/conf.yaml", mode: 0o644, body: "port: 8080\n"},
	{name: "app/etc/private", mode: 0o600, body: "key"},
	{name: "./app/lib/deep/nested/x.txt", mode: 0o644, body: "nested\n"},
	{name: "app/run", typ: tar.TypeSymlink, link: "bin/server"},
	{name: "app/lib/deep/conf", typ: tar.TypeSymlink, link: "../../etc/conf.yaml"},
}

// appListing is what appEntries must unpack to (without the hard link).
var appListing = []string{
	". drwxr-xr-x",
	"app drwxr-xr-x",
	"app/bin drwxr-xr-x",
	"app/bin/server -rwxr-xr-x 18",
	"app/bin/suid -rwxr-xr-x 4",
	"app/etc drwxr-xr-x",
	"app/etc/conf.yaml -rw-r--r-- 11",
	"app/etc/private -rw------- 3",
	"app/lib drwxr-xr-x",
	"app/lib/deep drwxr-xr-x",
	"app/lib/deep/conf Lrwxrwxrwx -> ../../etc/conf.yaml",
	"app/lib/deep/nested drwxr-xr-x",
	"app/lib/deep/nested/x.txt -rw-r--r-- 7",
	"app/run Lrwxrwxrwx -> bin/server",
}

func TestUnpackFormats(t *testing.T) {
	withHardlink := append(slices0(appEntries), entry{name: "app/bin/server2", typ: tar.TypeLink, link: "app/bin/server"})
	tarListing := append(slices0(appListing), "app/bin/server2 -rwxr-xr-x 18")
	sortStrings(tarListing)
	plainTar := tarBytes(t, withHardlink)

	tests := []struct {
		artifact string
		data     []byte
		want     []string
	}{
		{"app_1.0_linux_amd64.tar", plainTar, tarListing},
		{"app_1.0_linux_amd64.tar.gz", gzipBytes(t, plainTar), tarListing},
		{"app_1.0_linux_amd64.TGZ", gzipBytes(t, plainTar), tarListing},
		{"app_1.0_linux_amd64.tar.xz", xzBytes(t, plainTar), tarListing},
		{"app_1.0_linux_amd64.zip", zipBytes(t, appEntries), appListing},
		{"app.tar.bz2", mustBase64(t, appTarBz2), []string{
			". drwxr-xr-x",
			"app drwxr-xr-x",
			"app/bin drwxr-xr-x",
			"app/bin/server -rwxr-xr-x 18",
			"app/lib drwxr-xr-x",
			"app/lib/deep drwxr-xr-x",
			"app/lib/deep/x.txt -rw-r--r-- 7",
			"app/run Lrwxrwxrwx -> bin/server",
		}},
		{"app_1.0_linux_amd64", []byte("\x7fELF binary"), []string{
			". drwxr-xr-x",
			"app_1.0_linux_amd64 -rwxr-xr-x 11",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.artifact, func(t *testing.T) {
			s := newSandbox(t, tt.artifact, tt.data)
			if err := Unpack(context.Background(), s.archive, tt.artifact, s.dest, Limits{}); err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if diff := cmp.Diff(tt.want, listing(t, s.dest)); diff != "" {
				t.Errorf("unpacked tree (-want +got):\n%s", diff)
			}
			if !strings.HasSuffix(tt.artifact, "amd64") {
				got, err := os.ReadFile(filepath.Join(s.dest, "app/run")) // through the symlink
				if err != nil || string(got) != "#!/bin/sh\necho hi\n" {
					t.Errorf("app/run = %q, %v", got, err)
				}
			}
			entries, _ := os.ReadDir(s.parent)
			if len(entries) != 1 {
				t.Errorf("parent holds %d entries, want only v1 (temporary folder left?)", len(entries))
			}
		})
	}
}

func slices0[T any](s []T) []T { return append([]T(nil), s...) }

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestUnpackDestExists(t *testing.T) {
	s := newSandbox(t, "app.tar", tarBytes(t, []entry{{name: "a", body: "a"}}))
	if err := os.Mkdir(s.dest, 0o755); err != nil {
		t.Fatal(err)
	}
	before := listing(t, s.sentinel)
	err := Unpack(context.Background(), s.archive, "app.tar", s.dest, Limits{})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Unpack into an existing folder: %v, want ErrExists", err)
	}
	if diff := cmp.Diff(before, listing(t, s.sentinel)); diff != "" {
		t.Errorf("sentinel changed:\n%s", diff)
	}
}

func TestUnpackCancelled(t *testing.T) {
	s := newSandbox(t, "app.tar.gz", gzipBytes(t, tarBytes(t, appEntries)))
	before := listing(t, s.sentinel)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Unpack(ctx, s.archive, "app.tar.gz", s.dest, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Unpack with a cancelled context: %v", err)
	}
	s.assertNoTrace(t, before)
}

// lyingZip is a zip whose only entry "bomb" claims 10 bytes but holds n
// zero bytes, deflated.
func lyingZip(t *testing.T, n int) []byte {
	var data bytes.Buffer
	zw := zip.NewWriter(&data)
	raw := deflate(t, make([]byte, n))
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "bomb", Method: zip.Deflate,
		CRC32:              crc32.ChecksumIEEE(make([]byte, n)),
		CompressedSize64:   uint64(len(raw)),
		UncompressedSize64: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	zw.Close()
	return data.Bytes()
}

func deflate(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
	w.Write(b)
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	off, err := zr.File[0].DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()[off : off+int64(zr.File[0].CompressedSize64)]
}

func TestUnpackRefuses(t *testing.T) {
	const mib = 1 << 20
	zeros := strings.Repeat("\x00", 3*mib)
	goodTarGz := gzipBytes(t, tarBytes(t, appEntries))
	goodZip := zipBytes(t, appEntries)
	manyFiles := make([]entry, 20)
	for i := range manyFiles {
		manyFiles[i] = entry{name: "f" + strings.Repeat("x", i), body: "x"}
	}
	tests := []struct {
		name     string
		artifact string
		// data builds the archive; outside is the absolute path of the
		// sandbox's outside folder, for absolute-path attacks.
		data      func(outside string) []byte
		limits    Limits
		wantErr   error
		wantEntry string // "" when the error is about the whole archive
	}{
		{"tar dotdot", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "ok", body: "x"}, {name: "../outside/pwned", body: "x"}})
		}, Limits{}, ErrUnsafe, "../outside/pwned"},
		{"tar dotdot inside name", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "a/../../x", body: "x"}})
		}, Limits{}, ErrUnsafe, "a/../../x"},
		{"tar absolute path", "a.tar.gz", func(o string) []byte {
			return gzipBytes(t, tarBytes(t, []entry{{name: o + "/pwned", body: "x"}}))
		}, Limits{}, ErrUnsafe, "/outside/pwned"},
		{"tar absolute symlink then file through it", "a.tar", func(o string) []byte {
			return tarBytes(t, []entry{{name: "link", typ: tar.TypeSymlink, link: o}, {name: "link/pwned", body: "x"}})
		}, Limits{}, ErrUnsafe, "link"},
		{"tar inside symlink then file through it", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "sub/", typ: tar.TypeDir}, {name: "link", typ: tar.TypeSymlink, link: "sub"}, {name: "link/pwned", body: "x"}})
		}, Limits{}, ErrUnsafe, "link/pwned"},
		{"tar symlink then file replacing it", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "link", typ: tar.TypeSymlink, link: "x"}, {name: "link", body: "x"}})
		}, Limits{}, ErrUnsafe, "link"},
		{"tar relative symlink escaping", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "a/b/link", typ: tar.TypeSymlink, link: "../../../outside"}})
		}, Limits{}, ErrUnsafe, "a/b/link"},
		{"tar symlink chain escaping", "a.tar", func(string) []byte {
			// d/x -> .. is the root, so y -> d/x/.. would be the parent.
			return tarBytes(t, []entry{
				{name: "d/x", typ: tar.TypeSymlink, link: ".."},
				{name: "y", typ: tar.TypeSymlink, link: "d/x/.."},
			})
		}, Limits{}, ErrUnsafe, "y"},
		{"tar hard link escaping", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "h", typ: tar.TypeLink, link: "../outside/secret"}})
		}, Limits{}, ErrUnsafe, "h"},
		{"tar hard link absolute", "a.tar", func(o string) []byte {
			return tarBytes(t, []entry{{name: "h", typ: tar.TypeLink, link: o + "/secret"}})
		}, Limits{}, ErrUnsafe, "h"},
		{"tar hard link to a symlink", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{
				{name: "a/b/s", typ: tar.TypeSymlink, link: "../../x"},
				{name: "h", typ: tar.TypeLink, link: "a/b/s"},
			})
		}, Limits{}, ErrUnsafe, "h"},
		{"tar hard link through a symlink", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{
				{name: "d/f", body: "x"},
				{name: "s", typ: tar.TypeSymlink, link: "d"},
				{name: "h", typ: tar.TypeLink, link: "s/f"},
			})
		}, Limits{}, ErrUnsafe, "h"},
		{"tar char device", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "null", typ: tar.TypeChar}})
		}, Limits{}, ErrUnsafe, "null"},
		{"tar block device", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "sda", typ: tar.TypeBlock}})
		}, Limits{}, ErrUnsafe, "sda"},
		{"tar fifo", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "fifo", typ: tar.TypeFifo}})
		}, Limits{}, ErrUnsafe, "fifo"},
		{"tar backslash", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: `..\evil`, body: "x"}})
		}, Limits{}, ErrUnsafe, `..\evil`},
		{"tar file under a file", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: "a", body: "x"}, {name: "a/b", body: "x"}})
		}, Limits{}, ErrUnsafe, "a/b"},
		{"tar.gz bomb", "a.tar.gz", func(string) []byte {
			return gzipBytes(t, tarBytes(t, []entry{{name: "small", body: "x"}, {name: "bomb", body: zeros}}))
		}, Limits{MaxUnpackedSize: mib}, ErrLimit, "bomb"},
		{"tar.xz bomb", "a.tar.xz", func(string) []byte {
			return xzBytes(t, tarBytes(t, []entry{{name: "bomb", body: zeros}}))
		}, Limits{MaxUnpackedSize: mib}, ErrLimit, "bomb"},
		{"tar too many files", "a.tar", func(string) []byte {
			return tarBytes(t, manyFiles)
		}, Limits{MaxFiles: 10}, ErrLimit, manyFiles[10].name},
		{"tar too many implicit folders", "a.tar", func(string) []byte {
			return tarBytes(t, []entry{{name: strings.Repeat("d/", 20) + "f", body: "x"}})
		}, Limits{MaxFiles: 10}, ErrLimit, strings.Repeat("d/", 20) + "f"},
		{"truncated tar.gz", "a.tar.gz", func(string) []byte {
			return goodTarGz[:len(goodTarGz)/2]
		}, Limits{}, ErrCorrupt, ""},
		{"tar.gz with a bad CRC", "a.tar.gz", func(string) []byte {
			b := slices0(goodTarGz)
			b[len(b)-6] ^= 0xff // the CRC32 in the trailer
			return b
		}, Limits{}, ErrCorrupt, ""},
		{"truncated plain tar at an entry boundary", "a.tar", func(string) []byte {
			b := tarBytes(t, []entry{{name: "a", body: "x"}, {name: "b", body: "y"}})
			return b[:512+512] // header and data of "a", no end marker
		}, Limits{}, ErrCorrupt, ""},
		{"corrupt tar.xz", "a.tar.xz", func(string) []byte {
			return []byte("not xz at all")
		}, Limits{}, ErrCorrupt, ""},
		{"corrupt tar.bz2", "a.tar.bz2", func(string) []byte {
			return []byte("BZh9 not bzip2")
		}, Limits{}, ErrCorrupt, ""},
		{"zip dotdot", "a.zip", func(string) []byte {
			return zipBytes(t, []entry{{name: "../outside/pwned", body: "x"}})
		}, Limits{}, ErrUnsafe, "../outside/pwned"},
		{"zip absolute", "a.zip", func(o string) []byte {
			return zipBytes(t, []entry{{name: o + "/pwned", body: "x"}})
		}, Limits{}, ErrUnsafe, "/outside/pwned"},
		{"zip symlink escaping", "a.zip", func(string) []byte {
			return zipBytes(t, []entry{{name: "link", typ: tar.TypeSymlink, link: "../outside"}, {name: "link/pwned", body: "x"}})
		}, Limits{}, ErrUnsafe, "link"},
		{"zip absolute symlink", "a.zip", func(o string) []byte {
			return zipBytes(t, []entry{{name: "link", typ: tar.TypeSymlink, link: o}})
		}, Limits{}, ErrUnsafe, "link"},
		{"zip device", "a.zip", func(string) []byte {
			return zipBytes(t, []entry{{name: "null", typ: tar.TypeChar}})
		}, Limits{}, ErrUnsafe, "null"},
		{"zip bomb", "a.zip", func(string) []byte {
			return zipBytes(t, []entry{{name: "bomb", body: zeros}})
		}, Limits{MaxUnpackedSize: mib}, ErrLimit, "bomb"},
		{"zip lying about its size", "a.zip", func(string) []byte {
			return lyingZip(t, 3*mib)
		}, Limits{MaxUnpackedSize: mib}, nil, "bomb"}, // ErrLimit or ErrCorrupt: both refuse
		{"zip too many files", "a.zip", func(string) []byte {
			return zipBytes(t, manyFiles)
		}, Limits{MaxFiles: 10}, ErrLimit, ""},
		{"corrupt zip", "a.zip", func(string) []byte {
			return []byte("PK\x03\x04 this is not a zip")
		}, Limits{}, ErrCorrupt, ""},
		{"zip with a bad CRC", "a.zip", func(string) []byte {
			b := zipBytes(t, []entry{{name: "f", body: strings.Repeat("hello ", 100)}})
			b[40] ^= 0xff // inside the deflated data of "f"
			return b
		}, Limits{}, ErrCorrupt, "f"},
		{"truncated zip", "a.zip", func(string) []byte {
			return goodZip[:len(goodZip)-30]
		}, Limits{}, ErrCorrupt, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t, tt.artifact, nil)
			if err := os.WriteFile(s.archive, tt.data(filepath.Join(s.sentinel, "outside")), 0o644); err != nil {
				t.Fatal(err)
			}
			before := listing(t, s.sentinel)
			err := Unpack(context.Background(), s.archive, tt.artifact, s.dest, tt.limits)
			if err == nil {
				t.Fatalf("Unpack succeeded; listing:\n%s", strings.Join(listing(t, s.dest), "\n"))
			}
			t.Logf("error: %v", err)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !errors.Is(err, ErrLimit) && !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v, want ErrLimit or ErrCorrupt", err)
			}
			if tt.wantEntry != "" {
				var ee *EntryError
				if !errors.As(err, &ee) {
					t.Errorf("error %v is not an *EntryError", err)
				} else if !strings.HasSuffix(ee.Entry, tt.wantEntry) {
					t.Errorf("error names entry %q, want %q", ee.Entry, tt.wantEntry)
				}
				if !strings.Contains(err.Error(), strconv.Quote(tt.wantEntry)[1:]) {
					t.Errorf("error %q does not name %q", err, tt.wantEntry)
				}
			}
			if !strings.Contains(err.Error(), tt.artifact) {
				t.Errorf("error %q does not name the artifact", err)
			}
			s.assertNoTrace(t, before)
		})
	}
}

// TestRootRefusesEscapingLink proves the second line of defence: even if a
// link leaving the folder got into the tree (here made by hand, as the
// checks refuse to create one), writing a file through it fails.
func TestRootRefusesEscapingLink(t *testing.T) {
	s := newSandbox(t, "x", nil)
	tmp := filepath.Join(s.parent, "v1.tmp-manual")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(s.sentinel, "outside"), filepath.Join(tmp, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(tmp, "rel")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(tmp)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	before := listing(t, filepath.Join(s.sentinel, "outside"))
	x := &extractor{ctx: context.Background(), root: root, limits: Limits{}.withDefaults(),
		dirs: map[string]struct{}{".": {}, "abs": {}, "rel": {}}, // lie: pretend they are folders
		buf:  make([]byte, 1024)}
	for _, name := range []string{"abs/pwned", "rel/pwned"} {
		if err := x.writeFile(name, name, 0o644, strings.NewReader("x")); err == nil {
			t.Errorf("writeFile(%q) through an escaping link succeeded", name)
		} else {
			t.Logf("writeFile(%q): %v", name, err)
		}
	}
	if diff := cmp.Diff(before, listing(t, filepath.Join(s.sentinel, "outside"))); diff != "" {
		t.Errorf("outside changed:\n%s", diff)
	}
}

func TestDetectFormat(t *testing.T) {
	for name, want := range map[string]Format{
		"a.tar": Tar, "a.tar.gz": TarGz, "A.TGZ": TarGz, "a.tar.xz": TarXz, "a.txz": TarXz,
		"a.tar.bz2": TarBz2, "a.tbz2": TarBz2, "a.zip": Zip, "app_linux_amd64": Binary,
		"app.gz": Binary, "app.exe": Binary,
	} {
		if got := DetectFormat(name); got != want {
			t.Errorf("DetectFormat(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestCheckSymlink(t *testing.T) {
	tests := []struct {
		name, target string
		ok           bool
	}{
		{"a", "b", true},
		{"a", "./b/c", true},
		{"a/b", "../c", true},
		{"a/b/c", "../../x/y", true},
		{"a", "..", false},
		{"a/b", "../..", false},
		{"a", "/etc", false},
		{"a", "", false},
		{"a/b", "c/../d", false},
		{"a/b", "c/../../..", false},
		{"a/b/c", ".././../x", true},
	}
	for _, tt := range tests {
		err := checkSymlink(tt.name, tt.target)
		if (err == nil) != tt.ok {
			t.Errorf("checkSymlink(%q, %q) = %v, want ok=%v", tt.name, tt.target, err, tt.ok)
		}
	}
}
