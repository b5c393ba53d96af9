package main

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/dewyhq/dewy/config"
	"github.com/spf13/pflag"
	"github.com/zclconf/go-cty/cty"
)

// The flag-driven command line of the original dewy (`dewy server
// --registry ghr://o/r --port 8080 -- CMD`, `dewy assets ...`) is turned
// into the text of a config file, which is then loaded like any other:
// `dewy config convert` prints that text, and `dewy server` runs it. Both
// front ends share every line after that.

// flagKind is what a flag-driven command keeps up to date.
type flagKind string

const (
	kindServer flagKind = "server"
	kindAssets flagKind = "assets"
)

// legacyFlags are the original's flags.
type legacyFlags struct {
	Registry      string
	Notifiers     []string
	Ports         []string
	Interval      string
	LogLevel      string
	LogFormat     string
	Cache         string
	BeforeHook    string
	AfterHook     string
	Slot          string
	Calver        string
	HealthPath    string
	HealthTimeout string
	Dir           string
}

// addLegacyFlags declares the original's flags (and their short forms).
func addLegacyFlags(fs *pflag.FlagSet, f *legacyFlags) {
	fs.SortFlags = false
	fs.StringVar(&f.Registry, "registry", "", "registry URL: ghr://owner/repo, s3://region/bucket/prefix, gs://bucket/prefix, file:///dir, grpc://host:port (required)")
	fs.StringArrayVar(&f.Notifiers, "notifier", nil, "notifier URL (slack://channel, smtp://host:port/to@example.com, https://...); repeatable")
	fs.StringArrayVarP(&f.Ports, "port", "p", nil, "port to hold for the app: 8080 (every interface), host:port, 8080,8081 or 8000-8005; repeatable; server only, optional (workers)")
	fs.StringVarP(&f.Interval, "interval", "i", "10", "seconds between registry polls (10s also accepted)")
	fs.StringVarP(&f.LogLevel, "log-level", "l", "", "debug, info, warn or error (default info)")
	fs.StringVarP(&f.LogFormat, "log-format", "f", "", "text or json (default text)")
	fs.StringVarP(&f.Cache, "cache", "c", "", "cache: local or file:///... (default: dewy's state folder), or a bucket many hosts share: s3://region/bucket/prefix, gs://bucket/prefix (?registry-ttl=1m shares the registry's answers too)")
	fs.StringVar(&f.BeforeHook, "before-deploy-hook", "", "shell command run before current is switched; a failure aborts the deploy")
	fs.StringVar(&f.AfterHook, "after-deploy-hook", "", "shell command run after a deploy")
	fs.StringVarP(&f.Slot, "slot", "s", "", "deployment slot: only versions whose build metadata matches (+blue)")
	fs.StringVar(&f.Calver, "calver", "", "calendar version format, e.g. YYYY.0M.0D.MICRO")
	fs.StringVar(&f.HealthPath, "health-path", "", "HTTP path probed on the first --port before a new generation takes over (server only)")
	fs.StringVar(&f.HealthTimeout, "health-timeout", "", "seconds a new generation may take to pass --health-path (30s also accepted)")
	fs.StringVarP(&f.Dir, "dir", "d", "", "the folder holding releases/ and current (default: the working directory)")
}

// usageError is a flag the command line got wrong: runCLI prints it as a
// usage line and exits 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagConfig is a flag-driven command line, checked.
type flagConfig struct {
	kind    flagKind
	flags   legacyFlags
	command []string
	// dir is the absolute folder of releases/ and current.
	dir string
	// app is the app's name: the registry's last path element.
	app    string
	listen []string
	// interval and healthTimeout as durations ("" when not given).
	interval, healthTimeout string
	// cache is the shared cache's URL ("" for the local one) and
	// registryTTL the original's ?registry-ttl= on it.
	cache, registryTTL string
	// line is the command line, for the file's first comment.
	line string
}

