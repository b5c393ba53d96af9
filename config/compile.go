package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/registry/version"
)

// Compile checks a decoded file and builds the immutable plan. It reports
// every problem it finds; the plan is only meaningful when the diagnostics
// have no errors. f may be nil (no config file: defaults and flags only).
func Compile(f *File, in Inputs) (*plan.Plan, hcl.Diagnostics) {
	if f == nil {
		f = &File{}
	}
	c := compiler{file: f, defs: newShippedDefaults(), p: &plan.Plan{
		Source:     f.Filename,
		Registries: map[string]plan.Registry{},
		Notifiers:  map[string]plan.Notifier{},
	}}
	var d hcl.Diagnostics
	if in.CheckHost {
		c.host = newHostFacts(in.Environ)
	}
	c.p.Agent, d = layerAgent(f.Agent, in)
	c.diags = append(c.diags, d...)
	c.registries()
	c.notifiers()
	c.agentNotifiers()
	c.apps()
	c.signals()
	return c.p, c.diags
}

type compiler struct {
	file  *File
	defs  shippedDefaults
	p     *plan.Plan
	diags hcl.Diagnostics
	// appSet holds the app names, built on first use by hasApp.
	appSet map[string]bool
	// base is the file's folder, absolute, once resolve needed it.
	base string
	// host answers the checks against this machine (hostcheck.go); nil
	// when Inputs.CheckHost is off.
	host *hostFacts
}

// shippedDefaults are the typed defaults of Spec, read once per Compile:
// reading them per app rebuilt the whole Spec a dozen times per app.
type shippedDefaults struct {
	registryInterval time.Duration
	maxArtifactSize  int64
	appKeep          int
	output           plan.Output
	ready            plan.Ready
	stop             plan.Stop
	restart          plan.RestartPolicy
	hooks            plan.Hooks
}

func newShippedDefaults() shippedDefaults {
	return shippedDefaults{
		registryInterval: defDuration("registry", "interval"),
		maxArtifactSize:  defSize("registry", "max_artifact_size"),
		appKeep:          defInt("app", "keep"),
		output:           plan.Output{MaxSize: defSize("output", "max_size"), Keep: defInt("output", "keep")},
		ready:            plan.Ready{Delay: defDuration("ready", "delay"), Timeout: defDuration("ready", "timeout"), Interval: defDuration("ready", "interval")},
		stop:             plan.Stop{Signal: defSignal("stop", "signal"), Timeout: defDuration("stop", "timeout")},
		hooks:            plan.Hooks{Timeout: defDuration("hooks", "timeout")},
		restart: plan.RestartPolicy{Policy: defString("restart", "policy"), Initial: defDuration("restart", "backoff"), Max: defDuration("restart", "max_backoff"),
			Jitter: defFloat("restart", "jitter"), Burst: defInt("restart", "burst"), Window: defDuration("restart", "window"), Cooldown: defDuration("restart", "cooldown")},
	}
}

func (c *compiler) errorf(r hcl.Range, summary, format string, args ...any) {
	c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: r.Ptr()})
}

func (c *compiler) warnf(r hcl.Range, summary, format string, args ...any) {
	c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: r.Ptr()})
}

// duplicate reports a second block with the same label, pointing to both.
func (c *compiler) duplicate(kind, name string, first, second hcl.Range) {
	c.diags = append(c.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s %q", kind, name),
		Detail:   fmt.Sprintf("%s %s named %q is already defined at %s. Rename or remove one of them.", strings.ToUpper(article(kind)[:1])+article(kind)[1:], kind, name, fmtPos(first)),
		Subject:  second.Ptr(),
		Context:  hcl.RangeOver(first, second).Ptr(),
		Extra:    relatedRange{first},
	})
}

// relatedRange is carried in a diagnostic's Extra so renderers can show
// the other definition of a duplicate.
type relatedRange struct{ hcl.Range }

// Related returns the other range a diagnostic refers to, if any.
func Related(d *hcl.Diagnostic) (hcl.Range, bool) {
	if r, ok := d.Extra.(relatedRange); ok {
		return r.Range, true
	}
	return hcl.Range{}, false
}

