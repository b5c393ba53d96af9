// Command deploy measures dewy's deploy pipeline with real binaries on
// loopback, against `tar -xzf` of the same artifact in the same run:
//
//  1. the first deploy of an artifact of -mb MB (unpacked) from a file://
//     registry: the time from "deploying a new release" to the restart
//     (download, SHA-256, verify, unpack), the time to "release deployed",
//     and dewy's peak RSS (VmHWM);
//
//  2. an upgrade to a new version under load (-clients, half of them on a
//     new connection per request): failed requests;
//
//  3. a broken release (exits at once) under load: failed requests, and
//     that the old version still serves.
//
//     go run ./bench/deploy -mb 200 -clients 32
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	mb := flag.Int64("mb", 200, "unpacked size of the artifact, in MB")
	clients := flag.Int("clients", 32, "concurrent clients during the upgrade and the broken release")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *mb, *clients, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench/deploy:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, mb int64, clients int, keep bool) error {
	dir, err := os.MkdirTemp("", "dewy-deploy-bench")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	fmt.Fprintln(os.Stderr, "building dewy and the example app ...")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/dewy", "./examples/apps/httpserver").CombinedOutput(); err != nil {
		return fmt.Errorf("go build (run from the repository's root): %v\n%s", err, out)
	}
	artifact := fmt.Sprintf("app_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH)
	reg := filepath.Join(dir, "registry")
	fmt.Fprintf(os.Stderr, "writing a %d MB artifact ...\n", mb)
	tgz := filepath.Join(dir, artifact)
	if err := writeArtifact(tgz, filepath.Join(dir, "httpserver"), mb<<20); err != nil {
		return err
	}
	publish := func(version, src string) error {
		tmp := filepath.Join(reg, "."+version)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		if err := os.Link(src, filepath.Join(tmp, artifact)); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(reg, version))
	}

	// The anchor: tar -xzf of the same file.
	out := filepath.Join(dir, "tar-out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return err
	}
	t0 := time.Now()
	if b, err := exec.CommandContext(ctx, "tar", "-xzf", tgz, "-C", out).CombinedOutput(); err != nil {
		return fmt.Errorf("tar -xzf: %v: %s", err, b)
	}
	tarTime := time.Since(t0)
	_ = os.RemoveAll(out)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "dewy.hcl")
	src := fmt.Sprintf(`agent {
  log_format = "json"
}
registry "r" {
  url      = "file:registry"
  interval = "1s"
}
app "web" {
  registry = "r"
  dir      = "app"
  command  = ["app/current/httpserver"]
  listen   = [%q]
  ready {
    http     = "/healthz"
    interval = "20ms"
  }
}
`, addr)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		return err
	}
	if err := publish("v1.0.0", tgz); err != nil {
		return err
	}
	log := newLogWatch()
	dewy := exec.Command(filepath.Join(dir, "dewy"), "-c", cfg, "--state-dir", filepath.Join(dir, "state"), "--admin-socket", filepath.Join(dir, "dewy.sock"))
	stderr, err := dewy.StderrPipe()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		return err
	}
	if err := dewy.Start(); err != nil {
		return err
	}
	go log.read(stderr)
	defer func() {
		_ = dewy.Process.Signal(syscall.SIGTERM)
		_ = dewy.Wait()
	}()

	fmt.Fprintln(os.Stderr, "first deploy ...")
	deploying, err := log.wait(ctx, `"message":"deploying a new release"`, 1, 5*time.Minute)
	if err != nil {
		return err
	}
	restart, err := log.wait(ctx, `"cause":"deploy v1.0.0"`, 1, 5*time.Minute)
	if err != nil {
		return err
	}
	deployed, err := log.wait(ctx, `"message":"release deployed"`, 1, 5*time.Minute)
	if err != nil {
		return err
	}
	hwm := procField(dewy.Process.Pid, "VmHWM:")

	fmt.Fprintln(os.Stderr, "upgrade under load ...")
	if err := publish("v1.1.0", tgz); err != nil {
		return err
	}
	upOK, upFailed := load(ctx, addr, clients, func() error {
		_, err := log.wait(ctx, `"message":"release deployed"`, 2, 5*time.Minute)
		return err
	})

	fmt.Fprintln(os.Stderr, "broken release under load ...")
	broken := filepath.Join(dir, "broken.tar.gz")
	script := filepath.Join(dir, "broken-httpserver")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		return err
	}
	if err := writeArtifact(broken, script, 0); err != nil {
		return err
	}
	if err := publish("v1.2.0", broken); err != nil {
		return err
	}
	brOK, brFailed := load(ctx, addr, clients, func() error {
		_, err := log.wait(ctx, "not tried again", 1, 5*time.Minute)
		return err
	})
	current, _ := os.Readlink(filepath.Join(dir, "app", "current"))

	unpack := restart.Sub(deploying)
	fmt.Printf("deploy of a %d MB artifact (%s compressed) from file://\n", mb, size(tgz))
	fmt.Printf("  tar -xzf of the same file                  %8s\n", tarTime.Round(time.Millisecond))
	fmt.Printf("  dewy: download, verify, unpack             %8s  %.2fx tar\n", unpack.Round(time.Millisecond), float64(unpack)/float64(tarTime))
	fmt.Printf("  dewy: to \"release deployed\" (ready)        %8s\n", deployed.Sub(deploying).Round(time.Millisecond))
	fmt.Printf("  dewy peak RSS (VmHWM)                      %8s\n", hwm)
	fmt.Printf("upgrade v1.0.0 -> v1.1.0 under %d clients: %d requests, %d failed\n", clients, upOK+upFailed, upFailed)
	fmt.Printf("broken v1.2.0 under %d clients:            %d requests, %d failed; current -> %s\n", clients, brOK+brFailed, brFailed, current)
	return nil
}

