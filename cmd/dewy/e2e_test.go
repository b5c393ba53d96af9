package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dewyhq/dewy/internal/procfs"
	"github.com/dewyhq/dewy/internal/testutil"
)

// End-to-end tests: the real dewy binary, the real example app, real
// signals sent with kill(2), real sockets.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (dewy, app string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries and runs processes")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "dewy-e2e")
		if buildErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", binDir+"/", "github.com/dewyhq/dewy/cmd/dewy", "github.com/dewyhq/dewy/examples/apps/httpserver").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "dewy"), filepath.Join(binDir, "httpserver")
}

type dewyProc struct {
	cmd  *exec.Cmd
	addr string
	log  *testutil.SyncBuffer
	done chan struct{}
}

func startDewy(t *testing.T, extra string) *dewyProc {
	t.Helper()
	return startDewyWith(t, dewyOpts{extra: extra})
}

// dewyOpts vary how startDewyWith runs dewy.
type dewyOpts struct {
	extra string // appended to the config file
	web   string // added to the web app's block
	// args are more command-line arguments; dir its working directory.
	args []string
	dir  string
	// stderr, when set, is dewy's stderr instead of the log buffer.
	stderr *os.File
	// extraFiles are handed to dewy open, as fds 3, 4, ...
	extraFiles []*os.File
	// command replaces the app's command.
	command []string
	// env is added to dewy's environment.
	env []string
}

func startDewyWith(t *testing.T, o dewyOpts) *dewyProc {
	t.Helper()
	cfg, addr := writeConfig(t, o)
	return launch(t, cfg, addr, o)
}

// writeConfig writes the test config (the example app "web" on a free
// loopback port, or o.command) and returns its path and the address.
func writeConfig(t *testing.T, o dewyOpts) (cfg, addr string) {
	t.Helper()
	_, app := binaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	command := fmt.Sprintf("[%q, \"-startup-delay\", \"50ms\", \"-first-request-grace\", \"300ms\"]", app)
	if o.command != nil {
		var q []string
		for _, a := range o.command {
			q = append(q, strconv.Quote(a))
		}
		command = "[" + strings.Join(q, ", ") + "]"
	}
	cfg = filepath.Join(t.TempDir(), "dewy.hcl")
	src := fmt.Sprintf(`
agent {
  log_format = "json"
  log_level  = "debug"
}
app "web" {
  command = %s
  listen  = [%q]
  ready {
    http     = "/healthz"
    interval = "20ms"
  }
  stop {
    timeout = "10s"
  }
%s
}
%s`, command, addr, o.web, o.extra)
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, addr
}

// launch runs dewy on cfg, stopped (TERM, then KILL) when the test ends,
// and waits until the app serves on addr.
func launch(t *testing.T, cfg, addr string, o dewyOpts) *dewyProc {
	t.Helper()
	dewy, _ := binaries(t)
	dir := filepath.Dir(cfg)
	d := &dewyProc{cmd: exec.Command(dewy, append([]string{"-c", cfg, "--state-dir", dir, "--admin-socket", filepath.Join(dir, "dewy.sock")}, o.args...)...), addr: addr, log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	d.cmd.Stderr = d.log
	if o.stderr != nil {
		d.cmd.Stderr = o.stderr
	}
	d.cmd.Stdout = io.Discard
	d.cmd.Dir = o.dir
	d.cmd.ExtraFiles = o.extraFiles
	if o.env != nil {
		d.cmd.Env = append(os.Environ(), o.env...)
	}
	// Processes a SIGKILLed dewy left may hold its stderr: Wait does not
	// wait for them to close it.
	d.cmd.WaitDelay = time.Second
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("dewy log:\n%s", d.log.String())
		}
	})
	testutil.Eventually(t, "dewy to serve", 30*time.Second, func() bool { _, err := fetch(addr); return err == nil })
	return d
}

// stop sends TERM and returns dewy's exit code.
func (d *dewyProc) stop(t *testing.T) int {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("dewy did not exit after TERM")
	}
	return d.cmd.ProcessState.ExitCode()
}

func (d *dewyProc) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// fetch returns the app's pid and generation.
func fetch(addr string) (pidGen [2]int, err error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return pidGen, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return pidGen, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	_, err = fmt.Sscanf(strings.TrimSpace(string(b)), "pid=%d generation=%d", &pidGen[0], &pidGen[1])
	return pidGen, err
}