func (c *compiler) registries() {
	first := map[string]hcl.Range{}
	for _, b := range c.file.Registries {
		if r, dup := first[b.Name]; dup {
			c.duplicate("registry", b.Name, r, b.NameRange)
			continue
		}
		first[b.Name] = b.NameRange
		reg := plan.Registry{Name: b.Name, Origin: fmtPos(b.DeclRange), Interval: c.defs.registryInterval}
		if b.URL.Set {
			u, problem := parseURL(b.URL.V, registryRules, "registry")
			if problem != "" {
				c.errorf(b.URL.Range, "Invalid registry URL", "%s", problem)
			} else {
				reg.URL, reg.Scheme = u, u.Scheme
				if u.Scheme == "file" && u.Opaque != "" {
					// file:relative/dir: the file's folder's, like every
					// relative path in the file.
					u.Path, u.Opaque = c.resolve(u.Opaque), ""
				}
				q := u.Query()
				reg.PreRelease, _ = strconv.ParseBool(q.Get("pre-release"))
				reg.Artifact = q.Get("artifact")
			}
		}
		if b.PreRelease.Set {
			reg.PreRelease = b.PreRelease.V
		}
		if b.Artifact.Set {
			reg.Artifact = b.Artifact.V
		}
		if b.Interval.Set {
			reg.Interval = b.Interval.V
			if reg.Interval < time.Second {
				c.errorf(b.Interval.Range, "Interval too short", "Polling a registry every %s would hammer it. Use at least \"1s\"; \"1m\" is usual.", reg.Interval)
			}
		}
		reg.Slot = b.Slot.V
		reg.Calver = b.Calver.V
		if b.Calver.Set {
			if _, err := version.ParseCalverFormat(b.Calver.V); err != nil {
				c.errorf(b.Calver.Range, "Invalid calver format", "%v. Write it as in \"YYYY.0M.0D.MICRO\".", err)
			}
		}
		if b.Verify.Set && b.Verify.V != "auto" && b.Verify.V != "required" {
			c.errorf(b.Verify.Range, "Invalid verify", "verify = %q: write \"auto\" (check a checksum file when the release has one) or \"required\" (refuse a release without one).", b.Verify.V)
		}
		reg.VerifyRequired = b.Verify.V == "required"
		reg.MaxArtifactSize = c.defs.maxArtifactSize
		if b.MaxSize.Set {
			reg.MaxArtifactSize = b.MaxSize.V
		}
		c.p.Registries[b.Name] = reg
	}
}

func (c *compiler) notifiers() {
	first := map[string]hcl.Range{}
	for _, b := range c.file.Notifiers {
		if r, dup := first[b.Name]; dup {
			c.duplicate("notifier", b.Name, r, b.NameRange)
			continue
		}
		first[b.Name] = b.NameRange
		n := plan.Notifier{Name: b.Name, Origin: fmtPos(b.DeclRange)}
		if b.URL.Set {
			u, problem := parseURL(b.URL.V, notifierRules, "notifier")
			if problem != "" {
				c.errorf(b.URL.Range, "Invalid notifier URL", "%s", problem)
			} else {
				n.URL, n.Scheme = u, u.Scheme
				if u.Scheme != "https" && u.Scheme != "http" {
					q := u.Query()
					n.Title = q.Get("title")
					n.Quiet, _ = strconv.ParseBool(q.Get("quiet"))
				}
				if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
					c.warnf(b.URL.Range, "Plain HTTP webhook", "%q sends deploy reports unencrypted over the network. Use https:// unless the receiver is on this host.", plan.RedactURL(u))
				}
				if (u.Scheme == "mail" || u.Scheme == "smtp") && u.Query().Get("tls") == "false" && !isLoopbackHost(u.Hostname()) {
					c.warnf(b.URL.Range, "Unencrypted mail", "tls=false sends the messages, and the SMTP password if there is one, unencrypted to %s over the network. Remove tls=false (STARTTLS, required) or write tls=implicit (port 465), unless the server is on this host.", u.Host)
				}
			}
		}
		if b.Title.Set {
			n.Title = b.Title.V
		}
		if b.Quiet.Set {
			n.Quiet = b.Quiet.V
		}
		c.notifierSecret(b, &n)
		c.p.Notifiers[b.Name] = n
	}
}