// writeArtifact writes a .tar.gz holding bin as httpserver and, with
// size > 0, data.txt of about size bytes of compressible text.
func writeArtifact(path, bin string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "httpserver", Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(b); err != nil {
		return err
	}
	if size > 0 {
		if err := tw.WriteHeader(&tar.Header{Name: "data.txt", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(1, 2))
		words := []string{"deploy ", "release ", "generation ", "socket ", "ready ", "signal ", "dewy ", "\n"}
		buf := make([]byte, 0, 64<<10)
		for left := size; left > 0; {
			buf = buf[:0]
			for len(buf) < cap(buf)-16 {
				buf = append(buf, words[rng.IntN(len(words))]...)
			}
			n := min(int64(len(buf)), left)
			if _, err := tw.Write(buf[:n]); err != nil {
				return err
			}
			left -= n
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func size(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f MB", float64(fi.Size())/(1<<20))
}

// procField reads one line of /proc/<pid>/status.
func procField(pid int, key string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// load runs clients until until returns, and counts the requests. Odd
// clients open a new connection per request.
func load(ctx context.Context, addr string, clients int, until func() error) (ok, failed int64) {
	var okN, failN atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 1}}
			for {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				resp, err := c.Get("http://" + addr + "/")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failN.Add(1)
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	err := until()
	time.Sleep(500 * time.Millisecond) // a moment of the new state
	close(stop)
	wg.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/deploy:", err)
	}
	return okN.Load(), failN.Load()
}

// logWatch keeps dewy's log lines with the time each was read.
type logWatch struct {
	mu    sync.Mutex
	lines []string
	times []time.Time
	more  chan struct{}
}

func newLogWatch() *logWatch { return &logWatch{more: make(chan struct{}, 1)} }

func (l *logWatch) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.times = append(l.times, time.Now())
		l.mu.Unlock()
		select {
		case l.more <- struct{}{}:
		default:
		}
	}
}

// wait returns when the n-th line containing s was read, and when.
func (l *logWatch) wait(ctx context.Context, s string, n int, within time.Duration) (time.Time, error) {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		seen := 0
		for i, line := range l.lines {
			if strings.Contains(line, s) {
				if seen++; seen == n {
					t := l.times[i]
					l.mu.Unlock()
					return t, nil
				}
			}
		}
		l.mu.Unlock()
		select {
		case <-l.more:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("no %q in dewy's log within %s", s, within)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}
