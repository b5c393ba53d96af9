package deploy

// The bad inputs of the deploy issue, each against a real Deployer with a
// real file registry (or a GitHub registry against an HTTP server): a
// good v1.0.0 is deployed first, then a bad v1.1.0 is published and
// deployed. In every case the app keeps its current release, nothing is
// written outside the release folder, and the version is not tried again;
// a registry that fails or hangs teaches no version, so nothing is marked
// and the next deploy asks again.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/artifact"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/engine/release"
	"github.com/dewyhq/dewy/internal/testutil"
	"github.com/dewyhq/dewy/registry"
	"github.com/dewyhq/dewy/registry/file"
	"github.com/dewyhq/dewy/registry/ghr"
)

// countingRegistry passes calls to the registry it holds (which a test
// may swap) and counts the files opened: a version that is not retried
// is never opened again.
type countingRegistry struct {
	mu    sync.Mutex
	src   registry.Registry
	opens map[string]int // "version/file"
}

func (c *countingRegistry) set(r registry.Registry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.src = r
}

func (c *countingRegistry) source() registry.Registry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.src
}

func (c *countingRegistry) Releases(ctx context.Context) ([]registry.Release, error) {
	return c.source().Releases(ctx)
}

func (c *countingRegistry) Open(ctx context.Context, version, file string) (io.ReadCloser, int64, error) {
	c.mu.Lock()
	c.opens[version+"/"+file]++
	c.mu.Unlock()
	return c.source().Open(ctx, version, file)
}

func (c *countingRegistry) Report(ctx context.Context, r registry.Report) error {
	return c.source().Report(ctx, r)
}

// opened is how many times a file of version was opened.
func (c *countingRegistry) opened(version string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.opens {
		if strings.HasPrefix(k, version+"/") {
			n += v
		}
	}
	return n
}

// world is one app deployed from a file registry, laid out under root so
// that an archive entry climbing up to five folders lands inside root,
// where the test sees it:
//
//	root/srv/app/web/        the app's dir (releases/, current)
//	root/state/              the agent's state folder (cache, bad versions)
//	root/registry/<version>/ the file registry
type world struct {
	root, appDir, stateDir, regDir string
	reg                            *countingRegistry
	d                              *Deployer

	mu sync.Mutex
	// restarts are the causes Restart was called with.
	restarts []string
	// during is the release current pointed at during each restart.
	during []string
	// restartErr, when set, is Restart's answer for a cause.
	restartErr func(cause string) error

	// v1 is the id of the good release deployed first.
	v1 string
}

// newWorld makes the folders and a Deployer; appDir, when not empty, is
// the app's dir (a mount point the test made).
func newWorld(t *testing.T, appDir string, opt func(*Options)) *world {
	t.Helper()
	root := t.TempDir()
	w := &world{root: root, appDir: appDir, stateDir: filepath.Join(root, "state"), regDir: filepath.Join(root, "registry")}
	if w.appDir == "" {
		w.appDir = filepath.Join(root, "srv", "app", "web")
	}
	if err := os.MkdirAll(w.regDir, 0o755); err != nil {
		t.Fatal(err)
	}
	fr, err := file.New(w.regDir)
	if err != nil {
		t.Fatal(err)
	}
	w.reg = &countingRegistry{src: fr, opens: map[string]int{}}
	o := Options{
		App:      plan.App{Name: "web", Dir: w.appDir, Registry: "r", Command: []string{"/bin/web"}, Keep: 3},
		Registry: plan.Registry{Name: "r"}, // the artifact is picked by OS and architecture
		Source:   w.reg,
		StateDir: w.stateDir,
		Host:     "h1",
		Logger:   zerolog.Nop(),
		Restart:  w.restart,
	}
	if opt != nil {
		opt(&o)
	}
	if w.d, err = New(o); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) restart(_ context.Context, cause string) error {
	cur, _ := release.NewDir(w.appDir).Current()
	w.mu.Lock()
	w.restarts = append(w.restarts, cause)
	w.during = append(w.during, cur)
	f := w.restartErr
	w.mu.Unlock()
	if f != nil {
		return f(cause)
	}
	return nil
}

func (w *world) restartCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.restarts)
}

// artifactName is the name PickArtifact takes on this machine.
func artifactName(ext string) string {
	return "web_" + runtime.GOOS + "_" + runtime.GOARCH + ext
}

