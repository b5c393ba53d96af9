package sockets

import (
	"strconv"
	"strings"

	"github.com/dewyhq/dewy/listener"
)

// Env returns the variables that describe the child's inherited sockets,
// given that the held sockets arrive as descriptors firstFD, firstFD+1, ...
// in Set order (ExtraFiles start at 3), followed by one descriptor for each
// name in extraNames:
//
//	SERVER_STARTER_PORT=addr=fd;addr=fd   held sockets only, Server::Starter's format
//	LISTEN_FDS=n                          held and extra descriptors
//	LISTEN_FDNAMES=name:name              one per descriptor, systemd-valid
//
// Extra descriptors (such as a per-generation readiness listener) are
// listed for systemd only: a Server::Starter app serves every socket in
// SERVER_STARTER_PORT, and the extra ones are not for its traffic. Env
// returns nil when there is no descriptor at all. systemd requires
// LISTEN_FDS to start at 3 (SD_LISTEN_FDS_START); a firstFD of anything
// else is honoured in SERVER_STARTER_PORT only.
func (s *Set) Env(firstFD int, extraNames ...string) []string {
	n := s.Len() + len(extraNames)
	if n == 0 {
		return nil
	}
	var env []string
	if s.Len() > 0 {
		parts := make([]string, s.Len())
		for i, h := range s.socks {
			parts[i] = h.spec + "=" + strconv.Itoa(firstFD+i)
		}
		env = append(env, listener.EnvServerStarterPort+"="+strings.Join(parts, ";"))
	}
	names := make([]string, 0, n)
	for i := 0; i < s.Len(); i++ {
		names = append(names, s.socks[i].name)
	}
	for _, x := range extraNames {
		names = append(names, SanitizeFDName(x))
	}
	env = append(env,
		listener.EnvListenFDs+"="+strconv.Itoa(n),
		listener.EnvListenFDNames+"="+strings.Join(names, ":"),
	)
	return env
}
