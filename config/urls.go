package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dewyhq/dewy/engine/plan"
)

// urlRule says what one URL scheme needs.
type urlRule struct {
	scheme string
	form   string   // how it is written, for messages
	query  []string // allowed query keys; nil with anyQuery
	// anyQuery lets the URL keep its own query (a webhook's).
	anyQuery bool
	bools    []string // query keys that must be true/false
	check    func(u *url.URL) string
}

var registryRules = []urlRule{
	{scheme: "file", form: "file:///absolute/dir (or file:relative/dir, relative to this file's folder)", query: []string{"pre-release", "artifact"}, bools: []string{"pre-release"}, check: func(u *url.URL) string {
		if u.Opaque != "" {
			return "" // file:relative/dir, resolved against the file's folder
		}
		if u.Host != "" && u.Host != "localhost" {
			return fmt.Sprintf("a file URL names a local directory, but this one has the host %q. Write file:///dir (three slashes)", u.Host)
		}
		if !strings.HasPrefix(u.Path, "/") || u.Path == "/" {
			return "a file URL needs an absolute directory, as in file:///srv/releases/api"
		}
		return ""
	}},
	{scheme: "ghr", form: "ghr://owner/repo", query: []string{"pre-release", "artifact"}, bools: []string{"pre-release"}, check: func(u *url.URL) string {
		repo := strings.Trim(u.Path, "/")
		if u.Host == "" || repo == "" || strings.Contains(repo, "/") {
			return "a GitHub Releases URL names one repository, as in ghr://myorg/api"
		}
		return ""
	}},
	{scheme: "s3", form: "s3://<region>/<bucket>/<prefix>", query: []string{"pre-release", "artifact", "endpoint", "path-style"}, bools: []string{"pre-release", "path-style"}, check: func(u *url.URL) string {
		if u.Host == "" || strings.Trim(u.Path, "/") == "" {
			return "an S3 URL names a region and a bucket, as in s3://ap-northeast-1/mybucket/api"
		}
		if ep := u.Query().Get("endpoint"); ep != "" {
			e, err := url.Parse(ep)
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return fmt.Sprintf("endpoint %q is not an http(s) URL; write it as ?endpoint=https://host:port", ep)
			}
		}
		return ""
	}},
	{scheme: "gs", form: "gs://<bucket>/<prefix>", query: []string{"pre-release", "artifact"}, bools: []string{"pre-release"}, check: func(u *url.URL) string {
		if u.Host == "" {
			return "a GCS URL names a bucket, as in gs://mybucket/api"
		}
		return ""
	}},
	{scheme: "grpc", form: "grpc://host:port", query: []string{"no-tls", "artifact"}, bools: []string{"no-tls"}, check: func(u *url.URL) string {
		return checkHostPort(u, "a gRPC registry URL needs a host and a port, as in grpc://registry.internal:9000")
	}},
}

// cacheRules are the shared caches' URLs: the s3 and gs registries' forms.
var cacheRules = []urlRule{
	{scheme: "s3", form: "s3://<region>/<bucket>/<prefix>", query: []string{"endpoint"}, check: registryRules[2].check},
	{scheme: "gs", form: "gs://<bucket>/<prefix>", check: registryRules[3].check},
}

var notifierRules = []urlRule{
	{scheme: "slack", form: "slack://channel?title=..&url=..", query: []string{"title", "url", "quiet", "webhook_env"}, bools: []string{"quiet"}, check: func(u *url.URL) string {
		if u.Host == "" {
			return "a Slack URL names a channel, as in slack://deploys"
		}
		if u.User != nil {
			return "a Slack URL takes no credentials: the bot token comes from SLACK_TOKEN, an incoming webhook's URL from the variable ?webhook_env= names. Remove the user part"
		}
		if v := u.Query().Get("webhook_env"); v != "" && !validEnvName(v) {
			return fmt.Sprintf("webhook_env=%q is not an environment variable name; write the variable's name, as in webhook_env=SLACK_WEBHOOK_URL", v)
		}
		return ""
	}},
	{scheme: "mail", form: "mail://host:port/to@example.com?from=..", query: mailQuery, bools: []string{"quiet"}, check: checkMail},
	{scheme: "smtp", form: "smtp://host:port/to@example.com?from=..", query: mailQuery, bools: []string{"quiet"}, check: checkMail},
	{scheme: "https", form: "https://hooks.example.com/path", anyQuery: true, check: func(u *url.URL) string {
		if u.Host == "" {
			return "a webhook URL needs a host"
		}
		return ""
	}},
	{scheme: "http", form: "http://127.0.0.1:port/path", anyQuery: true, check: func(u *url.URL) string {
		if u.Host == "" {
			return "a webhook URL needs a host"
		}
		return ""
	}},
}

// mailQuery are the options of mail:// and smtp:// URLs.
var mailQuery = []string{"from", "subject", "username", "password", "title", "url", "quiet", "tls"}

// MailTLS are the values of a mail URL's tls option: true (the default:
// STARTTLS, required), false (plain), implicit (TLS from the first byte,
// port 465).
var MailTLS = []string{"true", "false", "implicit"}

