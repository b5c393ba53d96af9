package config

import (
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"

	"github.com/dewyhq/dewy/engine/plan"
)

// Inputs are the layers above the file: the process environment and the
// command-line flags the user actually set. cmd/dewy fills them in; tests
// pass their own.
type Inputs struct {
	// Environ is KEY=VALUE pairs, as os.Environ returns them.
	Environ []string
	// Flags maps a setting key (log_level) to the value of a flag the user
	// set on the command line. Flags left at their default are absent.
	Flags map[string]string
	// CheckHost warns about what this machine lacks for an app to start
	// (command, env_file, user, output folder: see hostcheck.go). The CLI
	// sets it; tests of the language leave it off to stay hermetic.
	CheckHost bool
}

// EnvPrefix starts every environment variable dewy reads.
const EnvPrefix = "DEWY_"

// envNotSettings are DEWY_* variables that are not agent settings: dewy
// sets them for apps and hooks, and a hook that runs dewy must still work.
var envNotSettings = map[string]bool{
	"DEWY_CONFIG": true, "DEWY_APP": true, "DEWY_VERSION": true, "DEWY_GENERATION": true,
	"DEWY_READY_FD": true, "DEWY_READY_ADDR": true, "DEWY_SHIM": true, "DEWY_RELEASE": true,
	"DEWY_DEPLOY_ID": true, "DEWY_TOKEN": true,
}

// EnvName is the environment variable of a setting: log_level -> DEWY_LOG_LEVEL.
func EnvName(key string) string { return EnvPrefix + strings.ToUpper(key) }

// FlagName is the flag of a setting: log_level -> --log-level.
func FlagName(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") }

// AgentDefaults are the shipped defaults of the flat settings, from Spec.
func AgentDefaults() map[string]string {
	as, _ := Spec().Block("agent")
	out := map[string]string{}
	for _, a := range as.Attrs {
		out[a.Name] = a.Default
	}
	return out
}

// origin records where a layered value came from, for messages.
type origin struct {
	text  string     // "default", "dewy.hcl:3:3", "env DEWY_LOG_LEVEL", "flag --log-level"
	rng   *hcl.Range // set for values from the file
	label string     // how to name the value in a message
}

// layerAgent merges the agent settings: shipped defaults < the file's
// agent block < DEWY_* environment < flags the user set. Unknown flag keys
// are errors, unknown DEWY_* variables warnings (see envNotSettings).
func layerAgent(block *AgentBlock, in Inputs) (plan.Agent, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	k := koanf.New("|") // keys contain no '|', so they stay flat
	origins := map[string]origin{}
	as, _ := Spec().Block("agent")

	load := func(values map[string]string, org func(key string) origin) {
		m := map[string]any{}
		for key, v := range values {
			m[key] = v
			origins[key] = org(key)
		}
		// confmap never fails on a flat map of strings.
		_ = k.Load(confmap.Provider(m, "|"), nil)
	}

	load(AgentDefaults(), func(key string) origin {
		return origin{text: plan.OriginDefault, label: fmt.Sprintf("the default %s", key)}
	})

	if block != nil {
		m := map[string]string{}
		for key, v := range block.Values {
			m[key] = v.V
		}
		load(m, func(key string) origin {
			r := block.Values[key].Range
			return origin{text: fmtPos(r), rng: &r, label: key}
		})
	}

	env := map[string]string{}
	for _, kv := range in.Environ {
		name, val, ok := strings.Cut(kv, "=")
		// An empty variable counts as unset, as systemd's Environment= does.
		if !ok || val == "" || !strings.HasPrefix(name, EnvPrefix) || envNotSettings[name] {
			continue
		}
		key := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		if _, known := as.Attr(key); !known {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Unknown DEWY_ environment variable",
				Detail:   fmt.Sprintf("%s is not a dewy setting and is ignored.%s Settings read from the environment are %s.", name, didYouMean(name, envNames(as)), strings.Join(envNames(as), ", ")),
			})
			continue
		}
		env[key] = val
	}
	load(env, func(key string) origin {
		return origin{text: "env " + EnvName(key), label: EnvName(key)}
	})

	flags := map[string]string{}
	for key, v := range in.Flags {
		if _, known := as.Attr(key); !known {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown flag", Detail: fmt.Sprintf("%s is not a dewy setting. Remove it.", FlagName(key))})
			continue
		}
		flags[key] = v
	}
	load(flags, func(key string) origin {
		return origin{text: "flag " + FlagName(key), label: FlagName(key)}
	})

	out := plan.Agent{Origins: map[string]string{}}
	for _, a := range as.Attrs {
		v := k.String(a.Name)
		o := origins[a.Name]
		out.Origins[a.Name] = o.text
		diags = append(diags, checkSetting(a, v, o)...)
		switch a.Name {
		case KeyLogLevel:
			out.LogLevel = v
		case KeyLogFormat:
			out.LogFormat = v
		case KeyStateDir:
			out.StateDir = v
		case KeyAdminSocket:
			// A relative path in the file is relative to the file's folder.
			if v != "" && o.rng != nil && !filepath.IsAbs(v) {
				v = filepath.Join(filepath.Dir(o.rng.Filename), v)
			}
			out.AdminSocket = v
		case KeyContainment:
			out.Containment = v
		case KeyCache:
			if v != "local" {
				out.Cache, _ = parseURL(v, cacheRules, "cache")
			}
		case KeyRegistryTTL:
			out.RegistryTTL, _ = ParseDuration(v)
		case KeyMetrics:
			out.Metrics = v
		case KeyNotifiers:
			// Checked against the notifier blocks by the compiler.
			out.Notifiers = splitNames(v)
		case KeyPidFile:
			// A relative path in the file is relative to the file's folder.
			if v != "" && o.rng != nil && !filepath.IsAbs(v) {
				v = filepath.Join(filepath.Dir(o.rng.Filename), v)
			}
			out.PidFile = v
		}
	}
	if out.RegistryTTL > 0 && k.String(KeyCache) == "local" {
		o := origins[KeyRegistryTTL]
		d := &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "registry_ttl without a shared cache", Subject: o.rng,
			Detail: "registry_ttl shares the registries' answers through a shared cache, and cache is local: every poll asks the registry. Set cache = \"s3://...\" or \"gs://...\", or remove registry_ttl."}
		if o.rng == nil {
			d.Detail = "From " + o.text + ": " + d.Detail
		}
		diags = append(diags, d)
	}
	return out, diags
}