// publish copies a release in as the file registry's doc says: under a
// hidden name, then renamed.
func (w *world) publish(t *testing.T, version string, files map[string][]byte) {
	t.Helper()
	tmp := filepath.Join(w.regDir, "."+version)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(w.regDir, version)); err != nil {
		t.Fatal(err)
	}
}

// deployGood deploys v1.0.0, a tar.gz holding the file "web".
func (w *world) deployGood(t *testing.T) {
	t.Helper()
	w.publish(t, "v1.0.0", map[string][]byte{artifactName(".tar.gz"): tarGz(t, []entry{{name: "web", body: "v1"}})})
	if err := w.d.Deploy(context.Background(), "test"); err != nil {
		t.Fatalf("deploy of the good v1.0.0: %v", err)
	}
	cur, err := release.NewDir(w.appDir).Current()
	if err != nil || release.VersionOf(cur) != "v1.0.0" {
		t.Fatalf("after the good deploy current is %q (%v), want a v1.0.0 release", cur, err)
	}
	w.v1 = cur
}

// snapshot lists every path under root but the state folder and the
// registry (which a failed deploy writes to on purpose), with its kind,
// and a link's target or a file's size.
func (w *world) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(w.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == w.stateDir || p == w.regDir {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(w.root, p)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link -> " + target
		case e.IsDir():
			out[rel] = "dir"
		default:
			fi, err := e.Info()
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %d bytes", fi.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// assertKept checks what every bad input must leave: an error naming the
// problem, current where it was and serving v1.0.0's files, no folder of
// the bad release (finished or not) in releases/, an empty download
// cache, and nothing else changed on disk.
func (w *world) assertKept(t *testing.T, err error, before map[string]string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Deploy of the bad release returned nil")
	}
	for _, s := range want {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
	dir := release.NewDir(w.appDir)
	if cur, err := dir.Current(); err != nil || cur != w.v1 {
		t.Errorf("current is %q (%v), want %q as before", cur, err, w.v1)
	}
	if b, err := os.ReadFile(filepath.Join(dir.CurrentLink(), "web")); err != nil || string(b) != "v1" {
		t.Errorf("current/web holds %q (%v), want v1.0.0's", b, err)
	}
	ents, err := os.ReadDir(dir.Releases())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{w.v1}, names); diff != "" {
		t.Errorf("releases/ (-want +got), nothing of v1.1.0 may stay:\n%s", diff)
	}
	if ents, err := os.ReadDir(filepath.Join(w.stateDir, "cache", "web")); err == nil && len(ents) != 0 {
		t.Errorf("the download cache keeps %d entries after the failed deploy", len(ents))
	}
	if diff := cmp.Diff(before, w.snapshot(t)); diff != "" {
		t.Errorf("the failed deploy changed the disk outside the state folder and the registry (-before +after):\n%s", diff)
	}
}

// assertNotRetried checks that version is remembered as bad (in memory
// and in the state file) and that the next deploy leaves it alone: no
// error, not one file of it opened, no restart.
func (w *world) assertNotRetried(t *testing.T, version string) {
	t.Helper()
	if why := w.d.state.Bad[version]; why == "" {
		t.Errorf("%s is not in the bad state: %v", version, w.d.state.Bad)
	}
	st, err := release.LoadState(filepath.Join(w.stateDir, "apps", "web.json"))
	if err != nil || st.Bad[version] == "" {
		t.Errorf("the state file does not remember %s as bad: %v, %v", version, st, err)
	}
	opens, restarts := w.reg.opened(version), w.restartCount()
	if err := w.d.Deploy(context.Background(), "poll"); err != nil {
		t.Errorf("the next deploy: %v, want nil (nothing to do)", err)
	}
	if n := w.reg.opened(version) - opens; n != 0 {
		t.Errorf("the next deploy opened %d files of %s again", n, version)
	}
	if n := w.restartCount() - restarts; n != 0 {
		t.Errorf("the next deploy restarted the app %d times", n)
	}
	if cur, _ := release.NewDir(w.appDir).Current(); cur != w.v1 {
		t.Errorf("after the next deploy current is %q, want %q", cur, w.v1)
	}
}

// entry is one member of a test archive.
type entry struct {
	name, body string
	typ        byte // tar.TypeReg when 0
	link       string
}

func tarBytes(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: 0o755, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil && h.Size > 0 {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarGz(t *testing.T, es []entry) []byte { return gz(t, tarBytes(t, es)) }

// zipBytes writes es deflated; a tar.TypeSymlink entry becomes a zip
// symbolic link (its target as content).
func zipBytes(t *testing.T, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		body := e.body
		if e.typ == tar.TypeSymlink {
			h.SetMode(fs.ModeSymlink | 0o777)
			body = e.link
		} else {
			h.SetMode(0o755)
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(fw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lyingZipBomb is a zip whose only entry "bomb" claims 10 bytes and holds
// n zero bytes: the header a bomb shows to tools that trust it.
func lyingZipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var deflated bytes.Buffer // the raw deflate stream of n zeros, cut from a real zip
	zw := zip.NewWriter(&deflated)
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(make([]byte, n))
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(deflated.Bytes()), int64(deflated.Len()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)

	var buf bytes.Buffer
	zw = zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "bomb", Method: zip.Deflate, CRC32: zr.File[0].CRC32,
		CompressedSize64: uint64(len(raw)), UncompressedSize64: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// manyEntriesZip is a zip of n empty stored files: a bomb of entries
// rather than bytes.
func manyEntriesZip(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestABadReleaseLeavesTheCurrentOneServing: bad archives, a checksum
// mismatch, a before_deploy hook that fails or hangs, and a new release
// that exits at once or is never ready.
func TestABadReleaseLeavesTheCurrentOneServing(t *testing.T) {
	tgz := artifactName(".tar.gz")
	zipName := artifactName(".zip")
	goodV2 := func(t *testing.T, _ string) map[string][]byte {
		return map[string][]byte{tgz: tarGz(t, []entry{{name: "web", body: "v2"}})}
	}
	hookMarker := "" // set per case; a folder outside the world
	tests := []struct {
		name string
		// files of v1.1.0; root is the world's root (for absolute paths).
		files func(t *testing.T, root string) map[string][]byte
		opt   func(*Options)
		// restartErr answers Restart for v1.1.0.
		restartErr error
		want       []string
		// check runs after the bad deploy.
		check func(t *testing.T, w *world, err error)
	}{
		{
			name: "corrupt archive",
			files: func(t *testing.T, _ string) map[string][]byte {
				return map[string][]byte{tgz: bytes.Repeat([]byte("not a gzip stream "), 200)}
			},
			want: []string{tgz, "gzip", "corrupt archive"},
		},
		{
			name: "truncated archive",
			files: func(t *testing.T, _ string) map[string][]byte {
				b := tarGz(t, []entry{{name: "web", body: string(randomBytes(64 << 10))}})
				return map[string][]byte{tgz: b[:len(b)/2]}
			},
			want: []string{tgz, `entry "web"`, "corrupt archive"},
		},
		{
			name: "tar with ../x",
			files: func(t *testing.T, _ string) map[string][]byte {
				return map[string][]byte{tgz: tarGz(t, []entry{{name: "web", body: "v2"}, {name: "../x", body: "pwned"}})}
			},
			want: []string{`entry "../x"`, "unsafe archive entry"},
			check: func(t *testing.T, w *world, _ error) {
				// ../x from the unpack folder is releases/x.
				if _, err := os.Lstat(filepath.Join(w.appDir, "releases", "x")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("releases/x exists (%v): the entry was written outside the release folder", err)
				}
			},
		},
		{
			name: "tar with an absolute path",
			files: func(t *testing.T, root string) map[string][]byte {
				return map[string][]byte{tgz: tarGz(t, []entry{{name: "web", body: "v2"}, {name: filepath.Join(root, "abs"), body: "pwned"}})}
			},
			want: []string{"absolute path", "unsafe archive entry"},
			check: func(t *testing.T, w *world, err error) {
				if !strings.Contains(err.Error(), fmt.Sprintf("entry %q", filepath.Join(w.root, "abs"))) {
					t.Errorf("error %q does not name the absolute entry", err)
				}
				if _, err := os.Lstat(filepath.Join(w.root, "abs")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the absolute path was written (%v)", err)
				}
			},
		},
		{
			name: "tar with a symlink out and a file written through it",
			files: func(t *testing.T, root string) map[string][]byte {
				return map[string][]byte{tgz: tarGz(t, []entry{
					{name: "web", body: "v2"},
					{name: "lnk", typ: tar.TypeSymlink, link: "../../.."},
					{name: "lnk/pwned", body: "pwned"},
				})}
			},
			want: []string{`entry "lnk"`, "leaves the folder", "unsafe archive entry"},
			check: func(t *testing.T, w *world, _ error) {
				// ../../.. from releases/<id>.tmp-* is srv/.
				if _, err := os.Lstat(filepath.Join(w.root, "srv", "pwned")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a file was written through the link (%v)", err)
				}
			},
		},
		{
			name: "tar with a symlink in and a file written through it",
			files: func(t *testing.T, root string) map[string][]byte {
				return map[string][]byte{tgz: tarGz(t, []entry{
					{name: "web", body: "v2"},
					{name: "sub/", typ: tar.TypeDir},
					{name: "lnk", typ: tar.TypeSymlink, link: "sub"},
					{name: "lnk/pwned", body: "pwned"},
				})}
			},
			want: []string{`entry "lnk/pwned"`, "symbolic link", "unsafe archive entry"},
		},
		{
			name: "zip with a link leaving the folder",
			files: func(t *testing.T, root string) map[string][]byte {
				return map[string][]byte{zipName: zipBytes(t, []entry{
					{name: "web", body: "v2"},
					{name: "lnk", typ: tar.TypeSymlink, link: "../../../../.."},
					{name: "lnk/pwned", body: "pwned"},
				})}
			},
			want: []string{zipName, `entry "lnk"`, "leaves the folder", "unsafe archive entry"},
			check: func(t *testing.T, w *world, _ error) {
				if _, err := os.Lstat(filepath.Join(w.root, "pwned")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a file was written through the link (%v)", err)
				}
			},
		},
		{
			// Tools that trust the header see 10 bytes.
			name: "zip bomb lying about its size",
			files: func(t *testing.T, _ string) map[string][]byte {
				return map[string][]byte{zipName: lyingZipBomb(t, 64<<20)}
			},
			want: []string{zipName, `entry "bomb"`},
			check: func(t *testing.T, w *world, err error) {
				if !errors.Is(err, artifact.ErrCorrupt) && !errors.Is(err, artifact.ErrLimit) {
					t.Errorf("error %v: want a corrupt archive or an unpack limit", err)
				}
			},
		},
		{
			// More entries than the default limit of 100,000 files, refused
			// before one is written.
			name: "zip bomb of entries",
			files: func(t *testing.T, _ string) map[string][]byte {
				return map[string][]byte{zipName: manyEntriesZip(t, 100_001)}
			},
			want: []string{zipName, "100001 entries", "exceeds unpack limit"},
		},
		{
			name: "checksum mismatch",
			files: func(t *testing.T, _ string) map[string][]byte {
				f := goodV2(t, "")
				f["checksums.txt"] = []byte(strings.Repeat("ab", 32) + "  " + tgz + "\n")
				return f
			},
			want: []string{tgz, "checksums.txt", "checksum mismatch"},
		},
		{
			name:  "before_deploy hook that fails",
			files: goodV2,
			opt: func(o *Options) {
				o.App.Hooks.BeforeDeploy = `if [ "$DEWY_VERSION" = v1.1.0 ]; then echo 'migration 42 failed' >&2; exit 3; fi`
			},
			want: []string{"before_deploy hook", "exit status 3", "migration 42 failed"},
		},
		{
			name:  "before_deploy hook that hangs",
			files: goodV2,
			opt: func(o *Options) {
				o.App.Hooks.Timeout = 300 * time.Millisecond
				o.App.Hooks.BeforeDeploy = `if [ "$DEWY_VERSION" = v1.1.0 ]; then sleep 1000 & echo $! > ` + hookMarker + `; wait; fi`
			},
			want: []string{"before_deploy hook stopped", "the limit is 300ms"},
			check: func(t *testing.T, w *world, _ error) {
				b, _ := os.ReadFile(hookMarker)
				pid := strings.TrimSpace(string(b))
				if pid == "" {
					t.Fatal("the hook did not start its child")
				}
				testutil.Eventually(t, "the hook's child to be killed with its group", 5*time.Second, func() bool {
					st, err := os.ReadFile("/proc/" + pid + "/stat")
					return err != nil || strings.Contains(string(st), ") Z ")
				})
			},
		},
		{
			name:       "new release that exits at once",
			files:      goodV2,
			restartErr: errors.New("generation 2 exited at once: exit status 1"),
			want:       []string{"did not take over", "exited at once"},
		},
		{
			name:       "new release never ready",
			files:      goodV2,
			restartErr: errors.New("generation 2 not ready after 30s"),
			want:       []string{"did not take over", "not ready after 30s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hookMarker = filepath.Join(t.TempDir(), "hook-child")
			w := newWorld(t, "", tt.opt)
			w.deployGood(t)
			w.restartErr = func(cause string) error {
				if cause == "deploy v1.1.0" {
					return tt.restartErr
				}
				return nil
			}
			w.publish(t, "v1.1.0", tt.files(t, w.root))
			before := w.snapshot(t)
			restarts := w.restartCount()
			start := time.Now()
			err := w.d.Deploy(context.Background(), "test")
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("the bad deploy took %s", took)
			}
			w.assertKept(t, err, before, tt.want...)
			switch n := w.restartCount() - restarts; {
			case tt.restartErr != nil && n != 1:
				t.Errorf("%d restarts for v1.1.0, want 1 (that failed)", n)
			case tt.restartErr != nil && release.VersionOf(w.during[len(w.during)-1]) != "v1.1.0":
				t.Errorf("during the restart current was %q, want the v1.1.0 release", w.during[len(w.during)-1])
			case tt.restartErr == nil && n != 0:
				t.Errorf("the app was restarted %d times for a release that never got to it", n)
			}
			if tt.check != nil {
				tt.check(t, w, err)
			}
			w.assertNotRetried(t, "v1.1.0")
		})
	}
}

// Two artifacts fit this machine: while the release is young it may still
// be uploading (nothing happens, nothing is marked); once 30 minutes old
// it is bad, and the error names both files.
func TestTwoArtifactsForThePlatform(t *testing.T) {
	w := newWorld(t, "", nil)
	w.deployGood(t)
	a, b := artifactName(".tar.gz"), artifactName(".zip")
	w.publish(t, "v1.1.0", map[string][]byte{
		a: tarGz(t, []entry{{name: "web", body: "v2"}}),
		b: zipBytes(t, []entry{{name: "web", body: "v2"}}),
	})
	before := w.snapshot(t)
	if err := w.d.Deploy(context.Background(), "test"); err != nil {
		t.Errorf("a release published a moment ago: %v, want nil (it may still be uploading)", err)
	}
	if len(w.d.state.Bad) != 0 || w.reg.opened("v1.1.0") != 0 {
		t.Errorf("a young release: bad %v, %d files opened; want neither", w.d.state.Bad, w.reg.opened("v1.1.0"))
	}

	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(w.regDir, "v1.1.0"), old, old); err != nil {
		t.Fatal(err)
	}
	err := w.d.Deploy(context.Background(), "test")
	w.assertKept(t, err, before, "v1.1.0", a, b, "2 artifacts fit")
	if w.reg.opened("v1.1.0") != 0 {
		t.Errorf("%d files of a release with two artifacts were opened", w.reg.opened("v1.1.0"))
	}
	w.assertNotRetried(t, "v1.1.0")
}

// A tag that is not a version is skipped: alone, nothing happens; beside
// a valid newer version, that one is deployed.
func TestATagThatIsNotAVersion(t *testing.T) {
	w := newWorld(t, "", nil)
	w.deployGood(t)
	good := map[string][]byte{artifactName(".tar.gz"): tarGz(t, []entry{{name: "web", body: "v2"}})}
	w.publish(t, "latest", good)
	w.publish(t, "v9.x", good)
	before := w.snapshot(t)
	if err := w.d.Deploy(context.Background(), "test"); err != nil {
		t.Errorf("tags that are not versions: %v, want nil", err)
	}
	if diff := cmp.Diff(before, w.snapshot(t)); diff != "" {
		t.Errorf("tags that are not versions changed the disk (-before +after):\n%s", diff)
	}
	if n := w.reg.opened("latest") + w.reg.opened("v9.x"); n != 0 || len(w.d.state.Bad) != 0 {
		t.Errorf("%d files of a tag that is not a version opened, bad %v", n, w.d.state.Bad)
	}

	w.publish(t, "v1.1.0", good)
	if err := w.d.Deploy(context.Background(), "test"); err != nil {
		t.Fatalf("v1.1.0 beside tags that are not versions: %v", err)
	}
	if cur, _ := release.NewDir(w.appDir).Current(); release.VersionOf(cur) != "v1.1.0" {
		t.Errorf("current is %q, want the v1.1.0 release", cur)
	}
}

// githubServer answers the GitHub releases endpoint with handle, counting
// requests; the registry is a ghr registry pointed at it.
func githubServer(t *testing.T, handle http.HandlerFunc) (*ghr.Registry, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/repos/o/r/releases" {
			http.NotFound(rw, r)
			return
		}
		n.Add(1)
		handle(rw, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse("ghr://o/r")
	reg, err := ghr.New(u, ghr.OptionsFrom([]string{"GITHUB_API_URL=" + srv.URL}))
	if err != nil {
		t.Fatal(err)
	}
	return reg, &n
}

// A registry that fails or hangs teaches no version: the error is
// returned at once (a hang within the list timeout), nothing is marked
// bad, nothing changes, and the next deploy asks again.
func TestARegistryThatFailsOrHangs(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) }) // before the servers close (cleanups run last first)
	tests := []struct {
		name   string
		handle http.HandlerFunc
		want   func(error) bool
		within time.Duration
	}{
		{
			name: "500",
			handle: func(rw http.ResponseWriter, _ *http.Request) {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(http.StatusInternalServerError)
				io.WriteString(rw, `{"message":"Server Error"}`)
			},
			want: func(err error) bool {
				return strings.Contains(err.Error(), "500") && strings.Contains(err.Error(), "list releases")
			},
			within: 10 * time.Second,
		},
		{
			name: "hanging",
			handle: func(_ http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-hang:
				}
			},
			want: func(err error) bool {
				return errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "list releases")
			},
			within: 10 * time.Second, // the list timeout is 300ms; the registry's own is 30s
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "", func(o *Options) { o.ListTimeout = 300 * time.Millisecond })
			w.deployGood(t)
			gh, requests := githubServer(t, tt.handle)
			w.reg.set(gh)
			before := w.snapshot(t)
			for i := 1; i <= 2; i++ {
				start := time.Now()
				err := w.d.Deploy(context.Background(), "poll")
				if took := time.Since(start); took > tt.within {
					t.Errorf("deploy %d took %s: the list call is not bounded", i, took)
				}
				if err == nil || !tt.want(err) {
					t.Errorf("deploy %d: %v", i, err)
				}
				if got := int(requests.Load()); got != i {
					t.Errorf("after deploy %d the registry was asked %d times, want %d (every deploy asks again)", i, got, i)
				}
			}
			if len(w.d.state.Bad) != 0 {
				t.Errorf("a failing registry marked versions bad: %v", w.d.state.Bad)
			}
			if cur, _ := release.NewDir(w.appDir).Current(); cur != w.v1 {
				t.Errorf("current is %q, want %q", cur, w.v1)
			}
			if diff := cmp.Diff(before, w.snapshot(t)); diff != "" {
				t.Errorf("the disk changed (-before +after):\n%s", diff)
			}
			if w.restartCount() != 1 {
				t.Errorf("%d restarts, want only v1.0.0's", w.restartCount())
			}
		})
	}
}