// notifierSecret checks a webhook's signing key: secret or secret_env,
// on webhooks only. The key itself is never quoted.
func (c *compiler) notifierSecret(b *NotifierBlock, n *plan.Notifier) {
	webhook := n.Scheme == "https" || n.Scheme == "http"
	for _, v := range []Value[string]{b.Secret, b.SecretEnv} {
		if v.Set && n.Scheme != "" && !webhook {
			c.errorf(v.Range, "Secret on a non-webhook notifier", "Notifier %q is a %s notifier; only webhooks (https://...) sign their messages with a secret. Remove it.", b.Name, n.Scheme)
			return
		}
	}
	switch {
	case b.Secret.Set && b.SecretEnv.Set:
		c.errorf(b.SecretEnv.Range, "Conflicting secrets", "Notifier %q sets both secret and secret_env. Keep one of them.", b.Name)
	case b.Secret.Set && b.Secret.V == "":
		c.errorf(b.Secret.Range, "Empty secret", "An empty secret would sign every message with a key anyone knows. Set a long random secret, or remove it.")
	case b.SecretEnv.Set && !validEnvName(b.SecretEnv.V):
		c.errorf(b.SecretEnv.Range, "Invalid secret_env", "secret_env = %q is not an environment variable name. Write the variable's name, as in secret_env = \"DEWY_WEBHOOK_SECRET\".", b.SecretEnv.V)
	default:
		n.Secret, n.SecretEnv = b.Secret.V, b.SecretEnv.V
	}
}

