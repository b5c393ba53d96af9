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
	"github.com/dewyhq/dewy/listener"
)

// Variables dewy sets for every generation are named in package listener
// (the apps' side of the protocols), the token in proc. Inherited values of
// these, and of systemd's own, are removed from dewy's environment first,
// so that, for example, dewy's own NOTIFY_SOCKET under systemd Type=notify
// never reaches an app.
var reserved = map[string]bool{
	listener.EnvApp: true, listener.EnvGeneration: true, listener.EnvReadyFD: true, listener.EnvReadyAddr: true,
	listener.EnvNotifySocket: true, listener.EnvServerStarterGeneration: true, listener.EnvServerStarterPort: true,
	listener.EnvListenFDs: true, listener.EnvListenPID: true, listener.EnvListenFDNames: true, proc.ShimEnv: true,
	"WATCHDOG_USEC": true, "WATCHDOG_PID": true, "SYSTEMD_EXEC_PID": true,
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