// validEnvName says whether s can name an environment variable.
func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func checkHostPort(u *url.URL, msg string) string {
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return msg
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q is not a number from 1 to 65535", port)
	}
	return ""
}

func checkMail(u *url.URL) string {
	if msg := checkHostPort(u, "a mail URL needs the SMTP server's host and port, as in mail://smtp.example.com:587/ops@example.com"); msg != "" {
		return msg
	}
	to := strings.Trim(u.Path, "/")
	if to == "" {
		return "a mail URL names the recipient in its path, as in mail://smtp.example.com:587/ops@example.com"
	}
	for _, addr := range strings.Split(to, ",") {
		if _, err := mail.ParseAddress(addr); err != nil {
			return fmt.Sprintf("recipient %q is not a mail address", addr)
		}
	}
	if from := u.Query().Get("from"); from != "" {
		if _, err := mail.ParseAddress(from); err != nil {
			return fmt.Sprintf("from=%q is not a mail address", from)
		}
	}
	if t := u.Query().Get("tls"); t != "" && !contains(MailTLS, t) {
		return fmt.Sprintf("tls=%q must be true (STARTTLS, required: the default), false (plain, for a server on this host) or implicit (TLS from the start, port 465)", t)
	}
	if strings.ContainsAny(u.Query().Get("subject"), "\r\n") {
		return "subject= must be one line"
	}
	return ""
}

// parseURL checks raw against the rules of its scheme. It returns the
// parsed URL and, when something is wrong, a problem sentence ending in the
// fix.
//
// A problem never quotes a credential of raw (a password, a token=
// option): it names the URL as redactRaw shows it.
func parseURL(raw string, rules []urlRule, what string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Sprintf("%q is not a URL: %v. Write it as %s.", redactRaw(raw), redactRaw(unwrapURLError(err).Error()), forms(rules))
	}
	var rule *urlRule
	var schemes []string
	for i := range rules {
		schemes = append(schemes, rules[i].scheme+"://")
		if rules[i].scheme == u.Scheme {
			rule = &rules[i]
		}
	}
	if rule == nil {
		if u.Scheme == "" {
			return nil, fmt.Sprintf("%q has no scheme. A %s URL starts with one of %s.", raw, what, strings.Join(schemes, ", "))
		}
		names := make([]string, len(rules))
		for i := range rules {
			names[i] = rules[i].scheme
		}
		return nil, fmt.Sprintf("%q is not a %s scheme.%s Use one of %s.", u.Scheme+"://", what, didYouMean(u.Scheme, names), strings.Join(schemes, ", "))
	}
	if !rule.anyQuery {
		q := u.Query()
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !contains(rule.query, k) {
				return nil, fmt.Sprintf("%s URLs take no option %q.%s The options are: %s.", rule.scheme, k, didYouMean(k, rule.query), strings.Join(rule.query, ", "))
			}
		}
		for _, k := range rule.bools {
			if v := q.Get(k); v != "" {
				if _, err := strconv.ParseBool(v); err != nil {
					return nil, fmt.Sprintf("option %s=%q must be true or false.", k, v)
				}
			}
		}
	}
	if msg := rule.check(u); msg != "" {
		return nil, fmt.Sprintf("%q: %s.", redactRaw(raw), msg)
	}
	u.Path = path.Clean("/" + u.Path)
	if u.Path == "/" && rule.scheme != "file" {
		u.Path = ""
	}
	return u, ""
}

// secretInURL finds what redactRaw masks in a URL that may not parse: the
// password of a userinfo, and the values of credential options.
var (
	userinfoPassword = regexp.MustCompile(`(://[^/?#@:\s]*:)([^/?#@\s]*)@`)
	secretOption     = regexp.MustCompile(`(?i)([?&;](?:password|token|secret|key|sig|signature|access_token|api_key|apikey)=)([^&#\s"]*)`)
)

// redactRaw masks the credentials of a URL as written, so a message can
// quote it: "smtp://u:xxxxx@host:25/..?password=xxxxx".
func redactRaw(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		// A parsed URL re-encodes; keep the written form unless
		// something must be masked.
		if red := plan.RedactURL(u); red != u.String() {
			return red
		}
		return raw
	}
	raw = userinfoPassword.ReplaceAllString(raw, "${1}xxxxx@")
	return secretOption.ReplaceAllString(raw, "${1}xxxxx")
}

func forms(rules []urlRule) string {
	var f []string
	for _, r := range rules {
		f = append(f, r.form)
	}
	return strings.Join(f, ", ")
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// CheckURL checks raw as the URL of a registry, a notifier or a shared
// cache (what is "registry", "notifier" or "cache"), as the file's blocks
// are checked: nil, or an error saying what is wrong and the fix. It is
// for front ends that take URLs elsewhere than in a file (the flag-driven
// command line).
func CheckURL(what, raw string) error {
	rules := map[string][]urlRule{"registry": registryRules, "notifier": notifierRules, "cache": cacheRules}[what]
	if rules == nil {
		return fmt.Errorf("config.CheckURL: unknown kind %q", what)
	}
	if _, msg := parseURL(raw, rules, what); msg != "" {
		return errors.New(msg)
	}
	return nil
}
