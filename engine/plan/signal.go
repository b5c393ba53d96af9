package plan

import (
	"sort"
	"strings"
	"syscall"

	"github.com/dewyhq/dewy/actions"
)

// signalInfo describes one signal name dewy knows.
type signalInfo struct {
	name string // without the SIG prefix
	sig  syscall.Signal
	// why is set for signals a signal block may not use; it says why.
	why string
}

const (
	whyUncatchable = "cannot be caught, blocked or ignored by any process"
	whyReserved    = "is reserved: dewy needs it itself"
	whyFault       = "is a synchronous fault signal the Go runtime turns into a crash"
)

// signalTable is read-only.
var signalTable = []signalInfo{
	{"HUP", syscall.SIGHUP, ""},
	{"INT", syscall.SIGINT, ""},
	{"QUIT", syscall.SIGQUIT, ""},
	{"TERM", syscall.SIGTERM, ""},
	{"USR1", syscall.SIGUSR1, ""},
	{"USR2", syscall.SIGUSR2, ""},
	{"WINCH", syscall.SIGWINCH, ""},
	{"ALRM", syscall.SIGALRM, ""},
	{"TSTP", syscall.SIGTSTP, ""},
	{"TTIN", syscall.SIGTTIN, ""},
	{"TTOU", syscall.SIGTTOU, ""},
	{"CONT", syscall.SIGCONT, ""},
	{"VTALRM", syscall.SIGVTALRM, ""},
	{"IO", syscall.SIGIO, ""},
	{"PWR", syscall.SIGPWR, ""},
	{"XCPU", syscall.SIGXCPU, ""},
	{"XFSZ", syscall.SIGXFSZ, ""},
	{"KILL", syscall.SIGKILL, whyUncatchable},
	{"STOP", syscall.SIGSTOP, whyUncatchable},
	{"CHLD", syscall.SIGCHLD, whyReserved + " to reap app processes"},
	{"PIPE", syscall.SIGPIPE, whyReserved + ": a closed log or socket pipe must not become an action"},
	{"URG", syscall.SIGURG, whyReserved + ": the Go runtime uses it to preempt goroutines"},
	{"PROF", syscall.SIGPROF, whyReserved + ": the Go runtime uses it for profiling"},
	{"SEGV", syscall.SIGSEGV, whyFault},
	{"BUS", syscall.SIGBUS, whyFault},
	{"FPE", syscall.SIGFPE, whyFault},
	{"ILL", syscall.SIGILL, whyFault},
	{"TRAP", syscall.SIGTRAP, whyFault},
	{"ABRT", syscall.SIGABRT, whyFault},
	{"SYS", syscall.SIGSYS, whyFault},
	{"STKFLT", syscall.SIGSTKFLT, whyFault},
}

// SignalStatus says whether a parsed signal name may carry a signal block.
type SignalStatus int

const (
	// SignalUnknown: the name is not a signal dewy knows.
	SignalUnknown SignalStatus = iota
	// SignalUsable: the signal can be mapped to an action.
	SignalUsable
	// SignalForbidden: a real signal that no block may map; see the reason.
	SignalForbidden
)

// ParseSignal accepts "USR1", "SIGUSR1", "usr1" and "sigusr1" and returns the
// signal, its canonical name without prefix ("USR1"), whether it may be
// mapped, and for a forbidden signal the reason.
func ParseSignal(name string) (sig syscall.Signal, canonical string, status SignalStatus, why string) {
	n := strings.ToUpper(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "SIG")
	for _, s := range signalTable {
		if s.name == n {
			if s.why != "" {
				return s.sig, s.name, SignalForbidden, s.why
			}
			return s.sig, s.name, SignalUsable, ""
		}
	}
	return 0, "", SignalUnknown, ""
}

// SignalNames lists every signal name a block may use, sorted; for "did you
// mean" suggestions and the schema.
func SignalNames() []string {
	var out []string
	for _, s := range signalTable {
		if s.why == "" {
			out = append(out, s.name)
		}
	}
	sort.Strings(out)
	return out
}

// SignalName renders a signal as "SIGUSR1".
func SignalName(s syscall.Signal) string { return actions.SignalString(s) }
