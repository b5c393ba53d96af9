package version

import (
	"fmt"
	"strings"
)

// Scheme is how release tags are versioned.
type Scheme int

const (
	// Semver is SemVer 2.0.0 (v1.2.3-rc.1+blue). It is the zero value.
	Semver Scheme = iota
	// Calver is calendar versioning with a format (2024.01.09.1).
	Calver
)

// String returns "semver" or "calver".
func (s Scheme) String() string {
	switch s {
	case Semver:
		return "semver"
	case Calver:
		return "calver"
	}
	return fmt.Sprintf("Scheme(%d)", int(s))
}

// ParseScheme turns "semver" or "calver" into a Scheme.
func ParseScheme(s string) (Scheme, error) {
	switch s {
	case "semver":
		return Semver, nil
	case "calver":
		return Calver, nil
	}
	return 0, fmt.Errorf("version scheme %q: want semver or calver", s)
}

// Version is one parsed release tag. The zero Version is no version at
// all: its String is empty and it orders below every parsed one.
//
// Versions are values; the accessors return copies.
type Version struct {
	scheme Scheme
	// fields are the numeric fields from the most significant:
	// major, minor, patch for semver; the format's fields for calver.
	fields []uint64
	// pre holds the pre-release identifiers; nil for a release.
	pre []string
	// build is the build metadata without its "+"; "" when absent.
	build string
	// tag is the original text.
	tag string
}

// String returns the tag exactly as it was parsed, "v" prefix and build
// metadata included.
func (v Version) String() string { return v.tag }

// Scheme returns the scheme the version was parsed with.
func (v Version) Scheme() Scheme { return v.scheme }

// IsZero reports whether v is the zero Version.
func (v Version) IsZero() bool { return v.tag == "" && v.fields == nil }

// Fields returns the numeric fields, most significant first: major, minor
// and patch for semver, the format's fields in order for calver.
func (v Version) Fields() []uint64 { return append([]uint64(nil), v.fields...) }

// PreRelease returns the pre-release part without its "-" ("rc.1"), or "".
func (v Version) PreRelease() string { return strings.Join(v.pre, ".") }

// IsPreRelease reports whether v has a pre-release part.
func (v Version) IsPreRelease() bool { return len(v.pre) > 0 }

// Build returns the build metadata without its "+" ("blue"), or "".
// The slot of a version is its build metadata.
func (v Version) Build() string { return v.build }

// Compare returns -1, 0 or +1 as a orders before, the same as, or after b.
//
// The order is SemVer 2.0.0 precedence: numeric fields from the left
// (a shorter list of equal fields orders first); then a version without a
// pre-release after one with; then pre-release identifiers from the left,
// numeric ones by value and below alphanumeric ones, alphanumeric ones by
// ASCII, a shorter list of equal identifiers first. Build metadata is
// ignored, so v1.2.3+blue and v1.2.3+green compare equal, as do v1.2.3 and
// 1.2.3.
//
// Comparing versions of different schemes is meaningless; so that sorting
// never fails, every semver orders before every calver.
func Compare(a, b Version) int {
	if a.scheme != b.scheme {
		return cmpInt(int(a.scheme), int(b.scheme))
	}
	for i := 0; i < len(a.fields) && i < len(b.fields); i++ {
		if a.fields[i] != b.fields[i] {
			if a.fields[i] < b.fields[i] {
				return -1
			}
			return 1
		}
	}
	if c := cmpInt(len(a.fields), len(b.fields)); c != 0 {
		return c
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := comparePreIdent(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return cmpInt(len(a.pre), len(b.pre))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// comparePreIdent orders two pre-release identifiers per SemVer 2.0.0
// item 11.4. Numeric identifiers have no leading zeros (the parser
// guarantees it), so a longer one is larger and equal lengths order as
// strings: no integer conversion, no overflow.
func comparePreIdent(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		if c := cmpInt(len(a), len(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isIdentChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-'
}

// parseSuffix parses what may follow the numeric fields of a version:
// an optional "-" pre-release and an optional "+" build metadata. The
// whole of rest must be consumed.
func parseSuffix(rest string) (pre []string, build string, err error) {
	if rest == "" {
		return nil, "", nil
	}
	if rest[0] != '-' && rest[0] != '+' {
		return nil, "", fmt.Errorf("unexpected %q after the numbers", rest)
	}
	if rest[0] == '-' {
		p := rest[1:]
		if i := strings.IndexByte(p, '+'); i >= 0 {
			p, rest = p[:i], p[i:]
		} else {
			rest = ""
		}
		if pre, err = splitIdents(p, true); err != nil {
			return nil, "", fmt.Errorf("pre-release %q: %w", p, err)
		}
	}
	if rest != "" { // rest[0] == '+'
		build = rest[1:]
		if err := validBuild(build); err != nil {
			return nil, "", err
		}
	}
	return pre, build, nil
}

// validBuild checks build metadata (without its "+") per SemVer 2.0.0
// item 10: dot-separated, non-empty [0-9A-Za-z-] identifiers, leading
// zeros allowed.
func validBuild(b string) error {
	if _, err := splitIdents(b, false); err != nil {
		return fmt.Errorf("build metadata %q: %w", b, err)
	}
	return nil
}

// splitIdents splits dot-separated identifiers and checks each one. With
// pre set, numeric identifiers must not have leading zeros (item 9).
func splitIdents(s string, pre bool) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	ids := strings.Split(s, ".")
	for _, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("empty identifier")
		}
		for i := 0; i < len(id); i++ {
			if !isIdentChar(id[i]) {
				return nil, fmt.Errorf("identifier %q: character %q is not one of 0-9 A-Z a-z -", id, id[i])
			}
		}
		if pre && len(id) > 1 && id[0] == '0' && isNumeric(id) {
			return nil, fmt.Errorf("numeric identifier %q has a leading zero", id)
		}
	}
	return ids, nil
}

// parseUint parses a non-empty run of ASCII digits into a uint64.
func parseUint(s string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		d := uint64(c - '0')
		if n > (^uint64(0)-d)/10 {
			return 0, fmt.Errorf("%s is too large", s)
		}
		n = n*10 + d
	}
	return n, nil
}

// digits returns the length of the leading run of ASCII digits in s.
func digits(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
