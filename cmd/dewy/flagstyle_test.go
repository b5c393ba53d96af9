package main

import (
	"net/url"
	"strings"
	"testing"
)

func TestAppNameOf(t *testing.T) {
	for raw, want := range map[string]string{
		"ghr://myorg/myapp":                     "myapp",
		"s3://ap-northeast-1/bucket/prefix/api": "api",
		"gs://bucket/web/":                      "web",
		"file:///srv/releases/site":             "site",
		"grpc://registry.internal:9000":         "registry-internal-9000",
		"ghr://o/1up":                           "app1up",
	} {
		u, _ := url.Parse(raw)
		if got := appNameOf(u); got != want {
			t.Errorf("appNameOf(%s) = %q, want %q", raw, got, want)
		}
	}
}

func TestParsePorts(t *testing.T) {
	for _, c := range []struct {
		spec, want, err string
	}{
		{"8080", ":8080", ""},
		{"8080,8081", ":8080 :8081", ""},
		{"8000-8002", ":8000 :8001 :8002", ""},
		{"127.0.0.1:9000", "127.0.0.1:9000", ""},
		{"[::1]:9000", "[::1]:9000", ""},
		{"0", "", "a port is a number from 1 to 65535"},
		{"9000-8000", "", "a range is low-high"},
		{"1-5000", "", "at most 1000 ports"},
		{"http", "", "write a port (8080)"},
	} {
		got, err := parsePorts(c.spec)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("parsePorts(%q) = %v, %v; want an error with %q", c.spec, got, err, c.err)
		case c.err == "" && (err != nil || strings.Join(got, " ") != c.want):
			t.Errorf("parsePorts(%q) = %v, %v; want %s", c.spec, got, err, c.want)
		}
	}
}
