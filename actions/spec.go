package actions

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
)

// Name identifies an action in the vocabulary.
type Name string

// The action vocabulary.
const (
	Ignore     Name = "ignore"
	Restart    Name = "restart"
	Shutdown   Name = "shutdown"
	Forward    Name = "forward"
	Deploy     Name = "deploy"
	Reload     Name = "reload"
	Rollback   Name = "rollback"
	ReopenLogs Name = "reopen_logs"
	Status     Name = "status"
)

// ParamKind says how a parameter is written in a signal block.
type ParamKind int

const (
	// AppList is a list of app names, `apps = ["api", "web"]`.
	AppList ParamKind = iota
	// SignalName is one signal name, `send = "HUP"`.
	SignalName
)

// The parameters an action may take.
const (
	ParamApps = "apps"
	ParamSend = "send"
)

// Param declares one parameter of an action.
type Param struct {
	Name string
	Kind ParamKind
	Doc  string
}

// Def declares one action: its name, what it does, and the parameters it
// accepts. It is data: the decoder, the schema and the engine read it.
type Def struct {
	Name   Name
	Doc    string
	Params []Param
	// New builds the runnable action from a checked Spec.
	New func(Spec) Action
}

// Accepts reports whether the action takes the named parameter.
func (d Def) Accepts(param string) bool {
	for _, p := range d.Params {
		if p.Name == param {
			return true
		}
	}
	return false
}

// Spec is a compiled `signal` block's action: the name and its parameters,
// with names already resolved (Send is a real signal number).
type Spec struct {
	Name Name
	// Apps limits the action to these apps; empty means the action's own
	// default set (for restart: every app that has listeners).
	Apps []string
	// Send is the signal that forward sends; 0 means "the signal received".
	Send syscall.Signal
}

// String renders the spec as it would be written, for logs and the
// effective signal table: `forward send=HUP apps=[api]`.
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(string(s.Name))
	if s.Send != 0 {
		fmt.Fprintf(&b, " send=%s", SignalString(s.Send))
	}
	if len(s.Apps) > 0 {
		fmt.Fprintf(&b, " apps=[%s]", strings.Join(s.Apps, ","))
	}
	return b.String()
}

// Equal reports whether two specs describe the same action.
func (s Spec) Equal(o Spec) bool {
	if s.Name != o.Name || s.Send != o.Send || len(s.Apps) != len(o.Apps) {
		return false
	}
	for i := range s.Apps {
		if s.Apps[i] != o.Apps[i] {
			return false
		}
	}
	return true
}

// SignalString renders a signal the way dewy names it everywhere: "SIGUSR1".
func SignalString(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return "SIG" + n
	}
	return fmt.Sprintf("signal %d", int(s))
}

// signalNames names the signals actions may send. It is read-only.
var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "HUP", syscall.SIGINT: "INT", syscall.SIGQUIT: "QUIT",
	syscall.SIGUSR1: "USR1", syscall.SIGUSR2: "USR2", syscall.SIGTERM: "TERM",
	syscall.SIGKILL: "KILL", syscall.SIGSTOP: "STOP", syscall.SIGCONT: "CONT",
	syscall.SIGWINCH: "WINCH", syscall.SIGALRM: "ALRM", syscall.SIGTSTP: "TSTP",
	syscall.SIGTTIN: "TTIN", syscall.SIGTTOU: "TTOU", syscall.SIGCHLD: "CHLD",
	syscall.SIGPIPE: "PIPE", syscall.SIGABRT: "ABRT", syscall.SIGURG: "URG",
	syscall.SIGVTALRM: "VTALRM", syscall.SIGPROF: "PROF", syscall.SIGIO: "IO",
	syscall.SIGPWR: "PWR", syscall.SIGSYS: "SYS", syscall.SIGXCPU: "XCPU",
	syscall.SIGXFSZ: "XFSZ", syscall.SIGTRAP: "TRAP", syscall.SIGBUS: "BUS",
	syscall.SIGFPE: "FPE", syscall.SIGILL: "ILL", syscall.SIGSEGV: "SEGV",
	syscall.SIGSTKFLT: "STKFLT",
}

// Vocabulary returns every action, sorted by name. The slice is a copy.
func Vocabulary() []Def {
	defs := []Def{
		{Name: Ignore, Doc: "Log the signal and do nothing. The signal stays registered so it cannot terminate dewy; use it for signals meant for the apps, such as HUP.", New: newIgnore},
		{Name: Restart, Doc: "Gracefully restart apps on their held sockets: the new generation must be ready before the old one is stopped.", Params: []Param{appsParam("The apps to restart. Default: every app that has `listen` addresses.")}, New: newRestart},
		{Name: Shutdown, Doc: "Stop the scheduler, emit the stop event, stop every app within its stop timeout, and exit 0. A second shutdown signal kills the apps' process groups at once.", New: newShutdown},
		{Name: Forward, Doc: "Send a signal to the current worker of each app.", Params: []Param{
			appsParam("The apps to signal. Default: every app."),
			{Name: ParamSend, Kind: SignalName, Doc: "The signal to send instead of the one received, e.g. \"HUP\"."},
		}, New: newForward},
		{Name: Deploy, Doc: "Poll the registries now and deploy any newer release.", Params: []Param{appsParam("The apps to check. Default: every app with a registry.")}, New: newDeploy},
		{Name: Reload, Doc: "Re-read and compile the config file; apply it completely (start new apps, stop removed ones, restart changed ones gracefully) or, if it has errors, not at all.", New: newReload},
		{Name: Rollback, Doc: "Switch apps back to their previous release and restart them gracefully.", Params: []Param{appsParam("The apps to roll back. Default: every app with a registry.")}, New: newRollback},
		{Name: ReopenLogs, Doc: "Close and reopen the apps' log files, after logrotate moved them.", Params: []Param{appsParam("The apps whose logs to reopen. Default: every app.")}, New: newReopenLogs},
		{Name: Status, Doc: "Log one status line per app: pid, generation, uptime, restarts and state.", Params: []Param{appsParam("The apps to report. Default: every app.")}, New: newStatus},
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs
}

func appsParam(doc string) Param { return Param{Name: ParamApps, Kind: AppList, Doc: doc} }

// Lookup finds an action by name.
func Lookup(name string) (Def, bool) {
	for _, d := range Vocabulary() {
		if string(d.Name) == name {
			return d, true
		}
	}
	return Def{}, false
}

// Names lists the action names, sorted, for "did you mean" and docs.
func Names() []string {
	var out []string
	for _, d := range Vocabulary() {
		out = append(out, string(d.Name))
	}
	return out
}

// Build returns the runnable action for a spec. It panics on an unknown
// name: specs come from config.Compile, which only makes known ones.
func Build(s Spec) Action {
	d, ok := Lookup(string(s.Name))
	if !ok {
		panic(fmt.Sprintf("actions: unknown action %q", s.Name))
	}
	return d.New(s)
}