// splitNames reads a list setting from the environment or a flag:
// "ops, oncall" -> [ops oncall]; empty names are dropped.
func splitNames(v string) []string {
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func envNames(as BlockSpec) []string {
	var out []string
	for _, a := range as.Attrs {
		out = append(out, EnvName(a.Name))
	}
	sort.Strings(out)
	return out
}

// checkSetting validates one layered value and names its origin.
func checkSetting(a AttrSpec, v string, o origin) hcl.Diagnostics {
	var problem string
	switch {
	case len(a.Enum) > 0 && !contains(a.Enum, v):
		problem = fmt.Sprintf("%q is not a valid %s.%s Use one of: %s.", v, a.Name, didYouMean(v, a.Enum), strings.Join(a.Enum, ", "))
	case a.Name == KeyStateDir && !filepath.IsAbs(v):
		problem = fmt.Sprintf("%q is not an absolute path. Write the full path, starting with /.", v)
	case a.Name == KeyMetrics && v != "":
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			problem = fmt.Sprintf("%q is not host:port. Write it as 127.0.0.1:9901 (or :9901 for every interface).", v)
		}
	case a.Kind == KindDuration:
		if _, err := ParseDuration(v); err != nil {
			problem = fmt.Sprintf("%q is not a duration: %v.", v, err)
		}
	case a.Name == KeyCache && v != "local":
		if _, msg := parseURL(v, cacheRules, "cache"); msg != "" {
			problem = msg + " Or write local, for this host's state_dir."
		}
	}
	if problem == "" {
		return nil
	}
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid " + a.Name, Subject: o.rng}
	if o.rng == nil {
		d.Detail = fmt.Sprintf("From %s: %s", o.text, problem)
	} else {
		d.Detail = problem
	}
	return hcl.Diagnostics{d}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fmtPos renders a range's start as "file:line:col".
func fmtPos(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
