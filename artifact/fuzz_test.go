package artifact

import (
	"strings"
	"testing"
)

// The property of every unpacker: whatever the bytes, nothing is written
// outside the release folder, and a refused archive leaves nothing at all.
func checkContained(t *testing.T, name string, data []byte) {
	sandbox, err := unpackInSandbox(t, name, data, Limits{MaxBytes: 1 << 20, MaxFiles: 1000})
	for _, p := range listing(t, sandbox) {
		switch {
		case p == "" || p == "/a" || p == "/a/b":
		case err == nil && (p == "/a/b/release" || strings.HasPrefix(p, "/a/b/release/")):
		default:
			t.Fatalf("%s (err %v) left %s", name, err, p)
		}
	}
}

func FuzzUnpackTar(f *testing.F) {
	f.Add(tarOf(f, []entry{dir("bin"), exe("bin/app", "x"), symlink("app", "bin/app")}))
	f.Add(tarOf(f, []entry{file("../evil", "x")}))
	f.Add(tarOf(f, []entry{symlink("l", "/etc"), file("l/passwd", "x")}))
	f.Add(tarOf(f, []entry{hardlink("h", "../x")}))
	f.Fuzz(func(t *testing.T, data []byte) { checkContained(t, "a.tar", data) })
}

func FuzzUnpackZip(f *testing.F) {
	f.Add(zipOf(f, []entry{dir("bin"), exe("bin/app", "x"), symlink("app", "bin/app")}))
	f.Add(zipOf(f, []entry{file("../evil", "x")}))
	f.Add(zipOf(f, []entry{symlink("l", "../../x")}))
	f.Fuzz(func(t *testing.T, data []byte) { checkContained(t, "a.zip", data) })
}