// agentNotifiers checks the agent's notifiers against the notifier
// blocks, pointing at the name in the file or naming the variable or
// flag it came from.
func (c *compiler) agentNotifiers() {
	names := c.p.Agent.Notifiers
	if len(names) == 0 {
		return
	}
	origin := c.p.Agent.Origins[KeyNotifiers]
	var list *Value[[]string]
	if c.file.Agent != nil {
		if l, ok := c.file.Agent.Lists[KeyNotifiers]; ok && origin == fmtPos(l.Range) {
			list = &l
			names = l.V
		}
	}
	seen := map[string]bool{}
	var out []string
	for i, n := range names {
		if _, ok := c.p.Notifiers[n]; !ok {
			hint := didYouMean(n, c.notifierNames()) + " " + defineHint("notifier", n, c.notifierNames())
			if list != nil {
				c.errorf(list.ElemRange(i), "Unknown notifier", "The agent block names notifier %q, which is not defined.%s", n, hint)
			} else {
				c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown notifier",
					Detail: fmt.Sprintf("From %s: notifier %q is not defined.%s", origin, n, hint)})
			}
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	c.p.Agent.Notifiers = out
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// heldAddr remembers which app holds a listen address, to catch clashes.
type heldAddr struct {
	app  string
	addr plan.ListenAddr
	rng  hcl.Range
}

// heldAddrs are the listen addresses held so far, bucketed so that only
// addresses that can clash are compared: same socket path, or same TCP
// port (listenClash never matches across buckets). A new address is
// compared with its bucket only, not with every app's.
type heldAddrs map[string][]heldAddr

// clashKey is the bucket of an address.
func clashKey(a plan.ListenAddr) string {
	if a.Network == "unix" {
		return "unix " + a.Address
	}
	_, port, _ := net.SplitHostPort(a.Address)
	return a.Network + " " + port
}

// candidates are the held addresses that a may clash with, in the order
// they were added.
func (h heldAddrs) candidates(a plan.ListenAddr) []heldAddr { return h[clashKey(a)] }

func (h heldAddrs) add(x heldAddr) {
	k := clashKey(x.addr)
	h[k] = append(h[k], x)
}

func (c *compiler) apps() {
	first := map[string]hcl.Range{}
	held := heldAddrs{}
	for _, b := range c.file.Apps {
		if r, dup := first[b.Name]; dup {
			c.duplicate("app", b.Name, r, b.NameRange)
			continue
		}
		first[b.Name] = b.NameRange
		app := c.app(b, held)
		c.p.Apps = append(c.p.Apps, app)
	}
	sort.Slice(c.p.Apps, func(i, j int) bool { return c.p.Apps[i].Name < c.p.Apps[j].Name })
}

func (c *compiler) app(b *AppBlock, held heldAddrs) plan.App {
	app := plan.App{Name: b.Name, Origin: fmtPos(b.DeclRange), Keep: c.defs.appKeep, Env: b.Env.V, User: b.User.V, Group: b.Group.V}

	app.Assets = b.Assets.V
	if b.Assets.V && b.CommandGiven {
		c.errorf(b.Command.Range, "Command in an assets app", "App %q has assets = true, so nothing runs: remove command, or remove assets = true to run it.", b.Name)
	}
	if b.Assets.V && !b.Registry.Set {
		c.errorf(b.Assets.Range, "Assets without a registry", "App %q has assets = true but no registry to keep its files from. Add registry = \"...\" and dir = \"...\".", b.Name)
	}
	if !b.Assets.V && !b.CommandGiven {
		c.errorf(b.DeclRange, "Missing required argument", "An app block needs the argument \"command\": the program and its arguments, run directly (no shell). Add command = ... to the block (or assets = true for an app that is only files kept up to date).")
	}
	if b.Command.Set && !b.Assets.V {
		switch {
		case len(b.Command.V) == 0:
			c.errorf(b.Command.Range, "Empty command", "App %q has an empty command, so there is nothing to run. Give the program and its arguments, as in command = [\"/opt/%s/current/%s\"].", b.Name, b.Name, b.Name)
		case strings.TrimSpace(b.Command.V[0]) == "":
			c.errorf(b.Command.ElemRange(0), "Empty command", "The first element of app %q's command is the program to run and must not be empty. Write the program's path first.", b.Name)
		default:
			// A program with a slash is a path: a relative one is the
			// file's folder's. A bare name is looked up in the app's PATH.
			app.Command = append([]string(nil), b.Command.V...)
			if strings.Contains(app.Command[0], "/") {
				app.Command[0] = c.resolve(app.Command[0])
			}
		}
	}

	if b.Registry.Set {
		if _, ok := c.p.Registries[b.Registry.V]; !ok {
			c.errorf(b.Registry.Range, "Unknown registry", "App %q names registry %q, which is not defined.%s %s", b.Name, b.Registry.V, didYouMean(b.Registry.V, c.registryNames()), defineHint("registry", b.Registry.V, c.registryNames()))
		}
		app.Registry = b.Registry.V
		if !b.Dir.Set {
			c.errorf(b.DeclRange, "Missing dir", "App %q deploys from registry %q, so it needs a dir for releases/<id>/ and the current link. Add dir = \"/opt/%s\".", b.Name, b.Registry.V, b.Name)
		}
	}
	for i, n := range b.Notifiers.V {
		if _, ok := c.p.Notifiers[n]; !ok {
			c.errorf(b.Notifiers.ElemRange(i), "Unknown notifier", "App %q names notifier %q, which is not defined.%s %s", b.Name, n, didYouMean(n, c.notifierNames()), defineHint("notifier", n, c.notifierNames()))
		}
	}
	app.Notifiers = b.Notifiers.V

	app.Dir = c.path(b.Dir)
	app.EnvFile = c.path(b.EnvFile)
	if b.Keep.Set {
		if b.Keep.V < 1 {
			c.errorf(b.Keep.Range, "Invalid keep", "keep must be at least 1: the running release is always kept. Set keep = 7 or more.")
		}
		app.Keep = b.Keep.V
	}
	for k := range b.Env.V {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			c.errorf(b.Env.Range, "Invalid environment variable name", "%q cannot be an environment variable name. Use letters, digits and '_'.", k)
		}
	}

	for i, raw := range b.Listen.V {
		la, problem := parseListen(raw)
		if problem != "" {
			c.errorf(b.Listen.ElemRange(i), "Invalid listen address", "App %q: %s", b.Name, problem)
			continue
		}
		for _, h := range held.candidates(la) {
			if clash := listenClash(h.addr, la); clash != "" {
				owner := "app " + strconv.Quote(h.app)
				if h.app == b.Name {
					owner = "this app"
				}
				c.errorf(b.Listen.ElemRange(i), "Duplicate listen address", "%q %s %q, already held by %s at %s. Each address can be held by one app only; change the port.", raw, clash, h.addr.Raw, owner, fmtPos(h.rng))
			}
		}
		held.add(heldAddr{app: b.Name, addr: la, rng: b.Listen.ElemRange(i)})
		app.Listen = append(app.Listen, la)
	}

	app.Ready = c.ready(b)
	app.Stop = c.stop(b)
	app.Restart = c.restart(b)
	defer c.checkHost(b, &app)
	if b.Output != nil {
		app.Output = c.defs.output
		app.Output.File = c.path(b.Output.File)
		if b.Output.MaxSize.Set {
			app.Output.MaxSize = b.Output.MaxSize.V
		}
		if b.Output.Keep.Set {
			app.Output.Keep = b.Output.Keep.V
		}
	}
	app.Hooks = c.defs.hooks
	if b.Hooks != nil {
		app.Hooks.BeforeDeploy, app.Hooks.AfterDeploy = b.Hooks.BeforeDeploy.V, b.Hooks.AfterDeploy.V
		if b.Hooks.Timeout.Set {
			app.Hooks.Timeout = b.Hooks.Timeout.V
			if app.Hooks.Timeout <= 0 {
				c.errorf(b.Hooks.Timeout.Range, "Invalid timeout", "A zero hook timeout would kill every hook at once. Use a duration such as \"5m\".")
			}
		}
		if app.Registry == "" && (b.Hooks.BeforeDeploy.Set || b.Hooks.AfterDeploy.Set) {
			c.warnf(b.Hooks.DeclRange, "Hooks without a registry", "App %q has deploy hooks but no registry, so it is never deployed and the hooks never run. Add registry = \"...\" or remove the hooks block.", b.Name)
		}
	}
	return app
}