// checkFlags validates the flag set of kind with the words after "--";
// cwd is the working directory.
func checkFlags(kind flagKind, f legacyFlags, args []string, cwd string) (*flagConfig, error) {
	c := &flagConfig{kind: kind, flags: f, command: args}
	if f.Registry == "" {
		return nil, usageError{"--registry is required: the registry to deploy from, as in --registry ghr://myorg/myapp"}
	}
	if err := config.CheckURL("registry", f.Registry); err != nil {
		return nil, usageError{"--registry: " + err.Error()}
	}
	u, err := url.Parse(f.Registry)
	if err != nil {
		return nil, usageError{"--registry: " + err.Error()}
	}
	for _, n := range f.Notifiers {
		if err := config.CheckURL("notifier", n); err != nil {
			return nil, usageError{"--notifier: " + err.Error()}
		}
	}
	if err := c.checkCache(); err != nil {
		return nil, err
	}
	c.app = appNameOf(u)
	switch kind {
	case kindServer:
		if len(args) == 0 {
			return nil, usageError{"dewy server needs the app's command after --, as in dewy server --registry ghr://myorg/myapp --port 8080 -- /opt/myapp/current/myapp"}
		}
	case kindAssets:
		if len(args) > 0 {
			return nil, usageError{fmt.Sprintf("dewy assets runs nothing, but a command was given after --: %s", strings.Join(args, " "))}
		}
		if len(f.Ports) > 0 {
			return nil, usageError{"--port is for dewy server: dewy assets runs nothing that listens"}
		}
		if f.HealthPath != "" {
			return nil, usageError{"--health-path is for dewy server: dewy assets runs nothing to probe"}
		}
	}
	if c.interval, err = seconds("--interval", f.Interval); err != nil {
		return nil, err
	}
	if f.HealthTimeout != "" {
		if c.healthTimeout, err = seconds("--health-timeout", f.HealthTimeout); err != nil {
			return nil, err
		}
	}
	for _, p := range f.Ports {
		addrs, err := parsePorts(p)
		if err != nil {
			return nil, err
		}
		c.listen = append(c.listen, addrs...)
	}
	if f.HealthPath != "" {
		if len(c.listen) == 0 {
			return nil, usageError{"--health-path needs --port: the path is probed on the first port"}
		}
		if !strings.HasPrefix(f.HealthPath, "/") {
			return nil, usageError{fmt.Sprintf("--health-path %q must start with /, as in /healthz", f.HealthPath)}
		}
	}
	switch f.LogFormat {
	case "", "text", "json":
	default:
		return nil, usageError{fmt.Sprintf("--log-format %q: use text or json", f.LogFormat)}
	}
	c.dir = cwd
	if f.Dir != "" {
		c.dir = f.Dir
		if !filepath.IsAbs(c.dir) {
			c.dir = filepath.Join(cwd, c.dir)
		}
	}
	c.dir = filepath.Clean(c.dir)
	// The original ran a relative program from its working directory; the
	// file says so in full, wherever it is moved.
	if len(c.command) > 0 && strings.Contains(c.command[0], "/") && !filepath.IsAbs(c.command[0]) {
		c.command = append([]string{filepath.Join(cwd, c.command[0])}, c.command[1:]...)
	}
	return c, nil
}

// checkCache reads --cache as the original did: empty, "local" or a
// file:// URL are the local cache (dewy keeps downloads in its state
// folder); s3:// and gs:// are shared, with the original's ?registry-ttl=
// option becoming registry_ttl.
func (c *flagConfig) checkCache() error {
	raw := c.flags.Cache
	if raw == "" || raw == "local" || strings.HasPrefix(raw, "file://") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return usageError{fmt.Sprintf("--cache %q is not a URL: write s3://region/bucket/prefix or gs://bucket/prefix, or leave it out for the local cache", raw)}
	}
	q := u.Query()
	if ttl := q.Get("registry-ttl"); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil || d < 0 {
			return usageError{fmt.Sprintf("--cache: registry-ttl=%q is not a duration such as 1m", ttl)}
		}
		c.registryTTL = d.String()
		q.Del("registry-ttl")
		u.RawQuery = q.Encode()
	}
	if err := config.CheckURL("cache", u.String()); err != nil {
		return usageError{"--cache: " + strings.TrimSuffix(err.Error(), ".") + ". Or leave it out for the local cache"}
	}
	c.cache = u.String()
	return nil
}

