package listener

import (
	"fmt"
	"strconv"
	"strings"
)

// The environment variables this package reads. dewy sets all of them at
// once; other supervisors (Server::Starter, systemd, systemd-socket-activate,
// einhorn-style shims) set the subset of their own protocol.
const (
	// EnvServerStarterPort is Server::Starter's "addr=fd;addr=fd" list.
	EnvServerStarterPort = "SERVER_STARTER_PORT"
	// EnvServerStarterGeneration counts the restarts of the app (1, 2, ...).
	EnvServerStarterGeneration = "SERVER_STARTER_GENERATION"
	// EnvGeneration is dewy's own generation counter, the same number.
	EnvGeneration = "DEWY_GENERATION"
	// EnvApp is the name of the app in dewy's config.
	EnvApp = "DEWY_APP"
	// EnvListenFDs is systemd's count of inherited descriptors from fd 3 on.
	EnvListenFDs = "LISTEN_FDS"
	// EnvListenPID is the pid LISTEN_FDS is meant for; other processes ignore it.
	EnvListenPID = "LISTEN_PID"
	// EnvListenFDNames is systemd's colon-separated name of each descriptor.
	EnvListenFDNames = "LISTEN_FDNAMES"
	// EnvReadyFD is the descriptor of dewy's per-generation readiness socket.
	EnvReadyFD = "DEWY_READY_FD"
	// EnvReadyAddr is the host:port dewy probes on that socket.
	EnvReadyAddr = "DEWY_READY_ADDR"
	// EnvNotifySocket is the sd_notify datagram socket (a path, or '@' for abstract).
	EnvNotifySocket = "NOTIFY_SOCKET"
)

// ReadyName is the LISTEN_FDNAMES name of dewy's per-generation readiness
// socket. It is never returned by [Listeners] or [Listen], only by [Ready].
const ReadyName = "dewy-ready"

// listenFDsStart is SD_LISTEN_FDS_START: systemd passes descriptors from 3 on.
const listenFDsStart = 3

// maxListenFDs bounds LISTEN_FDS so a corrupt value cannot make us walk
// millions of descriptors; no real supervisor passes more than a handful.
const maxListenFDs = 4096

// EnvError reports an environment variable whose value breaks its protocol.
// The message names the variable and quotes the value, so a misconfigured
// supervisor is found from the app's log alone.
type EnvError struct {
	Var    string // the variable at fault, e.g. "SERVER_STARTER_PORT"
	Value  string // its whole value
	Reason string // what is wrong with it
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("listener: %s=%q: %s", e.Var, e.Value, e.Reason)
}

// spec describes one inherited descriptor, before it is taken.
type spec struct {
	fd     int
	name   string // SERVER_STARTER_PORT address or LISTEN_FDNAMES name
	source string // the variable that described it
	ready  bool   // dewy's per-generation readiness socket
}

// inheritance is what the environment says was passed to this process.
type inheritance struct {
	source string // EnvListenFDs, EnvServerStarterPort, or "" when nothing was passed
	specs  []spec
}

// parseEnv reads the socket-passing protocols from getenv for a process with
// the given pid. systemd's variables win when LISTEN_PID is this process (so a
// stale LISTEN_FDS inherited from a parent is ignored, as sd_listen_fds does);
// otherwise SERVER_STARTER_PORT is used. It is pure: it touches no descriptor.
func parseEnv(getenv func(string) string, pid int) (inheritance, error) {
	var in inheritance
	readyFD, hasReadyFD, err := parseFD(EnvReadyFD, getenv(EnvReadyFD))
	if err != nil {
		return in, err
	}

	useSystemd, err := systemdApplies(getenv(EnvListenPID), getenv(EnvListenFDs), pid)
	if err != nil {
		return in, err
	}
	if useSystemd {
		in.source = EnvListenFDs
		in.specs, err = parseListenFDs(getenv(EnvListenFDs), getenv(EnvListenFDNames))
		if err != nil {
			return in, err
		}
		readyAt := -1
		for i, s := range in.specs {
			if s.name == ReadyName {
				if readyAt >= 0 {
					return in, &EnvError{Var: EnvListenFDNames, Value: getenv(EnvListenFDNames),
						Reason: fmt.Sprintf("names %q twice (fd %d and fd %d)", ReadyName, in.specs[readyAt].fd, s.fd)}
				}
				readyAt = i
				in.specs[i].ready = true
			}
		}
		if hasReadyFD && (readyAt < 0 || in.specs[readyAt].fd != readyFD) {
			return in, &EnvError{Var: EnvReadyFD, Value: getenv(EnvReadyFD),
				Reason: fmt.Sprintf("does not match the fd that %s=%q names %q", EnvListenFDNames, getenv(EnvListenFDNames), ReadyName)}
		}
		return in, nil
	}

	if v := getenv(EnvServerStarterPort); v != "" {
		in.source = EnvServerStarterPort
		in.specs, err = parseServerStarterPort(v)
		if err != nil {
			return in, err
		}
	}
	if hasReadyFD {
		// The contract leaves the readiness socket out of SERVER_STARTER_PORT;
		// if a supervisor lists it anyway, it is still only the readiness socket.
		found := false
		for i := range in.specs {
			if in.specs[i].fd == readyFD {
				in.specs[i].ready = true
				found = true
			}
		}
		if !found {
			name := getenv(EnvReadyAddr)
			if name == "" {
				name = ReadyName
			}
			in.specs = append(in.specs, spec{fd: readyFD, name: name, source: EnvReadyFD, ready: true})
		}
		if in.source == "" {
			in.source = EnvReadyFD
		}
	}
	return in, nil
}

