package config

import (
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
)

// Kind is the type of an attribute's value, as written in the file.
type Kind int

// Attribute kinds.
const (
	KindString Kind = iota
	KindBool
	KindInt
	KindDuration // a string such as "30s" or "1m"
	KindSize     // a string such as "10MB" or a number of bytes
	KindStringList
	KindStringMap
)

func (k Kind) String() string {
	return [...]string{"string", "bool", "number", "duration", "size", "list of strings", "map of strings"}[k]
}

// AttrSpec declares one attribute.
type AttrSpec struct {
	Name     string
	Kind     Kind
	Required bool
	// Default is the value used when the attribute is absent, as written
	// in the file ("30s", "TERM"); empty means no default.
	Default string
	// Enum lists the allowed values of a string attribute.
	Enum []string
	Doc  string
}

// BlockSpec declares one block type and what it may contain.
type BlockSpec struct {
	Type string
	// Label is the name of the block's single label ("name"), or empty
	// for a block without labels.
	Label string
	// Unique blocks may appear once in their parent.
	Unique bool
	Doc    string
	Attrs  []AttrSpec
	Blocks []BlockSpec
}

// Attr finds an attribute declaration by name.
func (b BlockSpec) Attr(name string) (AttrSpec, bool) {
	for _, a := range b.Attrs {
		if a.Name == name {
			return a, true
		}
	}
	return AttrSpec{}, false
}

// Block finds a nested block declaration by type.
func (b BlockSpec) Block(typ string) (BlockSpec, bool) {
	for _, c := range b.Blocks {
		if c.Type == typ {
			return c, true
		}
	}
	return BlockSpec{}, false
}

// bodySchema is the hcl schema the decoder checks a body against.
// Required attributes are checked by the decoder itself, so the message can
// end with the fix.
func (b BlockSpec) bodySchema() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, a := range b.Attrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.Name})
	}
	for _, c := range b.Blocks {
		bs := hcl.BlockHeaderSchema{Type: c.Type}
		if c.Label != "" {
			bs.LabelNames = []string{c.Label}
		}
		s.Blocks = append(s.Blocks, bs)
	}
	return s
}

// Agent setting keys, shared by the file, DEWY_* variables and flags.
const (
	KeyLogLevel    = "log_level"
	KeyLogFormat   = "log_format"
	KeyStateDir    = "state_dir"
	KeyAdminSocket = "admin_socket"
	KeyPidFile     = "pid_file"
	KeyContainment = "containment"
	KeyCache       = "cache"
	KeyRegistryTTL = "registry_ttl"
	KeyMetrics     = "metrics"
	KeyNotifiers   = "notifiers"
)

// DefaultPath is where dewy looks for its config when none is given.
const DefaultPath = "/etc/dewy.hcl"