// appNameOf names the app after its registry: ghr://myorg/myapp is
// "myapp", s3://r/bucket/prefix/api is "api", file:///srv/releases/web is
// "web".
func appNameOf(u *url.URL) string {
	name := path.Base(strings.TrimRight(u.Path, "/"))
	if name == "." || name == "/" || name == "" {
		name = u.Host
	}
	name = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, name)
	if name == "" || name[0] < 'A' || name[0] == '-' || name[0] == '_' {
		name = "app" + name
	}
	return name
}

// seconds reads a number of seconds (the original's form) or a duration.
func seconds(flag, v string) (string, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 {
			return "", usageError{fmt.Sprintf("%s %s: give at least 1 second", flag, v)}
		}
		return (time.Duration(n) * time.Second).String(), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return "", usageError{fmt.Sprintf("%s %q is not a number of seconds (or a duration such as 10s)", flag, v)}
	}
	if d < time.Second {
		return "", usageError{fmt.Sprintf("%s %s: give at least 1 second", flag, v)}
	}
	return d.String(), nil
}

// parsePorts reads one --port: 8080 (every interface, as the original
// bound it), host:port, a comma-separated list, or a range 8000-8005.
func parsePorts(spec string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if lo, hi, ok := strings.Cut(part, "-"); ok && !strings.Contains(part, ":") {
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b || b-a > 1000 {
				return nil, usageError{fmt.Sprintf("--port %q: a range is low-high, within 1-65535 and at most 1000 ports", part)}
			}
			for p := a; p <= b; p++ {
				out = append(out, ":"+strconv.Itoa(p))
			}
			continue
		}
		if n, err := strconv.Atoi(part); err == nil {
			if n < 1 || n > 65535 {
				return nil, usageError{fmt.Sprintf("--port %s: a port is a number from 1 to 65535", part)}
			}
			out = append(out, ":"+part)
			continue
		}
		if _, _, err := splitHostPort(part); err != nil {
			return nil, usageError{fmt.Sprintf("--port %q: write a port (8080), host:port (127.0.0.1:8080), a list (8080,8081) or a range (8000-8005)", part)}
		}
		out = append(out, part)
	}
	return out, nil
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	if _, err := strconv.Atoi(s[i+1:]); err != nil {
		return "", "", err
	}
	return s[:i], s[i+1:], nil
}