// kill -9 of dewy leaves no app process alive (parent-death signal).
func TestKill9OfDewyLeavesNoApp(t *testing.T) {
	d := startDewy(t, "")
	pg, err := fetch(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.done
	testutil.Eventually(t, "the app to die with dewy", 10*time.Second, func() bool { return !procfs.Alive(pg[0]) })
}

// 200 USR1 signals in one second: never more than two generations at once,
// no zombies, no leaked descriptors, far fewer restarts than signals, and
// the app keeps serving.
func TestUSR1StormWithRealSignals(t *testing.T) {
	d := startDewy(t, "")
	pid := d.cmd.Process.Pid
	fdsBefore := procfs.FDCount(pid)
	var maxLive atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			live, _ := procfs.Children(pid)
			if int64(live) > maxLive.Load() {
				maxLive.Store(int64(live))
			}
		}
	}()
	for i := 0; i < 200; i++ {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Wait until restarts have settled: the generation stays put for 1 s.
	var last [2]int
	testutil.Eventually(t, "restarts to settle", 60*time.Second, func() bool {
		a, err := fetch(d.addr)
		if err != nil {
			return false
		}
		time.Sleep(time.Second)
		b, err := fetch(d.addr)
		last = b
		return err == nil && a == b && strings.Count(d.log.String(), "restart complete") == b[1]-1
	})
	close(stop)
	<-sampled
	if m := maxLive.Load(); m > 2 {
		t.Errorf("%d app processes alive at once; never more than two generations", m)
	}
	if last[1] < 2 || last[1] > 40 {
		t.Errorf("generation %d after 200 USR1: restarts were not coalesced", last[1])
	}
	live, zombies := procfs.Children(pid)
	if live != 1 || zombies != 0 {
		t.Errorf("after the storm: %d live children, %d zombies; want 1 and 0", live, zombies)
	}
	if after := procfs.FDCount(pid); after > fdsBefore+2 {
		t.Errorf("dewy's descriptors grew from %d to %d over the storm", fdsBefore, after)
	}
	t.Logf("200 USR1 -> %d restarts", last[1]-1)
}

// Requests from concurrent clients, half of them opening a new connection
// per request, across graceful restarts: not one fails.
func TestRestartsUnderLoadDropNothing(t *testing.T) {
	d := startDewy(t, "")
	pid := d.cmd.Process.Pid
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{DisableKeepAlives: i%2 == 0, MaxIdleConnsPerHost: 1}
			c := &http.Client{Timeout: 10 * time.Second, Transport: tr}
			defer tr.CloseIdleConnections()
			for n := 0; n < 20000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get("http://" + d.addr + "/")
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	const restarts = 5
	for r := 1; r <= restarts; r++ {
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "restart to complete", 30*time.Second, func() bool {
			return strings.Count(d.log.String(), "restart complete") >= r
		})
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed across %d restarts; first: %v", failed.Load(), ok.Load()+failed.Load(), restarts, firstErr.Load())
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests succeeded: the load did not run", ok.Load())
	}
	t.Logf("%d requests, %d failed, %d restarts", ok.Load()+failed.Load(), failed.Load(), restarts)
}

// The default table ignores HUP: the app is untouched; dewy logs the signal.
func TestHUPIsIgnoredByDefault(t *testing.T) {
	d := startDewy(t, "")
	before, _ := fetch(d.addr)
	if err := syscall.Kill(d.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the signal to be logged", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), `"signal":"SIGHUP","message":"received signal"`) ||
			strings.Contains(d.log.String(), `"message":"signal ignored by dewy`)
	})
	after, err := fetch(d.addr)
	if err != nil || after != before {
		t.Errorf("HUP changed the app: %v -> %v (%v)", before, after, err)
	}
}

