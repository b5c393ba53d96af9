package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// versionString renders what `dewy version` prints after "dewy ": the
// version set with -ldflags "-X main.version=..." (override), else the
// main module's version from the build info, then the VCS revision (12
// characters, +dirty when the tree had changes), its time and the Go
// version: "v1.2.3 (rev 2b7720d1a2b3, 2026-12-04T15:00:00Z, go1.26.8)".
// bi is nil when the binary carries no build info.
func versionString(override string, bi *debug.BuildInfo) string {
	v := override
	goVersion := runtime.Version()
	var details []string
	if bi != nil {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var rev, at string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if dirty {
				rev += "+dirty"
			}
			details = append(details, "rev "+rev)
		}
		if at != "" {
			details = append(details, at)
		}
	}
	if v == "" {
		v = "devel"
	}
	details = append(details, goVersion)
	return v + " (" + strings.Join(details, ", ") + ")"
}
