package listener

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseEnv(t *testing.T) {
	const self = 4242
	tests := []struct {
		name    string
		env     map[string]string
		want    inheritance
		wantErr string // substring; the variable and value must be in it
	}{
		{name: "nothing inherited", env: nil, want: inheritance{}},
		{
			name: "server starter, tcp v4 v6 unix and bare port",
			env:  map[string]string{"SERVER_STARTER_PORT": "127.0.0.1:8080=3;[::1]:8080=4;/run/app.sock=5;9090=6"},
			want: inheritance{source: EnvServerStarterPort, specs: []spec{
				{fd: 3, name: "127.0.0.1:8080", source: EnvServerStarterPort},
				{fd: 4, name: "[::1]:8080", source: EnvServerStarterPort},
				{fd: 5, name: "/run/app.sock", source: EnvServerStarterPort},
				{fd: 6, name: "9090", source: EnvServerStarterPort},
			}},
		},
		{
			name: "server starter, spaces, trailing separator, '=' in a unix path",
			env:  map[string]string{"SERVER_STARTER_PORT": " 0.0.0.0:80 = 7 ;/tmp/a=b.sock=8;"},
			want: inheritance{source: EnvServerStarterPort, specs: []spec{
				{fd: 7, name: "0.0.0.0:80", source: EnvServerStarterPort},
				{fd: 8, name: "/tmp/a=b.sock", source: EnvServerStarterPort},
			}},
		},
		{
			name: "server starter, abstract unix socket",
			env:  map[string]string{"SERVER_STARTER_PORT": "@dewy/app=3"},
			want: inheritance{source: EnvServerStarterPort, specs: []spec{{fd: 3, name: "@dewy/app", source: EnvServerStarterPort}}},
		},
		{
			name: "systemd for this pid wins over server starter",
			env: map[string]string{
				"LISTEN_FDS": "2", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "http:admin",
				"SERVER_STARTER_PORT": "127.0.0.1:1=9",
			},
			want: inheritance{source: EnvListenFDs, specs: []spec{
				{fd: 3, name: "http", source: EnvListenFDs},
				{fd: 4, name: "admin", source: EnvListenFDs},
			}},
		},
		{
			name: "systemd without names",
			env:  map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "4242"},
			want: inheritance{source: EnvListenFDs, specs: []spec{
				{fd: 3, name: "unknown", source: EnvListenFDs},
				{fd: 4, name: "unknown", source: EnvListenFDs},
			}},
		},
		{
			name: "systemd with zero descriptors",
			env:  map[string]string{"LISTEN_FDS": "0", "LISTEN_PID": "4242", "SERVER_STARTER_PORT": "1=3"},
			want: inheritance{source: EnvListenFDs, specs: []spec{}},
		},
		{
			name: "systemd for another pid falls back to server starter",
			env: map[string]string{
				"LISTEN_FDS": "1", "LISTEN_PID": "1", "LISTEN_FDNAMES": "x",
				"SERVER_STARTER_PORT": "127.0.0.1:8080=3",
			},
			want: inheritance{source: EnvServerStarterPort, specs: []spec{{fd: 3, name: "127.0.0.1:8080", source: EnvServerStarterPort}}},
		},
		{
			name: "LISTEN_FDS without LISTEN_PID is ignored",
			env:  map[string]string{"LISTEN_FDS": "1"},
			want: inheritance{},
		},
		{
			name: "dewy: both protocols and the readiness socket last",
			env: map[string]string{
				"SERVER_STARTER_PORT": "0.0.0.0:8080=3;/run/api.sock=4",
				"LISTEN_FDS":          "3", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "listen0:listen1:dewy-ready",
				"DEWY_READY_FD": "5", "DEWY_READY_ADDR": "127.0.0.1:40001",
			},
			want: inheritance{source: EnvListenFDs, specs: []spec{
				{fd: 3, name: "listen0", source: EnvListenFDs},
				{fd: 4, name: "listen1", source: EnvListenFDs},
				{fd: 5, name: "dewy-ready", source: EnvListenFDs, ready: true},
			}},
		},
		{
			name: "dewy through a wrapper that changed the pid: readiness from DEWY_READY_FD",
			env: map[string]string{
				"SERVER_STARTER_PORT": "0.0.0.0:8080=3",
				"LISTEN_FDS":          "2", "LISTEN_PID": "1", "LISTEN_FDNAMES": "listen0:dewy-ready",
				"DEWY_READY_FD": "4", "DEWY_READY_ADDR": "127.0.0.1:40001",
			},
			want: inheritance{source: EnvServerStarterPort, specs: []spec{
				{fd: 3, name: "0.0.0.0:8080", source: EnvServerStarterPort},
				{fd: 4, name: "127.0.0.1:40001", source: EnvReadyFD, ready: true},
			}},
		},
		{
			name: "readiness fd listed in SERVER_STARTER_PORT anyway",
			env:  map[string]string{"SERVER_STARTER_PORT": "0.0.0.0:8080=3;127.0.0.1:40001=4", "DEWY_READY_FD": "4"},
			want: inheritance{source: EnvServerStarterPort, specs: []spec{
				{fd: 3, name: "0.0.0.0:8080", source: EnvServerStarterPort},
				{fd: 4, name: "127.0.0.1:40001", source: EnvServerStarterPort, ready: true},
			}},
		},
		{
			name: "only a readiness socket",
			env:  map[string]string{"DEWY_READY_FD": "3"},
			want: inheritance{source: EnvReadyFD, specs: []spec{{fd: 3, name: "dewy-ready", source: EnvReadyFD, ready: true}}},
		},

		{name: "entry without fd", env: map[string]string{"SERVER_STARTER_PORT": "127.0.0.1:8080"}, wantErr: `SERVER_STARTER_PORT="127.0.0.1:8080": entry "127.0.0.1:8080" is not addr=fd`},
		{name: "fd not a number", env: map[string]string{"SERVER_STARTER_PORT": "a=3;b=x"}, wantErr: `SERVER_STARTER_PORT="a=3;b=x": entry "b=x": "x" is not a file descriptor`},
		{name: "empty fd", env: map[string]string{"SERVER_STARTER_PORT": "a="}, wantErr: `SERVER_STARTER_PORT="a="`},
		{name: "negative fd", env: map[string]string{"SERVER_STARTER_PORT": "a=-1"}, wantErr: `"-1" is not a file descriptor`},
		{name: "huge fd", env: map[string]string{"SERVER_STARTER_PORT": "a=99999999999"}, wantErr: `"99999999999" is not a file descriptor`},
		{name: "no address", env: map[string]string{"SERVER_STARTER_PORT": "=3"}, wantErr: `SERVER_STARTER_PORT="=3": entry "=3" has no address`},
		{name: "fd twice", env: map[string]string{"SERVER_STARTER_PORT": "a=3;b=3"}, wantErr: `fd 3 is listed for both "a" and "b"`},
		{name: "bad LISTEN_PID", env: map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "me"}, wantErr: `LISTEN_PID="me": is not a process id`},
		{name: "bad LISTEN_FDS", env: map[string]string{"LISTEN_FDS": "two", "LISTEN_PID": "4242"}, wantErr: `LISTEN_FDS="two": is not a count`},
		{name: "negative LISTEN_FDS", env: map[string]string{"LISTEN_FDS": "-1", "LISTEN_PID": "4242"}, wantErr: `LISTEN_FDS="-1"`},
		{name: "absurd LISTEN_FDS", env: map[string]string{"LISTEN_FDS": "100000", "LISTEN_PID": "4242"}, wantErr: `LISTEN_FDS="100000": is more than 4096`},
		{name: "names do not match the count", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "a:b:c"}, wantErr: `LISTEN_FDNAMES="a:b:c": has 3 names but LISTEN_FDS=2`},
		{name: "control character in a name", env: map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "a\nb"}, wantErr: `LISTEN_FDNAMES="a\nb": name "a\nb" has a control character`},
		{name: "two readiness sockets", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "dewy-ready:dewy-ready"}, wantErr: `names "dewy-ready" twice (fd 3 and fd 4)`},
		{name: "DEWY_READY_FD disagrees with the names", env: map[string]string{"LISTEN_FDS": "2", "LISTEN_PID": "4242", "LISTEN_FDNAMES": "a:dewy-ready", "DEWY_READY_FD": "3"}, wantErr: `DEWY_READY_FD="3": does not match`},
		{name: "bad DEWY_READY_FD", env: map[string]string{"DEWY_READY_FD": "ready"}, wantErr: `DEWY_READY_FD="ready": is not a file descriptor`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEnv(envOf(tt.env), self)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parseEnv() = %+v, want error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseEnv() error = %q, want it to contain %q", err, tt.wantErr)
				}
				var ee *EnvError
				if !errors.As(err, &ee) {
					t.Fatalf("parseEnv() error %T is not an *EnvError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseEnv() error = %v", err)
			}
			if len(got.specs) == 0 && len(tt.want.specs) == 0 {
				got.specs, tt.want.specs = nil, nil
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseEnv() =\n  %+v\nwant\n  %+v", got, tt.want)
			}
		})
	}
}

func TestParseGeneration(t *testing.T) {
	for in, want := range map[string]int{"1": 1, " 12 ": 12, "0": 0} {
		if got, ok := parseGeneration(in); !ok || got != want {
			t.Errorf("parseGeneration(%q) = %d, %v; want %d, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "x", "-1"} {
		if _, ok := parseGeneration(in); ok {
			t.Errorf("parseGeneration(%q) ok = true, want false", in)
		}
	}
}