func defineHint(kind, name string, have []string) string {
	if len(have) == 0 {
		return fmt.Sprintf("Define it with a %s %q { ... } block.", kind, name)
	}
	return fmt.Sprintf("Define it with a %s %q { ... } block, or use one of: %s.", kind, name, strings.Join(have, ", "))
}

// path resolves a path from the file: a relative one is relative to the
// file's folder (as Prometheus resolves its files), never to dewy's
// working directory, which is nobody's business under systemd.
func (c *compiler) path(v Value[string]) string {
	if !v.Set {
		return ""
	}
	return c.resolve(v.V)
}

func (c *compiler) resolve(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if c.base == "" {
		c.base = filepath.Dir(c.file.Filename)
		if abs, err := filepath.Abs(c.base); err == nil {
			c.base = abs
		}
	}
	return filepath.Join(c.base, p)
}

func (c *compiler) registryNames() []string {
	var out []string
	for _, r := range c.file.Registries {
		out = append(out, r.Name)
	}
	return out
}

func (c *compiler) notifierNames() []string {
	var out []string
	for _, n := range c.file.Notifiers {
		out = append(out, n.Name)
	}
	return out
}

// hasApp says whether an app block of that name exists.
func (c *compiler) hasApp(name string) bool {
	if c.appSet == nil {
		c.appSet = make(map[string]bool, len(c.file.Apps))
		for _, a := range c.file.Apps {
			c.appSet[a.Name] = true
		}
	}
	return c.appSet[name]
}

func (c *compiler) appNames() []string {
	var out []string
	for _, a := range c.file.Apps {
		out = append(out, a.Name)
	}
	return out
}

