package plan

import (
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/dewyhq/dewy/actions"
)

// Plan is a compiled config. Treat it as read-only.
type Plan struct {
	// Source is the config file it was compiled from ("" for flags only).
	Source     string
	Agent      Agent
	Registries map[string]Registry
	Notifiers  map[string]Notifier
	// Apps are sorted by name.
	Apps    []App
	Signals SignalTable
}

// App returns the named app.
func (p *Plan) App(name string) (App, bool) {
	for _, a := range p.Apps {
		if a.Name == name {
			return a, true
		}
	}
	return App{}, false
}

// Agent is the flat, layered agent settings.
type Agent struct {
	LogLevel    string
	LogFormat   string
	StateDir    string
	AdminSocket string
	// PidFile is where dewy writes its pid once it is up; empty for none.
	// A relative path from the file is already resolved against the
	// file's folder; one from a flag or DEWY_PID_FILE is left relative
	// (to the working directory).
	PidFile string
	// Containment is "auto" (cgroup v2 where possible, else the token) or
	// "token".
	Containment string
	// Cache is the fleet's shared cache (s3:// or gs://); nil for the
	// local one.
	Cache *url.URL
	// RegistryTTL is how long a registry's answer is shared through the
	// cache; 0 for not at all.
	RegistryTTL time.Duration
	// Metrics is the host:port of the metrics on TCP ("" for none).
	Metrics string
	// Notifiers name the notifier blocks that hear dewy's own events
	// (started, stopped) and every app's.
	Notifiers []string
	// Origins maps each setting's key ("log_level") to where its value
	// came from: "default", "dewy.hcl:3:3", "env DEWY_LOG_LEVEL", "flag --log-level".
	Origins map[string]string
}

// Registry is where an app's releases come from.
type Registry struct {
	Name string
	// Scheme is one of file, ghr, s3, gs, grpc.
	Scheme     string
	URL        *url.URL
	PreRelease bool
	Artifact   string
	Interval   time.Duration
	Slot       string
	// Calver is the calendar-version format; "" for semantic versions.
	Calver string
	// VerifyRequired refuses a release without a checksum for its artifact.
	VerifyRequired bool
	// MaxArtifactSize bounds a download.
	MaxArtifactSize int64
	Origin          string
}

// Notifier is where people hear about deploys and restarts.
type Notifier struct {
	Name string
	// Scheme is one of slack, mail, smtp, https, http.
	Scheme string
	// URL may carry credentials (a mail password): never log it; Redacted
	// is what may be shown.
	URL   *url.URL
	Title string
	Quiet bool
	// Secret signs a webhook's body; SecretEnv names the variable that
	// holds it instead. Never logged.
	Secret    string
	SecretEnv string
	Origin    string
}

// secretParams are the query options whose values are credentials.
var secretParams = []string{"password", "token", "secret", "key", "sig", "signature", "access_token", "api_key", "apikey"}

// IsSecretParam says whether a URL query option holds a credential.
func IsSecretParam(name string) bool {
	for _, p := range secretParams {
		if strings.EqualFold(name, p) {
			return true
		}
	}
	return false
}

// RedactURL returns u as it may be shown: a userinfo password and the
// values of credential query options (password=, token=, ...) masked.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.RawQuery != "" {
		q := c.Query()
		changed := false
		for k := range q {
			if IsSecretParam(k) {
				q[k] = []string{"xxxxx"}
				changed = true
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	}
	return c.Redacted()
}

// Redacted is the notifier's URL as it may be shown.
func (n Notifier) Redacted() string { return RedactURL(n.URL) }

// ListenAddr is one socket dewy holds for an app.
type ListenAddr struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp and the path for unix.
	Address string
	// Raw is what the config said: "0.0.0.0:8080", "unix:/run/api.sock".
	Raw string
}

// Ready says how dewy learns that a new generation can take traffic.
type Ready struct {
	// Delay is a fixed wait; used when no probe is set.
	Delay time.Duration
	// HTTP is a URL probed until it answers 2xx.
	HTTP string
	// TCP is an address probed until it accepts a connection.
	TCP string
	// Held is the app's listen address (as written) that the HTTP or TCP
	// probe reaches, if any: every generation accepts there, so an answer
	// counts only when the accepting process is the new generation's.
	Held string
	// Notify waits for READY=1 on the per-app NOTIFY_SOCKET.
	Notify bool
	// Timeout bounds the whole wait.
	Timeout time.Duration
	// Interval is the pause between probes.
	Interval time.Duration
}