// systemdApplies reports whether LISTEN_FDS is meant for this process.
func systemdApplies(pidValue, fdsValue string, pid int) (bool, error) {
	if pidValue == "" || fdsValue == "" {
		return false, nil
	}
	p, err := strconv.Atoi(strings.TrimSpace(pidValue))
	if err != nil || p <= 0 {
		return false, &EnvError{Var: EnvListenPID, Value: pidValue, Reason: "is not a process id"}
	}
	return p == pid, nil
}

// parseListenFDs turns LISTEN_FDS and LISTEN_FDNAMES into specs for fds 3..3+n-1.
// Without LISTEN_FDNAMES every name is "unknown", as in sd_listen_fds_with_names.
func parseListenFDs(fdsValue, namesValue string) ([]spec, error) {
	n, err := strconv.Atoi(strings.TrimSpace(fdsValue))
	if err != nil || n < 0 {
		return nil, &EnvError{Var: EnvListenFDs, Value: fdsValue, Reason: "is not a count of descriptors"}
	}
	if n > maxListenFDs {
		return nil, &EnvError{Var: EnvListenFDs, Value: fdsValue, Reason: fmt.Sprintf("is more than %d descriptors", maxListenFDs)}
	}
	names, err := parseFDNames(namesValue, n)
	if err != nil {
		return nil, err
	}
	specs := make([]spec, n)
	for i := range n {
		specs[i] = spec{fd: listenFDsStart + i, name: names[i], source: EnvListenFDs}
	}
	return specs, nil
}

// parseFDNames splits LISTEN_FDNAMES and checks it names exactly n descriptors.
func parseFDNames(value string, n int) ([]string, error) {
	if value == "" {
		names := make([]string, n)
		for i := range names {
			names[i] = "unknown"
		}
		return names, nil
	}
	names := strings.Split(value, ":")
	if len(names) != n {
		return nil, &EnvError{Var: EnvListenFDNames, Value: value,
			Reason: fmt.Sprintf("has %d names but %s=%d", len(names), EnvListenFDs, n)}
	}
	for _, name := range names {
		for _, r := range name {
			if r < 0x20 || r == 0x7f {
				return nil, &EnvError{Var: EnvListenFDNames, Value: value, Reason: fmt.Sprintf("name %q has a control character", name)}
			}
		}
	}
	return names, nil
}

// parseServerStarterPort parses Server::Starter's "addr=fd;addr=fd". An addr is
// "port", "host:port", "[v6]:port" or a unix socket path (which may itself
// contain '=', so the fd is what follows the last '='). Empty entries, such as
// after a trailing ';', are skipped; an fd listed twice is an error, because
// each descriptor can back only one listener.
func parseServerStarterPort(value string) ([]spec, error) {
	var specs []spec
	seen := map[int]string{}
	for _, entry := range strings.Split(value, ";") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		eq := strings.LastIndexByte(entry, '=')
		if eq < 0 {
			return nil, &EnvError{Var: EnvServerStarterPort, Value: value,
				Reason: fmt.Sprintf("entry %q is not addr=fd", entry)}
		}
		addr := strings.TrimSpace(entry[:eq])
		if addr == "" {
			return nil, &EnvError{Var: EnvServerStarterPort, Value: value,
				Reason: fmt.Sprintf("entry %q has no address", entry)}
		}
		fd, ok, err := parseFD(EnvServerStarterPort, entry[eq+1:])
		if err != nil || !ok {
			return nil, &EnvError{Var: EnvServerStarterPort, Value: value,
				Reason: fmt.Sprintf("entry %q: %q is not a file descriptor", entry, entry[eq+1:])}
		}
		if prev, dup := seen[fd]; dup {
			return nil, &EnvError{Var: EnvServerStarterPort, Value: value,
				Reason: fmt.Sprintf("fd %d is listed for both %q and %q", fd, prev, addr)}
		}
		seen[fd] = addr
		specs = append(specs, spec{fd: fd, name: addr, source: EnvServerStarterPort})
	}
	return specs, nil
}

// parseFD parses a descriptor number; ok is false for an empty value.
func parseFD(variable, value string) (fd int, ok bool, err error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return 0, false, &EnvError{Var: variable, Value: value, Reason: "is not a file descriptor"}
	}
	return int(n), true, nil
}

// parseGeneration reads SERVER_STARTER_GENERATION.
func parseGeneration(value string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