// Spec is the whole config language: the root body and every block in it.
// The decoder, `dewy validate`, the JSON Schema and the reference page are
// all derived from this one declaration.
func Spec() BlockSpec {
	return BlockSpec{
		Type: "file",
		Doc:  "A dewy config file. Blocks may appear in any order.",
		Blocks: []BlockSpec{
			{
				Type: "agent", Unique: true,
				Doc: "Flat settings of the agent itself. Layered: shipped defaults < this block < DEWY_* environment variables < command-line flags.",
				Attrs: []AttrSpec{
					{Name: KeyLogLevel, Kind: KindString, Default: "info", Enum: []string{"debug", "info", "warn", "error"}, Doc: "Log level. Env DEWY_LOG_LEVEL, flag --log-level."},
					{Name: KeyLogFormat, Kind: KindString, Default: "console", Enum: []string{"console", "json"}, Doc: "Log format: console (human, colour on a terminal) or json (one object per line). Env DEWY_LOG_FORMAT, flag --log-format."},
					{Name: KeyStateDir, Kind: KindString, Default: "/var/lib/dewy", Doc: "Absolute directory for the download cache and state. Env DEWY_STATE_DIR, flag --state-dir."},
					{Name: KeyAdminSocket, Kind: KindString, Default: "/run/dewy.sock", Doc: "Path of the control socket that `dewy status`, `dewy restart`, `dewy deploy` ... talk to (mode 0600, dewy's user only). A relative path is resolved against the config file's folder (from env or flag: the working directory). Env DEWY_ADMIN_SOCKET, flag --admin-socket."},
					{Name: KeyPidFile, Kind: KindString, Doc: "Write dewy's pid here once it is up; removed at exit. A relative path is resolved against the config file's folder (from env or flag: the working directory). Env DEWY_PID_FILE, flag --pid-file."},
					{Name: KeyContainment, Kind: KindString, Default: "auto", Enum: []string{"auto", "token"}, Doc: "How the processes of a generation are found when it stops: auto (a cgroup v2 per generation where dewy may create one, else the DEWY_TOKEN environment token) or token (never a cgroup: another manager owns the cgroup tree). Env DEWY_CONTAINMENT, flag --containment."},
					{Name: KeyMetrics, Kind: KindString, Doc: "host:port to serve Prometheus metrics on at /metrics (e.g. 127.0.0.1:9901); they are always at /metrics on the control socket too. Empty: not on TCP. Env DEWY_METRICS, flag --metrics."},
					{Name: KeyCache, Kind: KindString, Default: "local", Doc: "Where downloaded releases are shared: local (the state_dir, this host only), or a bucket shared by a fleet, s3://<region>/<bucket>/<prefix>[?endpoint=URL] or gs://<bucket>/<prefix>: the first host to see a release downloads it from the registry and stores it there, the others read it from there (and check it as any download). Env DEWY_CACHE, flag --cache."},
					{Name: KeyRegistryTTL, Kind: KindDuration, Default: "0s", Doc: "With a shared cache: the registries' answers are shared for this long, so one host per window asks each registry (the one whose conditional write of the window's lock succeeds) and, when the registry fails, the last shared answer is used. 0s: every host asks on every poll. Env DEWY_REGISTRY_TTL, flag --registry-ttl."},
					{Name: KeyNotifiers, Kind: KindStringList, Doc: "Names of notifier blocks that hear dewy's own events (started, stopped) and every app's. Env DEWY_NOTIFIERS, flag --notifiers: the names separated by commas."},
				},
			},
			{
				Type: "registry", Label: "name",
				Doc: "Where an app's releases come from. Referenced by name from `app.registry`.",
				Attrs: []AttrSpec{
					{Name: "url", Kind: KindString, Required: true, Doc: "file:///dir, ghr://owner/repo, s3://<region>/<bucket>/<prefix>?endpoint=..., gs://<bucket>/<prefix>, or grpc://host:port?no-tls=true. Query options as in the flag style (pre-release, artifact)."},
					{Name: "pre_release", Kind: KindBool, Default: "false", Doc: "Consider pre-release versions (v1.2.3-rc.1). Overrides ?pre-release= in the URL."},
					{Name: "artifact", Kind: KindString, Doc: "The release asset to download. Default: picked by OS and architecture. Overrides ?artifact= in the URL."},
					{Name: "interval", Kind: KindDuration, Default: "1m", Doc: "How often the registry is polled."},
					{Name: "slot", Kind: KindString, Doc: "Deployment slot: only versions whose build metadata matches (+blue) are deployed."},
					{Name: "calver", Kind: KindString, Doc: "Versions are calendar versions of this format (YYYY.0M.0D.MICRO; specifiers YYYY YY 0Y MM 0M WW 0W DD 0D MICRO) instead of semantic versions."},
					{Name: "verify", Kind: KindString, Default: "auto", Enum: []string{"auto", "required"}, Doc: "auto: check the artifact against the release's checksum file (checksums.txt, SHA256SUMS, <artifact>.sha256) when it has one; required: a release without one is refused."},
					{Name: "max_artifact_size", Kind: KindSize, Default: "1GiB", Doc: "A larger artifact is refused (and its version not tried again)."},
				},
			},
			{
				Type: "notifier", Label: "name",
				Doc: "Where people hear about deploys, restarts and failures. Referenced by name from `app.notifiers`.",
				Attrs: []AttrSpec{
					{Name: "url", Kind: KindString, Required: true, Doc: "slack://channel (bot token from SLACK_TOKEN; ?webhook_env=NAME posts to the incoming webhook whose URL is in that variable, and without a token SLACK_WEBHOOK_URL is used), mail://host:port/to@example.com (or smtp://) with ?from=, subject=, username=, password=, tls=true|false|implicit (credentials also from MAIL_USERNAME, MAIL_PASSWORD, MAIL_FROM), or an https:// webhook that receives a JSON body. slack and mail URLs also take title=, url= and quiet=."},
					{Name: "title", Kind: KindString, Doc: "Title of every message. Overrides ?title= in the URL."},
					{Name: "quiet", Kind: KindBool, Default: "false", Doc: "Only report failures, deploys, rollbacks and the stop of dewy. Overrides ?quiet= in the URL."},
					{Name: "secret", Kind: KindString, Doc: "Webhooks only: the key of the X-Dewy-Signature header, sha256=<hex of the HMAC-SHA256 of the body>. Never logged."},
					{Name: "secret_env", Kind: KindString, Doc: "Webhooks only: the environment variable that holds the signing key, read when dewy starts (instead of secret, to keep it out of the file)."},
				},
			},
			appSpec(),
			signalSpec(),
		},
	}
}

