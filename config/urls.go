package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
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
	{scheme: "slack", form: "slack://channel?title=..&url=..", query: []string{"title", "url", "quiet"}, bools: []string{"quiet"}, check: func(u *url.URL) string {
		if u.Host == "" {
			return "a Slack URL names a channel, as in slack://deploys"
		}
		return ""
	}},
	{scheme: "mail", form: "mail://host:port/to@example.com?from=..", query: []string{"from", "username", "password", "title", "url", "quiet", "tls"}, bools: []string{"quiet", "tls"}, check: checkMail},
	{scheme: "smtp", form: "smtp://host:port/to@example.com?from=..", query: []string{"from", "username", "password", "title", "url", "quiet", "tls"}, bools: []string{"quiet", "tls"}, check: checkMail},
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
	return ""
}

// parseURL checks raw against the rules of its scheme. It returns the
// parsed URL and, when something is wrong, a problem sentence ending in the
// fix.
func parseURL(raw string, rules []urlRule, what string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Sprintf("%q is not a URL: %v. Write it as %s.", raw, unwrapURLError(err), forms(rules))
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
		return nil, fmt.Sprintf("%q: %s.", raw, msg)
	}
	u.Path = path.Clean("/" + u.Path)
	if u.Path == "/" && rule.scheme != "file" {
		u.Path = ""
	}
	return u, ""
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