// Stop says how a generation is stopped.
type Stop struct {
	Signal  syscall.Signal
	Timeout time.Duration
}

// RestartPolicy says when an app that exited on its own is started again.
type RestartPolicy struct {
	// Policy is "always", "on-failure" or "never".
	Policy string
	// Backoff grows from Initial to Max, doubling, with Jitter (a fraction).
	Initial time.Duration
	Max     time.Duration
	Jitter  float64
	// CrashLoop: Burst exits within Window put the app into crash-loop,
	// retried after Cooldown.
	Burst    int
	Window   time.Duration
	Cooldown time.Duration
}

// Output says where an app's stdout and stderr go.
type Output struct {
	// File is empty to inherit dewy's own stdout/stderr (for journald).
	File string
	// MaxSize rotates the file when it grows past this many bytes.
	MaxSize int64
	// Keep is how many rotated files are kept.
	Keep int
}

// Hooks are shell commands run around a deploy.
type Hooks struct {
	BeforeDeploy string
	AfterDeploy  string
	// Timeout bounds each hook; then its whole process group is killed.
	Timeout time.Duration
}

// App is one supervised application.
type App struct {
	Name     string
	Registry string
	Dir      string
	Command  []string
	// Assets: a folder of files its registry keeps current; Command is
	// empty and nothing runs.
	Assets    bool
	Env       map[string]string
	EnvFile   string
	User      string
	Group     string
	Listen    []ListenAddr
	Notifiers []string
	Ready     Ready
	Stop      Stop
	Restart   RestartPolicy
	Output    Output
	Hooks     Hooks
	Keep      int
	Origin    string
}

// SignalEntry is one row of the dispatch map.
type SignalEntry struct {
	Signal syscall.Signal
	Action actions.Spec
	// Origin is "default" or the block's position, "dewy.hcl:14:1".
	Origin string
}

// OriginDefault marks a shipped default.
const OriginDefault = "default"

// SignalTable is the compiled dispatch map: signal -> action. It is
// immutable; build one with NewSignalTable.
type SignalTable struct {
	entries map[syscall.Signal]SignalEntry
}

// DefaultSignals are the shipped defaults, exactly the seed's semantics:
// HUP is meant for the app, USR1 restarts gracefully, INT/TERM/QUIT shut down.
func DefaultSignals() []SignalEntry {
	return []SignalEntry{
		{Signal: syscall.SIGHUP, Action: actions.Spec{Name: actions.Ignore}, Origin: OriginDefault},
		{Signal: syscall.SIGUSR1, Action: actions.Spec{Name: actions.Restart}, Origin: OriginDefault},
		{Signal: syscall.SIGINT, Action: actions.Spec{Name: actions.Shutdown}, Origin: OriginDefault},
		{Signal: syscall.SIGTERM, Action: actions.Spec{Name: actions.Shutdown}, Origin: OriginDefault},
		{Signal: syscall.SIGQUIT, Action: actions.Spec{Name: actions.Shutdown}, Origin: OriginDefault},
	}
}

// NewSignalTable merges overrides onto the shipped defaults by signal:
// an override replaces that signal's entry only.
func NewSignalTable(overrides []SignalEntry) SignalTable {
	t := SignalTable{entries: map[syscall.Signal]SignalEntry{}}
	for _, e := range DefaultSignals() {
		t.entries[e.Signal] = e
	}
	for _, e := range overrides {
		t.entries[e.Signal] = e
	}
	return t
}

// Lookup returns the entry for a signal.
func (t SignalTable) Lookup(s syscall.Signal) (SignalEntry, bool) {
	e, ok := t.entries[s]
	return e, ok
}

// Signals returns every signal with an entry, in signal-number order: the
// set the engine registers.
func (t SignalTable) Signals() []syscall.Signal {
	out := make([]syscall.Signal, 0, len(t.entries))
	for s := range t.entries {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Entries returns the rows in signal-number order.
func (t SignalTable) Entries() []SignalEntry {
	var out []SignalEntry
	for _, s := range t.Signals() {
		out = append(out, t.entries[s])
	}
	return out
}