func appSpec() BlockSpec {
	return BlockSpec{
		Type: "app", Label: "name",
		Doc: "One supervised application.",
		Attrs: []AttrSpec{
			{Name: "command", Kind: KindStringList, Doc: "The program and its arguments, run directly (no shell). Required, unless assets = true."},
			{Name: "assets", Kind: KindBool, Default: "false", Doc: "The app is a folder of files (static assets) that its registry keeps on the newest release: no command, nothing runs or restarts; the hooks run at each deploy. Needs registry and dir."},
			{Name: "registry", Kind: KindString, Doc: "Name of a registry block to deploy releases from. Without one the app is only supervised."},
			{Name: "dir", Kind: KindString, Doc: "Working directory (relative to this file's folder unless absolute); holds releases/<id>/ and the `current` link when the app has a registry."},
			{Name: "listen", Kind: KindStringList, Doc: "Addresses dewy binds and hands to every generation: \"0.0.0.0:8080\", \"[::]:8080\", \"unix:/run/app.sock\"."},
			{Name: "notifiers", Kind: KindStringList, Doc: "Names of notifier blocks that hear about this app."},
			{Name: "env", Kind: KindStringMap, Doc: "Extra environment variables for the app."},
			{Name: "env_file", Kind: KindString, Doc: "Path of a KEY=VALUE file read at every start (relative to this file's folder unless absolute)."},
			{Name: "user", Kind: KindString, Doc: "Run the app as this user (name or uid); dewy must run as root."},
			{Name: "group", Kind: KindString, Doc: "Run the app with this group (name or gid)."},
			{Name: "keep", Kind: KindInt, Default: "7", Doc: "How many releases to keep in releases/."},
		},
		Blocks: []BlockSpec{
			{Type: "ready", Unique: true, Doc: "How dewy learns that a new generation can take traffic. Set at most one of http, tcp and notify; without them dewy waits `delay`.", Attrs: []AttrSpec{
				{Name: "delay", Kind: KindDuration, Default: durationString(plan.DefaultReady().Delay), Doc: "Fixed wait after start, used when no probe is set (as Server::Starter's interval)."},
				{Name: "http", Kind: KindString, Doc: "A path (\"/healthz\") probed on a loopback socket dewy binds for each generation (passed as LISTEN_FDNAMES dewy-ready, DEWY_READY_FD): proves the new generation itself is ready. A full URL is probed as is."},
				{Name: "tcp", Kind: KindString, Doc: "host:port probed until it accepts a connection."},
				{Name: "notify", Kind: KindBool, Default: "false", Doc: "Wait for READY=1 on the per-generation NOTIFY_SOCKET, from the new generation's own pid."},
				{Name: "timeout", Kind: KindDuration, Default: durationString(plan.DefaultReady().Timeout), Doc: "Give up on a new generation after this long: it is killed and the old one keeps serving."},
				{Name: "interval", Kind: KindDuration, Default: durationString(plan.DefaultReady().Interval), Doc: "Pause between probes."},
			}},
			{Type: "stop", Unique: true, Doc: "How a generation is stopped.", Attrs: []AttrSpec{
				{Name: "signal", Kind: KindString, Default: signalString(plan.DefaultStop().Signal), Doc: "Signal sent to the app's process group."},
				{Name: "timeout", Kind: KindDuration, Default: durationString(plan.DefaultStop().Timeout), Doc: "SIGKILL the process group after this long."},
			}},
			{Type: "restart", Unique: true, Doc: "What happens when the app exits on its own.", Attrs: []AttrSpec{
				{Name: "policy", Kind: KindString, Default: plan.DefaultRestart().Policy, Enum: []string{"always", "on-failure", "never"}, Doc: "always, on-failure (non-zero exit or a signal) or never."},
				{Name: "backoff", Kind: KindDuration, Default: durationString(plan.DefaultRestart().Initial), Doc: "First delay before a restart; doubles on each crash."},
				{Name: "max_backoff", Kind: KindDuration, Default: durationString(plan.DefaultRestart().Max), Doc: "Upper bound of the delay."},
				{Name: "jitter", Kind: KindString, Default: strconv.FormatFloat(plan.DefaultRestart().Jitter, 'f', -1, 64), Doc: "Random spread of each delay, a fraction between 0 and 1."},
				{Name: "burst", Kind: KindInt, Default: strconv.Itoa(plan.DefaultRestart().Burst), Doc: "This many exits within `window` is a crash loop."},
				{Name: "window", Kind: KindDuration, Default: durationString(plan.DefaultRestart().Window), Doc: "See burst."},
				{Name: "cooldown", Kind: KindDuration, Default: durationString(plan.DefaultRestart().Cooldown), Doc: "A crash-looping app is retried after this long, or at once by a manual restart."},
			}},
			{Type: "output", Unique: true, Doc: "Where the app's stdout and stderr go. Without this block they are dewy's own (journald under systemd).", Attrs: []AttrSpec{
				{Name: "file", Kind: KindString, Required: true, Doc: "Path of the log file (relative to this file's folder unless absolute). A missing folder fails the start, which is retried with backoff."},
				{Name: "max_size", Kind: KindSize, Default: "100MB", Doc: "Rotate when the file grows past this size."},
				{Name: "keep", Kind: KindInt, Default: "5", Doc: "Rotated files kept (file.1 ... file.N)."},
			}},
			{Type: "hooks", Unique: true, Doc: "Shell commands run around a deploy, with DEWY_APP and DEWY_VERSION set.", Attrs: []AttrSpec{
				{Name: "before_deploy", Kind: KindString, Doc: "Runs before `current` is swapped; a failure aborts the deploy."},
				{Name: "after_deploy", Kind: KindString, Doc: "Runs after the new release is ready."},
				{Name: "timeout", Kind: KindDuration, Default: durationString(plan.DefaultHooks().Timeout), Doc: "A hook running longer is stopped: its whole process group is killed, and a before_deploy hook that times out aborts the deploy."},
			}},
		},
	}
}

