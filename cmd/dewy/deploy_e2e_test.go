package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dewyhq/dewy/internal/testutil"
)

// The deploy loop against the file registry, with the real dewy and the
// example app: publish v1.0.0, dewy deploys and serves it; publish v1.1.0
// (with its checksum) under load, no request fails; publish a broken
// v1.2.0 and a v1.2.1 whose checksum does not match, the old release
// serves throughout and neither is tried again; publish a v1.3.0 whose
// archive climbs out of its folder, refused with nothing written outside;
// roll back to v1.0.0, which sticks.

// publisher is a registry the test publishes releases into.
type publisher interface {
	publish(version string, files map[string][]byte, mode os.FileMode)
	// url is the registry block's url; env what dewy needs to reach it.
	url() string
	env() []string
}

// fileRegistry is a file:// registry folder.
type fileRegistry struct {
	t   *testing.T
	dir string
}

func (r fileRegistry) url() string   { return "file://" + r.dir }
func (r fileRegistry) env() []string { return nil }

// s3Registry is a prefix of a bucket on a real S3-compatible server.
type s3Registry struct {
	t      *testing.T
	srv    testutil.S3Server
	client *s3.Client
}

func newS3Registry(t *testing.T) s3Registry {
	srv := testutil.StartS3(t)
	if err := srv.CreateBucket(context.Background(), "releases"); err != nil {
		t.Fatal(err)
	}
	return s3Registry{t: t, srv: srv, client: srv.Client()}
}

func (r s3Registry) url() string {
	return "s3://" + r.srv.Region + "/releases/web?endpoint=" + url.QueryEscape(r.srv.Endpoint)
}
func (r s3Registry) env() []string { return r.srv.Env() }

// publish uploads the checksum files last: a release seen half-uploaded
// lacks its artifact, which dewy takes for an upload in progress.
func (r s3Registry) publish(version string, files map[string][]byte, _ os.FileMode) {
	r.t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] != "checksums.txt" && names[j] == "checksums.txt" })
	for _, n := range names {
		if _, err := r.client.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String("releases"), Key: aws.String("web/" + version + "/" + n), Body: bytes.NewReader(files[n]),
		}); err != nil {
			r.t.Fatal(err)
		}
	}
}

// publish adds a release atomically: written under a hidden name, renamed.
func (r fileRegistry) publish(version string, files map[string][]byte, mode os.FileMode) {
	r.t.Helper()
	tmp := filepath.Join(r.dir, "."+version)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		r.t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), b, mode); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, version)); err != nil {
		r.t.Fatal(err)
	}
}

func platformArtifact(ext string) string {
	return fmt.Sprintf("httpserver_%s_%s%s", runtime.GOOS, runtime.GOARCH, ext)
}

// tarGz builds a .tar.gz of regular files (name, content).
func tarGz(t *testing.T, entries [][2]string) []byte {
	t.Helper()
	var buf strings.Builder
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o755, Size: int64(len(e[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(buf.String())
}

func TestDeployLoop(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		reg := fileRegistry{t: t, dir: filepath.Join(t.TempDir(), "registry")}
		if err := os.MkdirAll(reg.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		testDeployLoop(t, reg, "")
	})
	t.Run("s3", func(t *testing.T) { testDeployLoop(t, newS3Registry(t), "") })
	// The same loop with the fleet's shared cache in a bucket of the same
	// server, and the registry's answers shared for 2s: the artifacts
	// and the answer land in the cache.
	t.Run("s3 with a shared cache", func(t *testing.T) {
		reg := newS3Registry(t)
		if err := reg.srv.CreateBucket(context.Background(), "fleet"); err != nil {
			t.Fatal(err)
		}
		cacheURL := "s3://" + reg.srv.Region + "/fleet/dewy?endpoint=" + url.QueryEscape(reg.srv.Endpoint)
		testDeployLoop(t, reg, fmt.Sprintf("cache = %q\n  registry_ttl = \"2s\"", cacheURL))
		out, err := reg.client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("fleet"), Prefix: aws.String("dewy/")})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		all := strings.Join(keys, "\n")
		for _, want := range []string{"/v1.0.0/" + platformArtifact(""), "/v1.1.0/" + platformArtifact(""), "/releases.json"} {
			if !strings.Contains(all, want) {
				t.Errorf("the shared cache holds no %s; it holds:\n%s", want, all)
			}
		}
		// Bytes that fail the registry's checksum are never shared. (The
		// zip-slip v1.3.0 may be: it is the registry's own bytes, shared
		// while this host unpacks, and every host refuses it alike.)
		if strings.Contains(all, "/v1.2.1/") {
			t.Errorf("an artifact that failed its checksum was stored in the shared cache:\n%s", all)
		}
	})
}

