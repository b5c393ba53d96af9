// Package version decides which release a registry offers is the one to
// deploy (the newest semantic version, pre-releases only when asked, of
// the deployment slot when one is set) and which of a release's files is
// the artifact for this machine. Pure logic: no I/O.
package version

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Version is a parsed semantic version; String returns the tag as
// published.
type Version struct {
	tag                 string
	major, minor, patch uint64
	pre                 []string // dot-separated pre-release identifiers
	build               string   // build metadata, the slot ("blue")
}

// String is the original tag ("v1.2.3-rc.1+blue").
func (v Version) String() string { return v.tag }

// PreRelease reports whether v has a pre-release part.
func (v Version) PreRelease() bool { return len(v.pre) > 0 }

// Build is v's build metadata, "" when it has none.
func (v Version) Build() string { return v.build }

// Options say which versions are candidates.
type Options struct {
	// PreRelease admits versions with a pre-release part (v1.2.0-rc.1).
	PreRelease bool
	// Slot, when set, admits only versions whose build metadata is the
	// slot (v1.2.3+blue for "blue"). Without a slot, build metadata does
	// not matter.
	Slot string
}

// Parse reads a semantic version (SemVer 2.0.0, with an optional leading
// "v"). opts are not used for parsing; they are there so callers parse and
// select with one set of rules.
func Parse(tag string, _ Options) (Version, error) {
	s := strings.TrimPrefix(tag, "v")
	v := Version{tag: tag}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		v.build = s[i+1:]
		if !validIdents(v.build, false) {
			return Version{}, fmt.Errorf("version %q: invalid build metadata %q", tag, v.build)
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		pre := s[i+1:]
		if !validIdents(pre, true) {
			return Version{}, fmt.Errorf("version %q: invalid pre-release %q", tag, pre)
		}
		v.pre = strings.Split(pre, ".")
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q: not MAJOR.MINOR.PATCH", tag)
	}
	nums := [3]*uint64{&v.major, &v.minor, &v.patch}
	for i, p := range parts {
		if !numeric(p) || len(p) > 1 && p[0] == '0' {
			return Version{}, fmt.Errorf("version %q: %q is not a number without leading zeros", tag, p)
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("version %q: %w", tag, err)
		}
		*nums[i] = n
	}
	return v, nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validIdents checks dot-separated identifiers of [0-9A-Za-z-], none
// empty; pre-release numeric identifiers have no leading zero.
func validIdents(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for _, c := range id {
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		}
		if pre && numeric(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

// Compare orders versions by SemVer 2.0.0 precedence: -1, 0 or +1. Build
// metadata does not count.
func Compare(a, b Version) int {
	for _, p := range [][2]uint64{{a.major, b.major}, {a.minor, b.minor}, {a.patch, b.patch}} {
		if p[0] != p[1] {
			if p[0] < p[1] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1 // a release is newer than its pre-releases
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := compareIdent(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}

func compareIdent(a, b string) int {
	an, bn := numeric(a), numeric(b)
	switch {
	case an && bn:
		if len(a) != len(b) { // no leading zeros: longer is larger
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case an:
		return -1 // numeric identifiers sort before alphanumeric ones
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

// Skip is a tag that was not a candidate, and why.
type Skip struct {
	Tag    string
	Reason string
}

// ErrNoCandidate is returned (wrapped) by Newest when no tag qualifies.
var ErrNoCandidate = errors.New("no release to deploy")

// Newest returns the newest candidate among tags, and the tags it skipped
// with the reason. Equal versions (v1.0.0 and 1.0.0) resolve to the tag
// that sorts first, so the choice is stable.
func Newest(tags []string, opts Options) (Version, []Skip, error) {
	var best Version
	found := false
	var skipped []Skip
	sorted := append([]string(nil), tags...)
	sort.Strings(sorted)
	for _, t := range sorted {
		v, err := Parse(t, opts)
		switch {
		case err != nil:
			skipped = append(skipped, Skip{t, err.Error()})
			continue
		case v.PreRelease() && !opts.PreRelease:
			skipped = append(skipped, Skip{t, "a pre-release, and pre_release is false"})
			continue
		case opts.Slot != "" && v.build != opts.Slot:
			skipped = append(skipped, Skip{t, fmt.Sprintf("not of slot %q", opts.Slot)})
			continue
		}
		if !found || Compare(v, best) > 0 {
			best, found = v, true
		}
	}
	if !found {
		return Version{}, skipped, fmt.Errorf("%w: %d release(s) seen, %d skipped (%s)", ErrNoCandidate, len(tags), len(skipped), summarize(skipped))
	}
	return best, skipped, nil
}

func summarize(sk []Skip) string {
	if len(sk) == 0 {
		return "the registry has none"
	}
	var parts []string
	for i, s := range sk {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(sk)-3))
			break
		}
		parts = append(parts, s.Tag+": "+s.Reason)
	}
	return strings.Join(parts, "; ")
}
