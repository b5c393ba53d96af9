package listener

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Seed corpora live in testdata/fuzz/<Target>/; `go test` runs them as unit
// tests, `go test -fuzz=<Target> ./listener/` explores from them.

// FuzzParseServerStarterPort checks that any SERVER_STARTER_PORT value either
// parses into entries that survive a round trip, or fails with an *EnvError
// naming the variable and quoting the value. It must never panic.
func FuzzParseServerStarterPort(f *testing.F) {
	for _, s := range []string{"", "8080=3", "127.0.0.1:8080=3;[::1]:8080=4;/run/a.sock=5", "a=3;a=3", ";;", "=", "x=y=z=4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		specs, err := parseServerStarterPort(value)
		if err != nil {
			var ee *EnvError
			if !errors.As(err, &ee) || ee.Var != EnvServerStarterPort || ee.Value != value {
				t.Fatalf("error %#v does not name %s=%q", err, EnvServerStarterPort, value)
			}
			return
		}
		seen := map[int]bool{}
		parts := make([]string, 0, len(specs))
		for _, s := range specs {
			if s.fd < 0 || seen[s.fd] {
				t.Fatalf("bad or repeated fd %d in %+v", s.fd, specs)
			}
			seen[s.fd] = true
			if s.name == "" || strings.ContainsRune(s.name, ';') || s.name != strings.TrimSpace(s.name) {
				t.Fatalf("bad name %q in %+v", s.name, specs)
			}
			if s.ready || s.source != EnvServerStarterPort {
				t.Fatalf("unexpected %+v", s)
			}
			parts = append(parts, s.name+"="+strconv.Itoa(s.fd))
		}
		again, err := parseServerStarterPort(strings.Join(parts, ";"))
		if err != nil {
			t.Fatalf("round trip of %q: %v", value, err)
		}
		if len(again) != len(specs) {
			t.Fatalf("round trip of %q: %+v != %+v", value, again, specs)
		}
		for i := range again {
			if again[i] != specs[i] {
				t.Fatalf("round trip of %q: %+v != %+v", value, again, specs)
			}
		}
	})
}

// FuzzParseListenFDs drives the whole environment parser with systemd's
// variables, the readiness variables and SERVER_STARTER_PORT. It must never
// panic, return descriptors outside 3..3+n-1 in systemd mode, mark more than
// one readiness socket, or fail without an *EnvError.
func FuzzParseListenFDs(f *testing.F) {
	f.Add("2", "a:dewy-ready", true, "4", "")
	f.Add("3", "", true, "", "127.0.0.1:1=3")
	f.Add("1", "a:b", false, "", "127.0.0.1:1=3")
	f.Add("-1", "::", true, "x", ";")
	f.Fuzz(func(t *testing.T, fds, names string, forUs bool, readyFD, ssPort string) {
		const self = 100
		pid := "1"
		if forUs {
			pid = strconv.Itoa(self)
		}
		env := map[string]string{
			EnvListenFDs: fds, EnvListenFDNames: names, EnvListenPID: pid,
			EnvReadyFD: readyFD, EnvServerStarterPort: ssPort,
		}
		in, err := parseEnv(envOf(env), self)
		if err != nil {
			var ee *EnvError
			if !errors.As(err, &ee) || env[ee.Var] != ee.Value {
				t.Fatalf("error %#v does not name its variable and value (env %q)", err, env)
			}
			return
		}
		ready := 0
		seen := map[int]bool{}
		for _, s := range in.specs {
			if s.ready {
				ready++
			}
			if seen[s.fd] {
				t.Fatalf("fd %d twice in %+v", s.fd, in.specs)
			}
			seen[s.fd] = true
			if in.source == EnvListenFDs && (s.fd < listenFDsStart || s.fd >= listenFDsStart+len(in.specs)) {
				t.Fatalf("fd %d outside LISTEN_FDS range in %+v", s.fd, in.specs)
			}
		}
		if ready > 1 {
			t.Fatalf("%d readiness sockets in %+v", ready, in.specs)
		}
	})
}