// SIGTERM: the seed's order, exit code 0, no app left.
func TestTERMShutsDownInOrder(t *testing.T) {
	d := startDewy(t, "")
	pg, _ := fetch(d.addr)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatal("dewy did not exit")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if procfs.Alive(pg[0]) {
		t.Error("app alive after dewy exited")
	}
	var order []string
	sc := bufio.NewScanner(strings.NewReader(d.log.String()))
	for sc.Scan() {
		for _, m := range []string{"scheduler stopped", "stopped by SIGTERM", "stopping the app", "all apps stopped"} {
			if strings.Contains(sc.Text(), m) {
				order = append(order, m)
			}
		}
	}
	if strings.Join(order, "|") != "scheduler stopped|stopped by SIGTERM|stopping the app|all apps stopped" {
		t.Errorf("shutdown order %v", order)
	}
}

// Under systemd Type=notify: READY=1 once the apps are up, RELOADING=1 and
// READY=1 around a reload, STOPPING=1 at shutdown. A reload of a broken
// file changes nothing; a good one replaces the changed app.
func TestSystemdNotifyAndReloadBySignal(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var states testutil.SyncBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			states.Write(append(buf[:n:n], '\n'))
		}
	}()
	t.Setenv("NOTIFY_SOCKET", sock)
	d := startDewy(t, `signal "USR2" { action = "reload" }`)
	testutil.Eventually(t, "READY=1", 10*time.Second, func() bool { return strings.Contains(states.String(), "READY=1") })
	if !strings.Contains(states.String(), "STATUS=1/1 apps running") {
		t.Errorf("READY=1 without the count of running apps; states:\n%s", states.String())
	}
	before, _ := fetch(d.addr)
	cfg := d.cmd.Args[2]
	good, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// A broken file: diagnostics in the log, the app untouched.
	if err := os.WriteFile(cfg, append(good, []byte("\nsignal \"KILL\" { action = \"ignore\" }\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(d.cmd.Process.Pid, syscall.SIGUSR2)
	testutil.Eventually(t, "the reload to be refused", 10*time.Second, func() bool {
		return strings.Contains(d.log.String(), "the config file has errors; everything keeps running as it is")
	})
	if !strings.Contains(d.log.String(), "Signal cannot be mapped") {
		t.Error("the refused reload does not log the diagnostic")
	}
	if now, _ := fetch(d.addr); now != before {
		t.Errorf("a refused reload changed the app: %v -> %v", before, now)
	}

	// A good change: the app's command changes, so it is replaced gracefully.
	changed := strings.Replace(string(good), `"-startup-delay", "50ms"`, `"-startup-delay", "60ms"`, 1)
	if err := os.WriteFile(cfg, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(d.cmd.Process.Pid, syscall.SIGUSR2)
	testutil.Eventually(t, "the reload to apply", 30*time.Second, func() bool { return strings.Contains(d.log.String(), "reload applied") })
	after, err := fetch(d.addr)
	if err != nil || after[0] == before[0] {
		t.Errorf("the changed app was not replaced: %v -> %v (%v)", before, after, err)
	}
	if !strings.Contains(states.String(), "RELOADING=1") {
		t.Errorf("no RELOADING=1; states:\n%s", states.String())
	}

	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	if !strings.Contains(states.String(), "STOPPING=1") {
		t.Errorf("no STOPPING=1; states:\n%s", states.String())
	}
	if _, after, _ := strings.Cut(states.String(), "STOPPING=1"); strings.Contains(after, "READY=1") {
		t.Errorf("READY=1 after STOPPING=1; states:\n%s", states.String())
	}
}

// A listen address another process holds: dewy starts nothing, says which
// address, and exits 2 (network).
func TestBusyListenAddressExitsWithNetworkCode(t *testing.T) {
	dewy, app := binaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := filepath.Join(t.TempDir(), "dewy.hcl")
	src := fmt.Sprintf("app \"web\" {\n  command = [%q]\n  listen = [%q]\n}\n", app, ln.Addr().String())
	if err := os.WriteFile(cfg, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sdir := t.TempDir()
	out, err := exec.Command(dewy, "-c", cfg, "--state-dir", sdir, "--admin-socket", filepath.Join(sdir, "dewy.sock")).CombinedOutput()
	if code := exitCode(err); code != exitNet {
		t.Errorf("exit code %d, want %d\n%s", code, exitNet, out)
	}
	if !strings.Contains(string(out), "address already in use") || !strings.Contains(string(out), ln.Addr().String()) {
		t.Errorf("the error does not name the address:\n%s", out)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
