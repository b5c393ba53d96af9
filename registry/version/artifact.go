package version

import (
	"fmt"
	"sort"
	"strings"
)

// osAliases are the words that name an operating system in asset names,
// by GOOS. A GOOS not listed is matched by its own name.
var osAliases = map[string][]string{
	"linux":   {"linux"},
	"darwin":  {"darwin", "macos", "apple"},
	"windows": {"windows"},
}

// archAliases are the words that name an architecture in asset names, by
// GOARCH. A GOARCH not listed is matched by its own name. "x86_64" and
// "x86-64" are rewritten to "amd64" before the name is split into words,
// so the "x86" of 386 never matches them.
var archAliases = map[string][]string{
	"amd64": {"amd64", "x64"},
	"arm64": {"arm64", "aarch64"},
	"arm":   {"arm", "armv6", "armv7", "armhf"},
	"386":   {"386", "i386", "i686", "x86"},
}

// PickArtifact chooses the asset of a release to download among names.
//
// With explicit set, it is exactly that name (case-sensitive), and an
// error listing the names when it is missing.
//
// Otherwise the asset is the one whose name carries both this machine's
// operating system and architecture as whole words, case-insensitive,
// words being separated by "_", "-" and ".":
//
//	OS:   linux; darwin, macos, apple; windows; any other GOOS by its name
//	arch: amd64, x86_64, x86-64, x64; arm64, aarch64; arm; 386, i386, x86;
//	      any other GOARCH by its name
//
// so "arm" never takes an arm64 or aarch64 asset, nor "x86" an x86_64 one,
// and "armv7" is not "arm". Checksum and signature files are never picked
// this way (IsSidecar). With no match, a release whose one other file names
// no platform at all (site.tar.gz, app.jar: for every platform) gives that
// file. Otherwise no match, or more than one, is an error that lists the
// names seen and what was looked for; set the artifact explicitly to
// choose between several.
func PickArtifact(names []string, explicit, goos, goarch string) (string, error) {
	if explicit != "" {
		for _, n := range names {
			if n == explicit {
				return n, nil
			}
		}
		return "", fmt.Errorf("artifact %q is not in the release; it has %s", explicit, listNames(names))
	}
	if goos == "" || goarch == "" {
		return "", fmt.Errorf("artifact for %q/%q: need both an OS and an architecture", goos, goarch)
	}
	oss := aliases(osAliases, goos)
	archs := aliases(archAliases, goarch)
	var matches, neutral []string
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] || IsSidecar(n) {
			continue
		}
		seen[n] = true
		w := words(n)
		if hasAny(w, oss) && hasAny(w, archs) {
			matches = append(matches, n)
		}
		if !hasAny(w, allAliases(osAliases)) && !hasAny(w, allAliases(archAliases)) {
			neutral = append(neutral, n)
		}
	}
	switch {
	case len(matches) == 1:
		return matches[0], nil
	case len(matches) == 0 && len(neutral) == 1:
		// The one file that names no platform at all (site.tar.gz, a
		// script, a jar): for every platform.
		return neutral[0], nil
	case len(matches) == 0:
		return "", fmt.Errorf("no artifact for %s/%s: looked for OS %s and architecture %s as words separated by _ - . in %s",
			goos, goarch, strings.Join(oss, "|"), strings.Join(archs, "|"), listNames(names))
	}
	return "", fmt.Errorf("%d artifacts fit %s/%s: %s; set the artifact to choose one", len(matches), goos, goarch, listNames(matches))
}

// IsSidecar reports whether name is a checksum, signature, certificate or
// SBOM file that accompanies the real assets: checksums.txt (also with a
// prefix, as in app_1.2.3_checksums.txt), SHA256SUMS and its kin, and
// names ending in .sha256, .sha512, .md5, .sig, .asc, .pem, .cert or
// containing .sbom. Case is ignored.
func IsSidecar(name string) bool {
	n := strings.ToLower(name)
	for _, suf := range []string{".sha1", ".sha256", ".sha512", ".md5", ".sig", ".asc", ".pem", ".cert", "checksums.txt", "checksums"} {
		if strings.HasSuffix(n, suf) {
			return true
		}
	}
	if strings.Contains(n, ".sbom") {
		return true
	}
	for _, w := range words(n) {
		switch w {
		case "sha1sums", "sha256sums", "sha512sums", "md5sums":
			return true
		}
	}
	return false
}

// allAliases lists every alias of a table.
func allAliases(table map[string][]string) []string {
	var out []string
	for _, a := range table {
		out = append(out, a...)
	}
	return out
}

func aliases(table map[string][]string, key string) []string {
	k := strings.ToLower(key)
	if a, ok := table[k]; ok {
		return a
	}
	return []string{k}
}

// words lower-cases name, rewrites x86_64 and x86-64 to amd64 where they
// stand as words, and splits it on "_", "-" and ".".
func words(name string) []string {
	w := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '_' || r == '-' || r == '.'
	})
	// FieldsFunc drops empty fields, so "x86__64" also joins; that is
	// no worse than any other reading of such a name.
	out := w[:0]
	for i := 0; i < len(w); i++ {
		if w[i] == "x86" && i+1 < len(w) && w[i+1] == "64" {
			out = append(out, "amd64")
			i++
			continue
		}
		out = append(out, w[i])
	}
	return out
}

func hasAny(words, want []string) bool {
	for _, w := range words {
		for _, a := range want {
			if w == a {
				return true
			}
		}
	}
	return false
}

func listNames(names []string) string {
	if len(names) == 0 {
		return "no assets"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	sort.Strings(q)
	return "[" + strings.Join(q, " ") + "]"
}
