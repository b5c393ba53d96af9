package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestVersionString(t *testing.T) {
	vcs := func(rev, at, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-compiler", Value: "gc"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at},
			{Key: "vcs.modified", Value: modified},
		}
	}
	const rev = "2b7720d1a2b3c4d5e6f708192a3b4c5d6e7f8091"
	tests := []struct {
		name     string
		override string
		bi       *debug.BuildInfo
		want     string
	}{
		{
			"module version and clean tree", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/dewyhq/dewy", Version: "v0.0.0-20261204150000-2b7720d1a2b3"}, Settings: vcs(rev, "2026-12-04T15:00:00Z", "false")},
			"v0.0.0-20261204150000-2b7720d1a2b3 (rev 2b7720d1a2b3, 2026-12-04T15:00:00Z, go1.26.8)",
		},
		{
			"dirty tree", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs(rev, "2026-12-04T15:00:00Z", "true")},
			"v1.2.3 (rev 2b7720d1a2b3+dirty, 2026-12-04T15:00:00Z, go1.26.8)",
		},
		{
			"devel module version", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "2026-12-04T15:00:00Z", "false")},
			"devel (rev 2b7720d1a2b3, 2026-12-04T15:00:00Z, go1.26.8)",
		},
		{
			"ldflags override wins, build details stay", "v9.9.9",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs(rev, "2026-12-04T15:00:00Z", "false")},
			"v9.9.9 (rev 2b7720d1a2b3, 2026-12-04T15:00:00Z, go1.26.8)",
		},
		{
			"no vcs stamp (go test, -buildvcs=false)", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"devel (go1.26.8)",
		},
		{
			"short revision kept whole", "",
			&debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}},
			"devel (rev abc123, go1.26.8)",
		},
		{"no build info", "v1.0.0", nil, "v1.0.0 (" + runtime.Version() + ")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionString(tt.override, tt.bi); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
