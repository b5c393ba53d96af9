package supervisor

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/dewyhq/dewy/engine/proc"
)

// Variables dewy sets for every generation. Inherited values of these (and
// of the socket protocols') are removed from dewy's own environment first,
// so that, for example, dewy's own NOTIFY_SOCKET under systemd Type=notify
// never reaches an app.
const (
	EnvApp               = "DEWY_APP"
	EnvGeneration        = "DEWY_GENERATION"
	EnvReadyFD           = "DEWY_READY_FD"
	EnvReadyAddr         = "DEWY_READY_ADDR"
	EnvNotifySocket      = "NOTIFY_SOCKET"
	EnvStarterGeneration = "SERVER_STARTER_GENERATION"
	readyFDName          = "dewy-ready"
	envServerStarterPort = "SERVER_STARTER_PORT"
	envListenFDs         = "LISTEN_FDS"
	envListenPID         = "LISTEN_PID"
	envListenFDNames     = "LISTEN_FDNAMES"
	envShim              = "DEWY_SHIM"
	envWatchdogUsec      = "WATCHDOG_USEC"
	envWatchdogPID       = "WATCHDOG_PID"
	envSystemdExecPID    = "SYSTEMD_EXEC_PID"
)

var reserved = map[string]bool{
	EnvApp: true, EnvGeneration: true, EnvReadyFD: true, EnvReadyAddr: true,
	EnvNotifySocket: true, EnvStarterGeneration: true, envServerStarterPort: true,
	envListenFDs: true, envListenPID: true, envListenFDNames: true, envShim: true,
	envWatchdogUsec: true, envWatchdogPID: true, envSystemdExecPID: true,
	proc.EnvToken: true,
}

// envList is an environment with one value per key, in first-set order.
type envList struct {
	keys []string
	vals map[string]string
}

func newEnvList() *envList { return &envList{vals: map[string]string{}} }

func (e *envList) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *envList) setPairs(kvs []string) {
	for _, kv := range kvs {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			e.set(k, v)
		}
	}
}

func (e *envList) list() []string {
	out := make([]string, len(e.keys))
	for i, k := range e.keys {
		out[i] = k + "=" + e.vals[k]
	}
	return out
}

// baseEnv builds a generation's environment before dewy's own variables:
// dewy's environment without the reserved keys, then the EnvFile, then
// App.Env (sorted by key). Later layers win.
func baseEnv(environ []string, envFile string, appEnv map[string]string) (*envList, error) {
	e := newEnvList()
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" && !reserved[k] {
			e.set(k, v)
		}
	}
	if envFile != "" {
		b, err := os.ReadFile(envFile)
		if err != nil {
			return nil, fmt.Errorf("env file: %w", err)
		}
		pairs, err := parseEnvFile(envFile, b)
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			e.set(p[0], p[1])
		}
	}
	keys := make([]string, 0, len(appEnv))
	for k := range appEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e.set(k, appEnv[k])
	}
	return e, nil
}

// parseEnvFile reads KEY=VALUE lines: blank lines and lines starting with
// '#' are skipped, an "export " prefix is allowed, and a value wholly in
// single or double quotes is unquoted (double quotes with Go escapes).
func parseEnvFile(name string, b []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("env file %s:%d: want KEY=VALUE, got %q", name, n, sc.Text())
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = v[1 : len(v)-1]
		} else if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			u, err := strconv.Unquote(v)
			if err != nil {
				return nil, fmt.Errorf("env file %s:%d: %s: %w", name, n, k, err)
			}
			v = u
		}
		out = append(out, [2]string{k, v})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("env file %s: %w", name, err)
	}
	return out, nil
}