func signalSpec() BlockSpec {
	attrs := []AttrSpec{{Name: "action", Kind: KindString, Required: true, Enum: actions.Names(), Doc: "What the signal does."}}
	seen := map[string]bool{}
	for _, d := range actions.Vocabulary() {
		for _, p := range d.Params {
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			a := AttrSpec{Name: p.Name, Doc: paramDoc(p.Name)}
			switch p.Kind {
			case actions.AppList:
				a.Kind = KindStringList
			case actions.SignalName:
				a.Kind = KindString
			}
			attrs = append(attrs, a)
		}
	}
	return BlockSpec{
		Type: "signal", Label: "name",
		Doc:   "Maps one Unix signal (\"USR1\" or \"SIGUSR1\") to an action. Overrides that signal's shipped default only; the defaults are HUP ignore, USR1 restart, INT/TERM/QUIT shutdown.",
		Attrs: attrs,
	}
}

// paramDoc joins what each action says of a parameter.
func paramDoc(name string) string {
	doc := ""
	for _, d := range actions.Vocabulary() {
		for _, p := range d.Params {
			if p.Name == name {
				if doc != "" {
					doc += " "
				}
				doc += "With " + string(d.Name) + ": " + p.Doc
			}
		}
	}
	return doc
}

// durationString writes a default duration as a user would: "1m", "30s",
// "100ms".
func durationString(d time.Duration) string {
	switch {
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	default:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
}

// signalString writes a default signal as a user would: "TERM".
func signalString(s syscall.Signal) string {
	return strings.TrimPrefix(plan.SignalName(s), "SIG")
}
