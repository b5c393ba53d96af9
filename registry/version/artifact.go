package version

import (
	"fmt"
	"sort"
	"strings"
)

// Words in a file name that name an OS or an architecture, as release
// tools spell them.
var (
	osWords = map[string][]string{
		"linux":   {"linux"},
		"darwin":  {"darwin", "macos", "apple", "osx"},
		"windows": {"windows", "win"},
		"freebsd": {"freebsd"},
	}
	archWords = map[string][]string{
		"amd64": {"amd64", "x86~64", "x64"}, // x86_64 and x86-64, see words
		"arm64": {"arm64", "aarch64"},
		"arm":   {"arm", "armv6", "armv7", "armhf"},
		"386":   {"386", "i386", "i686", "x86"},
	}
)

// isMetadata reports files that are not artifacts: checksums, signatures,
// SBOMs.
func isMetadata(name string) bool {
	n := strings.ToLower(name)
	if n == "checksums.txt" || n == "sha256sums" || strings.HasSuffix(n, "_checksums.txt") {
		return true
	}
	for _, suf := range []string{".sha256", ".sha512", ".sig", ".asc", ".pem", ".sbom", ".spdx.json", ".cdx.json", ".intoto.jsonl"} {
		if strings.HasSuffix(n, suf) {
			return true
		}
	}
	return strings.Contains(n, ".sbom")
}

// words splits a file name on '_', '-', '.' and spaces, lower-cased;
// x86_64 (and x86-64) stays one word, "x86~64", so that it never reads as
// x86 (386).
func words(name string) map[string]bool {
	out := map[string]bool{}
	n := strings.NewReplacer("x86_64", "x86~64", "x86-64", "x86~64").Replace(strings.ToLower(name))
	for _, w := range strings.FieldsFunc(n, func(r rune) bool {
		return r == '_' || r == '-' || r == '.' || r == ' '
	}) {
		out[w] = true
	}
	return out
}

func hasAny(ws map[string]bool, list []string) bool {
	for _, w := range list {
		if ws[w] {
			return true
		}
	}
	return false
}

// PickArtifact chooses the file to deploy among a release's files: the
// explicit name when one is set, else the one file whose name says this OS
// and architecture (whole words, any case: "app_Linux_x86_64.tar.gz").
// Checksum and signature files never count. None, or more than one, is an
// error that lists what was there.
func PickArtifact(names []string, explicit, goos, goarch string) (string, error) {
	if explicit != "" {
		for _, n := range names {
			if n == explicit {
				return n, nil
			}
		}
		return "", fmt.Errorf("artifact %q is not in the release (it has: %s)", explicit, list(names))
	}
	osW, archW := osWords[goos], archWords[goarch]
	if osW == nil {
		osW = []string{goos}
	}
	if archW == nil {
		archW = []string{goarch}
	}
	var match []string
	for _, n := range names {
		if isMetadata(n) {
			continue
		}
		ws := words(n)
		if hasAny(ws, osW) && hasAny(ws, archW) {
			match = append(match, n)
		}
	}
	sort.Strings(match)
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("no artifact for %s/%s (looked for %s and %s in the names; the release has: %s). Set artifact in the registry block to name it", goos, goarch, strings.Join(osW, "|"), strings.ReplaceAll(strings.Join(archW, "|"), "~", "_"), list(names))
	default:
		return "", fmt.Errorf("%d artifacts match %s/%s: %s. Set artifact in the registry block to choose one", len(match), goos, goarch, strings.Join(match, ", "))
	}
}

func list(names []string) string {
	if len(names) == 0 {
		return "no files"
	}
	return strings.Join(names, ", ")
}