// testDeployLoop runs the loop; agent is extra lines of the agent block.
func testDeployLoop(t *testing.T, reg publisher, agent string) {
	_, app := binaries(t)
	appBin, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	appDir := filepath.Join(root, "web")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(root, "dewy.hcl")
	src := fmt.Sprintf(`
agent {
  log_format = "json"
  log_level  = "debug"
  %s
}
registry "r" {
  url      = %q
  interval = "1s"
}
app "web" {
  registry = "r"
  dir      = %q
  command  = [%q, "-startup-delay", "50ms"]
  listen   = [%q]
  ready {
    http     = "/healthz"
    interval = "20ms"
    timeout  = "5s"
  }
  stop {
    timeout = "10s"
  }
}
signal "USR2" {
  action = "rollback"
}
`, agent, reg.url(), appDir, filepath.Join(appDir, "current", platformArtifact("")), addr)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	bin := map[string][]byte{platformArtifact(""): appBin}
	reg.publish("v1.0.0", bin, 0o755)
	d := launch(t, cfg, addr, dewyOpts{env: reg.env()})
	current := func() string {
		target, _ := os.Readlink(filepath.Join(appDir, "current"))
		return target
	}
	if !strings.HasSuffix(current(), "_v1.0.0") {
		t.Fatalf("current -> %q after the first deploy, want v1.0.0", current())
	}

	// Load: 8 clients, each request on a new connection.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := fetch(addr); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	stopLoad := func() {
		close(stop)
		wg.Wait()
	}
	defer func() {
		select {
		case <-stop:
		default:
			stopLoad()
		}
	}()

	sum := sha256.Sum256(appBin)
	withSums := map[string][]byte{
		platformArtifact(""): appBin,
		"checksums.txt":      []byte(hex.EncodeToString(sum[:]) + "  " + platformArtifact("") + "\n"),
	}
	reg.publish("v1.1.0", withSums, 0o755)
	testutil.Eventually(t, "v1.1.0 deployed", 30*time.Second, func() bool { return strings.HasSuffix(current(), "_v1.1.0") })
	testutil.Eventually(t, "the deploy to finish", 30*time.Second, func() bool {
		return strings.Contains(d.log.String(), `"message":"release deployed"`) && strings.Count(d.log.String(), `"message":"release deployed"`) == 2
	})

	// A broken release: exits at once.
	reg.publish("v1.2.0", map[string][]byte{platformArtifact(""): []byte("#!/bin/sh\nexit 3\n")}, 0o755)
	testutil.Eventually(t, "v1.2.0 refused", 30*time.Second, func() bool {
		return strings.Contains(d.log.String(), "this version is not tried again")
	})
	if !strings.HasSuffix(current(), "_v1.1.0") {
		t.Fatalf("current -> %q after the broken v1.2.0, want v1.1.0", current())
	}

	// A checksum that does not match.
	wrong := map[string][]byte{platformArtifact(""): appBin, "checksums.txt": []byte(strings.Repeat("0", 64) + "  " + platformArtifact("") + "\n")}
	reg.publish("v1.2.1", wrong, 0o755)
	testutil.Eventually(t, "v1.2.1 refused", 30*time.Second, func() bool {
		return strings.Count(d.log.String(), "this version is not tried again") == 2 && strings.Contains(d.log.String(), "checksum mismatch")
	})

	// An archive that climbs out of its folder.
	evil := tarGz(t, [][2]string{{"ok.txt", "fine"}, {"../../escaped.txt", "owned"}})
	reg.publish("v1.3.0", map[string][]byte{platformArtifact(".tar.gz"): evil}, 0o644)
	testutil.Eventually(t, "v1.3.0 refused", 30*time.Second, func() bool {
		return strings.Count(d.log.String(), "this version is not tried again") == 3
	})
	time.Sleep(3 * time.Second) // three more polls: nothing retried

	// Rollback: back to v1.0.0 without a download, and v1.1.0 is not
	// deployed again by the next polls.
	if err := d.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the rollback to v1.0.0", 30*time.Second, func() bool { return strings.HasSuffix(current(), "_v1.0.0") })
	time.Sleep(3 * time.Second)
	stopLoad()

	if n := strings.Count(d.log.String(), `"version":"v1.2.0","cause":"poll"`); n != 1 {
		t.Errorf("v1.2.0 was tried %d times, want once", n)
	}
	for _, p := range []string{filepath.Join(root, "escaped.txt"), filepath.Join(appDir, "escaped.txt"), filepath.Join(appDir, "releases", "escaped.txt")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the v1.3.0 archive wrote %s", p)
		}
	}
	if !strings.HasSuffix(current(), "_v1.0.0") {
		t.Errorf("current -> %q at the end, want v1.0.0 (rolled back, and v1.1.0 not deployed again)", current())
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "cache", "web")); len(ents) != 0 {
		t.Errorf("the download cache keeps %d entries after the deploys", len(ents))
	}
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the deploys (first: %v)", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	t.Logf("%d requests, %d failed, over an upgrade, a broken release, a refused archive and a rollback", ok.Load()+failed.Load(), failed.Load())
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
}