// parseListen reads "0.0.0.0:8080", "[::]:8080", ":8080", "127.0.0.1:0"
// is refused (a held port must be fixed), "unix:/run/app.sock".
func parseListen(raw string) (plan.ListenAddr, string) {
	if p, ok := strings.CutPrefix(raw, "unix:"); ok {
		if !filepath.IsAbs(p) {
			return plan.ListenAddr{}, fmt.Sprintf("%q: a unix socket needs an absolute path, as in unix:/run/app.sock.", raw)
		}
		if len(p) > 107 {
			return plan.ListenAddr{}, fmt.Sprintf("%q: a unix socket path may be at most 107 bytes. Use a shorter path.", raw)
		}
		return plan.ListenAddr{Network: "unix", Address: filepath.Clean(p), Raw: raw}, ""
	}
	host, port, err := net.SplitHostPort(raw)
	if err != nil {
		return plan.ListenAddr{}, fmt.Sprintf("%q is not host:port (%v). Write it as \"0.0.0.0:8080\", \"[::]:8080\", \":8080\" or \"unix:/run/app.sock\".", raw, unwrapAddrError(err))
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return plan.ListenAddr{}, fmt.Sprintf("%q: port %q is not a number from 1 to 65535. dewy holds the socket for every generation, so the port must be fixed.", raw, port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return plan.ListenAddr{}, fmt.Sprintf("%q: %q is not an IP address. Listen on an IP (\"0.0.0.0\", \"::\", \"127.0.0.1\"): a name could resolve differently at each start.", raw, host)
	}
	return plan.ListenAddr{Network: "tcp", Address: net.JoinHostPort(host, port), Raw: raw}, ""
}

func unwrapAddrError(err error) string {
	if ae, ok := err.(*net.AddrError); ok {
		return ae.Err
	}
	return err.Error()
}

// listenClash says how two addresses collide, or "" when they do not.
func listenClash(a, b plan.ListenAddr) string {
	if a.Network != b.Network {
		return ""
	}
	if a.Network == "unix" {
		if a.Address == b.Address {
			return "is the same socket as"
		}
		return ""
	}
	ah, ap, _ := net.SplitHostPort(a.Address)
	bh, bp, _ := net.SplitHostPort(b.Address)
	if ap != bp {
		return ""
	}
	an, bn := normHost(ah), normHost(bh)
	switch {
	case an == bn:
		return "is the same address as"
	case an == "::" || bn == "::":
		return "overlaps (\"[::]\" is dual stack: it takes IPv4 too)"
	case an == "" || bn == "" || an == "0.0.0.0" && !strings.Contains(bn, ":") || bn == "0.0.0.0" && !strings.Contains(an, ":"):
		return "overlaps"
	}
	return ""
}

func normHost(h string) string {
	if h == "localhost" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsUnspecified() && ip.To4() == nil {
			return "::"
		}
		return ip.String()
	}
	return h
}

func (c *compiler) ready(b *AppBlock) plan.Ready {
	r := c.defs.ready
	rb := b.Ready
	if rb == nil {
		return r
	}
	set := 0
	if rb.Delay.Set {
		r.Delay = rb.Delay.V
	}
	if rb.Timeout.Set {
		r.Timeout = rb.Timeout.V
		if r.Timeout == 0 {
			c.errorf(rb.Timeout.Range, "Invalid timeout", "A zero ready timeout would kill every new generation at once. Use a duration such as \"30s\".")
		}
	}
	if rb.Interval.Set {
		r.Interval = rb.Interval.V
		if r.Interval < 10*time.Millisecond {
			c.errorf(rb.Interval.Range, "Interval too short", "Probing more often than every 10ms only burns CPU. Use \"100ms\" or more.")
		}
	}
	if rb.HTTP.Set {
		set++
		r.HTTP = rb.HTTP.V
		r.Held = c.checkProbeHTTP(b, rb.HTTP)
	}
	if rb.TCP.Set {
		set++
		r.TCP = rb.TCP.V
		if _, _, err := net.SplitHostPort(r.TCP); err != nil {
			c.errorf(rb.TCP.Range, "Invalid tcp probe", "%q is not host:port. Write it as \"127.0.0.1:9000\".", r.TCP)
		} else {
			r.Held = c.heldMatch(b, r.TCP)
		}
	}
	if rb.Notify.Set && rb.Notify.V {
		set++
		r.Notify = true
	}
	if set > 1 {
		c.errorf(rb.DeclRange, "Conflicting readiness checks", "App %q's ready block sets more than one of http, tcp and notify. Keep one of them.", b.Name)
	}
	if set > 0 && rb.Delay.Set {
		c.warnf(rb.Delay.Range, "Delay ignored", "delay is only used when no probe (http, tcp, notify) is set. Remove it.")
	}
	return r
}