// The disk fills while v1.1.0 is unpacked: the app's dir is a 1 MiB tmpfs
// and v1.1.0 expands to 8 MiB (a small bomb of zeros). The unpack fails
// with no space left, its temporary folder goes, current is unchanged.
func TestADiskThatFillsDuringUnpacking(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "app")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, mnt, "size=1m")
	w := newWorld(t, filepath.Join(mnt, "web"), nil)
	// The world's root is not above the mount: look at the mount too.
	w.deployGood(t)
	w.publish(t, "v1.1.0", map[string][]byte{
		artifactName(".tar.gz"): tarGz(t, []entry{{name: "web", body: "v2"}, {name: "data", body: string(make([]byte, 8<<20))}}),
	})
	before := w.snapshot(t)
	beforeMnt := dirList(t, mnt)
	err := w.d.Deploy(context.Background(), "test")
	w.assertKept(t, err, before, "no space left on device", `entry "data"`)
	if diff := cmp.Diff(beforeMnt, dirList(t, mnt)); diff != "" {
		t.Errorf("the full disk keeps traces of the failed unpack (-before +after):\n%s", diff)
	}
	w.assertNotRetried(t, "v1.1.0")
}

// dirList lists every path under dir.
func dirList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// mountTmpfs mounts a tmpfs with opts at dir, unmounted at the end of the
// test, or skips the test, loudly, when it cannot.
func mountTmpfs(t *testing.T, dir, opts string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED, NOT TESTED: a disk that fills during unpacking needs a small tmpfs, and mounting one needs root")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, opts); err != nil {
		t.Skipf("SKIPPED, NOT TESTED: a disk that fills during unpacking needs a small tmpfs, and mount failed: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}