// A reload adds an app deployed from a registry (deployed and served
// without a restart of dewy), changes its registry block under load (no
// request fails, the next release is deployed by the new deployer) and
// removes it (stopped, its address closed); the plain app next to it is
// never touched.
func TestReloadAddsChangesAndRemovesADeployedApp(t *testing.T) {
	root, reg, appBin := fileRegistryWithApp(t)
	_, app := binaries(t)
	plainAddr, apiAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	apiDir := filepath.Join(root, "api")
	base := fmt.Sprintf(`
agent {
  log_format = "json"
  log_level  = "debug"
}
app "plain" {
  command = [%q]
  listen  = [%q]
  ready { http = "/healthz" }
}
signal "USR2" {
  action = "reload"
}
`, app, plainAddr)
	withAPI := func(interval string) string {
		return base + fmt.Sprintf(`
registry "r" {
  url      = %q
  interval = %q
}
app "api" {
  registry = "r"
  dir      = %q
  command  = [%q]
  listen   = [%q]
  ready {
    http     = "/healthz"
    interval = "20ms"
  }
}
`, reg.url(), interval, apiDir, filepath.Join(apiDir, "current", platformArtifact("")), apiAddr)
	}
	cfg := filepath.Join(root, "dewy.hcl")
	write := func(src string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(base)
	d := launch(t, cfg, plainAddr, dewyOpts{})
	plainBefore, _ := fetch(plainAddr)
	reload := func(what string) {
		t.Helper()
		n := strings.Count(d.log.String(), `"message":"reload applied"`)
		if err := d.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, what, 30*time.Second, func() bool {
			return strings.Count(d.log.String(), `"message":"reload applied"`) > n
		})
	}
	current := func() string {
		target, _ := os.Readlink(filepath.Join(apiDir, "current"))
		return target
	}

	// Added: deployed from its registry and served.
	reg.publish("v1.0.0", map[string][]byte{platformArtifact(""): appBin}, 0o755)
	write(withAPI("1s"))
	reload("the reload adding api")
	testutil.Eventually(t, "api deployed and serving", 30*time.Second, func() bool {
		_, err := fetch(apiAddr)
		return err == nil && strings.HasSuffix(current(), "_v1.0.0")
	})

	// Changed registry block under load: the new deployer deploys v1.1.0.
	load := testutil.StartLoad("http://"+apiAddr+"/", 2)
	write(withAPI("2s"))
	reload("the reload changing the registry")
	reg.publish("v1.1.0", map[string][]byte{platformArtifact(""): appBin}, 0o755)
	testutil.Eventually(t, "v1.1.0 deployed by the new deployer", 30*time.Second, func() bool {
		return strings.HasSuffix(current(), "_v1.1.0") && strings.Count(d.log.String(), `"message":"release deployed"`) == 2
	})
	ok, failed, firstErr := load.Stop()
	if failed > 0 || ok == 0 {
		t.Errorf("%d of %d requests to api failed over the reload and the deploy (first: %v)", failed, ok+failed, firstErr)
	}

	// Removed: stopped, its address closed.
	write(base)
	reload("the reload removing api")
	testutil.Eventually(t, "api's address closed", 30*time.Second, func() bool {
		_, err := net.DialTimeout("tcp", apiAddr, time.Second)
		return err != nil
	})
	if now, err := fetch(plainAddr); err != nil || now != plainBefore {
		t.Errorf("the plain app was touched by the reloads: %v -> %v (%v)", plainBefore, now, err)
	}
	if n := strings.Count(d.log.String(), `"message":"reload: pausing the deploys of the apps whose deployer changes"`); n != 3 {
		t.Errorf("the three reloads paused api's deploys %d times, want 3", n)
	}
	if n := strings.Count(d.log.String(), `"message":"deploying a new release"`); n != 2 {
		t.Errorf("%d deploys, want 2 (v1.0.0, v1.1.0)", n)
	}
}

// fileRegistryWithApp is a test folder with an empty file registry in it,
// and the example app's binary to publish there.
func fileRegistryWithApp(t *testing.T) (root string, reg fileRegistry, appBin []byte) {
	t.Helper()
	_, app := binaries(t)
	appBin, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	reg = fileRegistry{t: t, dir: filepath.Join(root, "registry")}
	if err := os.MkdirAll(reg.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, reg, appBin
}