// checkProbeHTTP accepts a path ("/healthz": probed on the generation's own
// ready socket) or a full http URL. It returns the listen address of the
// app that the URL reaches, if any.
func (c *compiler) checkProbeHTTP(b *AppBlock, v Value[string]) string {
	if strings.HasPrefix(v.V, "/") {
		return ""
	}
	u, err := url.Parse(v.V)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.errorf(v.Range, "Invalid http probe", "%q is neither a path nor an http URL. Write a path such as \"/healthz\" (probed on a socket only the new generation serves) or a URL such as \"http://127.0.0.1:8081/healthz\".", v.V)
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return c.heldMatch(b, net.JoinHostPort(u.Hostname(), port))
}

// heldMatch returns the app's listen address that addr would reach.
func (c *compiler) heldMatch(b *AppBlock, addr string) string {
	probe, problem := parseListen(addr)
	if problem != "" {
		return ""
	}
	for _, raw := range b.Listen.V {
		la, problem := parseListen(raw)
		if problem == "" && listenClash(la, probe) != "" {
			return raw
		}
	}
	return ""
}

func (c *compiler) stop(b *AppBlock) plan.Stop {
	s := c.defs.stop
	if b.Stop == nil {
		return s
	}
	if b.Stop.Signal.Set {
		sig, _, status, why := plan.ParseSignal(b.Stop.Signal.V)
		switch status {
		case plan.SignalUnknown:
			c.errorf(b.Stop.Signal.Range, "Unknown signal", "%q is not a signal name.%s Use a name such as TERM, INT or QUIT.", b.Stop.Signal.V, didYouMean(strings.TrimPrefix(strings.ToUpper(b.Stop.Signal.V), "SIG"), plan.SignalNames()))
		default:
			if sig == syscall.SIGSTOP {
				c.errorf(b.Stop.Signal.Range, "Invalid stop signal", "SIGSTOP %s and only pauses the app. Use TERM, INT or QUIT.", why)
			}
			s.Signal = sig
		}
	}
	if b.Stop.Timeout.Set {
		s.Timeout = b.Stop.Timeout.V
	}
	return s
}

func (c *compiler) restart(b *AppBlock) plan.RestartPolicy {
	p := c.defs.restart
	rb := b.Restart
	if rb == nil {
		return p
	}
	if rb.Policy.Set {
		p.Policy = rb.Policy.V
	}
	if rb.Backoff.Set {
		p.Initial = rb.Backoff.V
		if p.Initial < 10*time.Millisecond {
			c.errorf(rb.Backoff.Range, "Backoff too short", "A backoff under 10ms respawns a broken app as fast as the machine allows. Use \"1s\".")
		}
	}
	if rb.MaxBackoff.Set {
		p.Max = rb.MaxBackoff.V
	}
	if p.Max < p.Initial {
		c.errorf(rb.DeclRange, "Inconsistent backoff", "max_backoff (%s) is shorter than backoff (%s). Make max_backoff at least backoff.", p.Max, p.Initial)
	}
	if rb.Jitter.Set {
		j, err := strconv.ParseFloat(rb.Jitter.V, 64)
		if err != nil || j < 0 || j > 1 {
			c.errorf(rb.Jitter.Range, "Invalid jitter", "jitter %q must be a fraction from 0 to 1. Write \"0.2\" for ±20%%.", rb.Jitter.V)
		} else {
			p.Jitter = j
		}
	}
	if rb.Burst.Set {
		p.Burst = rb.Burst.V
		if p.Burst < 1 {
			c.errorf(rb.Burst.Range, "Invalid burst", "burst must be at least 1. Use 5.")
		}
	}
	if rb.Window.Set {
		p.Window = rb.Window.V
	}
	if rb.Cooldown.Set {
		p.Cooldown = rb.Cooldown.V
	}
	return p
}