// hcl writes the config file the flags stand for.
func (c *flagConfig) hcl() string {
	var b strings.Builder
	q := func(s string) string { return string(hclwrite.TokensForValue(cty.StringVal(s)).Bytes()) }
	list := func(ss []string) string {
		parts := make([]string, len(ss))
		for i, s := range ss {
			parts[i] = q(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	fmt.Fprintf(&b, "# dewy.hcl converted from the flag-driven command line:\n#\n#   %s\n#\n# Check it with `dewy validate FILE`, run it with `dewy -c FILE`.\n", c.line)

	// The flag-driven dewy kept its state in its working directory, which
	// its (unprivileged) user may write; so does this file, unless
	// DEWY_STATE_DIR and DEWY_ADMIN_SOCKET say otherwise.
	// (Its own file cache, .dewy/cache, is left alone.)
	agent := []string{
		"# State and the control socket in the app's folder, as the flag-driven dewy kept its cache.",
		"state_dir    = " + q(filepath.Join(c.dir, ".dewy", "state")),
		"admin_socket = " + q(filepath.Join(c.dir, ".dewy", "dewy.sock")),
	}
	if c.flags.LogLevel != "" {
		agent = append(agent, "log_level = "+q(strings.ToLower(c.flags.LogLevel)))
	}
	if c.flags.LogFormat != "" {
		format := c.flags.LogFormat
		if format == "text" {
			format = "console"
		}
		agent = append(agent, "log_format = "+q(format))
	}
	if c.cache != "" {
		agent = append(agent, "cache = "+q(c.cache))
	}
	if c.registryTTL != "" {
		agent = append(agent, "registry_ttl = "+q(c.registryTTL))
	}
	b.WriteString("\nagent {\n")
	for _, l := range agent {
		b.WriteString("  " + l + "\n")
	}
	b.WriteString("}\n")

	fmt.Fprintf(&b, "\nregistry %s {\n  url      = %s\n  interval = %s\n", q(c.app), q(c.flags.Registry), q(c.interval))
	if c.flags.Slot != "" {
		fmt.Fprintf(&b, "  slot     = %s\n", q(c.flags.Slot))
	}
	if c.flags.Calver != "" {
		fmt.Fprintf(&b, "  calver   = %s\n", q(c.flags.Calver))
	}
	b.WriteString("}\n")

	var notifiers []string
	for i, n := range c.flags.Notifiers {
		name := fmt.Sprintf("n%d", i+1)
		notifiers = append(notifiers, name)
		fmt.Fprintf(&b, "\nnotifier %s {\n  url = %s\n}\n", q(name), q(n))
	}

	fmt.Fprintf(&b, "\napp %s {\n  registry = %s\n", q(c.app), q(c.app))
	b.WriteString("  # The original layout: releases/<time>/ and current in this folder; 7 kept.\n")
	fmt.Fprintf(&b, "  dir      = %s\n", q(c.dir))
	if c.kind == kindAssets {
		b.WriteString("  assets   = true\n")
	} else {
		fmt.Fprintf(&b, "  command  = %s\n", list(c.command))
	}
	if len(c.listen) > 0 {
		b.WriteString("  # dewy holds these and hands them to every generation (LISTEN_FDS, and\n  # SERVER_STARTER_PORT as the original's server-starter did).\n")
		fmt.Fprintf(&b, "  listen   = %s\n", list(c.listen))
	}
	if len(notifiers) > 0 {
		fmt.Fprintf(&b, "  notifiers = %s\n", list(notifiers))
	}
	if c.flags.HealthPath != "" {
		host, port, _ := splitHostPort(c.listen[0])
		if host == "" || host == "0.0.0.0" || host == "[::]" || host == "::" {
			host = "127.0.0.1"
		}
		b.WriteString("  # A new generation takes over once it answers here itself: dewy proves\n  # which process accepted the probe (the original only waited).\n")
		fmt.Fprintf(&b, "  ready {\n    http = %s\n", q("http://"+host+":"+port+c.flags.HealthPath))
		if c.healthTimeout != "" {
			fmt.Fprintf(&b, "    timeout = %s\n", q(c.healthTimeout))
		}
		b.WriteString("  }\n")
	}
	if c.flags.BeforeHook != "" || c.flags.AfterHook != "" {
		b.WriteString("  hooks {\n")
		if c.flags.BeforeHook != "" {
			b.WriteString("    # Unlike the original, a failing before_deploy aborts the deploy.\n")
			fmt.Fprintf(&b, "    before_deploy = %s\n", q(c.flags.BeforeHook))
		}
		if c.flags.AfterHook != "" {
			fmt.Fprintf(&b, "    after_deploy  = %s\n", q(c.flags.AfterHook))
		}
		b.WriteString("  }\n")
	}
	b.WriteString("}\n")
	if c.kind == kindServer {
		b.WriteString(`
# The flag-driven dewy restarted the app on SIGHUP. dewy's signal table
# ignores HUP (it is meant for the app). To keep the old behaviour:
#
# signal "HUP" {
#   action = "restart"
# }
`)
		if len(c.listen) == 0 {
			fmt.Fprintf(&b, `
# Without --port the app is a worker, and USR1 (restart) picks the apps
# that have listen addresses: none here. The flag-driven dewy restarted the
# worker on USR1; to keep that:
#
# signal "USR1" {
#   action = "restart"
#   apps   = [%s]
# }
`, q(c.app))
		}
	}
	return string(hclwrite.Format([]byte(b.String())))
}