func (c *compiler) signals() {
	var overrides []plan.SignalEntry
	first := map[syscall.Signal]hcl.Range{}
	for _, b := range c.file.Signals {
		sig, name, status, why := plan.ParseSignal(b.Name)
		switch status {
		case plan.SignalUnknown:
			c.errorf(b.NameRange, "Unknown signal", "%q is not a signal dewy can map.%s The signals are: %s.", b.Name, didYouMean(strings.TrimPrefix(strings.ToUpper(b.Name), "SIG"), plan.SignalNames()), strings.Join(plan.SignalNames(), ", "))
			continue
		case plan.SignalForbidden:
			c.errorf(b.NameRange, "Signal cannot be mapped", "SIG%s %s. Remove this signal block.", name, why)
			continue
		}
		if r, dup := first[sig]; dup {
			c.duplicate("signal block", "SIG"+name, r, b.NameRange)
			continue
		}
		first[sig] = b.NameRange
		spec, ok := c.action(b)
		if !ok {
			continue
		}
		overrides = append(overrides, plan.SignalEntry{Signal: sig, Action: spec, Origin: fmtPos(b.DeclRange)})
	}
	c.p.Signals = plan.NewSignalTable(overrides)
}

func (c *compiler) action(b *SignalBlock) (actions.Spec, bool) {
	if !b.Action.Set {
		return actions.Spec{}, false
	}
	def, ok := actions.Lookup(b.Action.V)
	if !ok {
		c.errorf(b.Action.Range, "Unknown action", "%q is not an action.%s The actions are: %s.", b.Action.V, didYouMean(b.Action.V, actions.Names()), strings.Join(actions.Names(), ", "))
		return actions.Spec{}, false
	}
	spec := actions.Spec{Name: def.Name}
	good := true
	for _, param := range []string{actions.ParamApps, actions.ParamSend} {
		r, present := b.Present[param]
		if present && !def.Accepts(param) {
			var takes []string
			for _, p := range def.Params {
				takes = append(takes, p.Name)
			}
			hint := "it takes no parameters"
			if len(takes) > 0 {
				hint = "it takes " + strings.Join(takes, ", ")
			}
			c.errorf(r, "Unsupported action parameter", "The %s action does not use %q (%s). Remove it.", def.Name, param, hint)
			good = false
		}
	}
	if b.Apps.Set {
		if len(b.Apps.V) == 0 {
			c.errorf(b.Apps.Range, "Empty apps list", "An empty apps list would make the action do nothing. Remove apps to act on the default set, or name the apps.")
			good = false
		}
		for i, a := range b.Apps.V {
			if !c.hasApp(a) {
				c.errorf(b.Apps.ElemRange(i), "Unknown app", "The %s action names app %q, which is not defined.%s The apps are: %s.", def.Name, a, didYouMean(a, c.appNames()), strings.Join(c.appNames(), ", "))
				good = false
			}
		}
		spec.Apps = b.Apps.V
	}
	if b.Send.Set && def.Accepts(actions.ParamSend) {
		sig, name, status, why := plan.ParseSignal(b.Send.V)
		switch {
		case status == plan.SignalUnknown && name == "":
			c.errorf(b.Send.Range, "Unknown signal", "send = %q is not a signal name.%s Use a name such as HUP, USR2 or TERM.", b.Send.V, didYouMean(strings.TrimPrefix(strings.ToUpper(b.Send.V), "SIG"), plan.SignalNames()))
			good = false
		case sig == syscall.SIGSTOP || sig == syscall.SIGKILL:
			c.errorf(b.Send.Range, "Signal cannot be forwarded", "Forwarding SIG%s %s would bypass the app's graceful stop. Use the restart or shutdown action instead.", name, why)
			good = false
		default:
			spec.Send = sig
		}
	}
	return spec, good
}
