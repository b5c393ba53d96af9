package version

import (
	"fmt"
	"strings"
)

// ParseSemver parses a SemVer 2.0.0 version with an optional lower-case
// "v" prefix: "v1.2.3", "1.2.3", "v1.2.3-rc.1", "v1.2.3+blue",
// "v1.2.3-rc.1+blue".
//
// The grammar is the spec's, without leniency: exactly three numeric
// fields, none with a leading zero; pre-release and build identifiers
// non-empty and made of [0-9A-Za-z-]; numeric pre-release identifiers
// without leading zeros. Fields must fit in a uint64. Surrounding
// white space is not trimmed.
func ParseSemver(tag string) (Version, error) {
	s := strings.TrimPrefix(tag, "v")
	var fields [3]uint64
	names := [3]string{"major", "minor", "patch"}
	for i := range fields {
		if i > 0 {
			if s == "" || s[0] != '.' {
				return Version{}, fmt.Errorf("semver %q: want MAJOR.MINOR.PATCH, %s is missing", tag, names[i])
			}
			s = s[1:]
		}
		n := digits(s)
		if n == 0 {
			return Version{}, fmt.Errorf("semver %q: want MAJOR.MINOR.PATCH, %s is not a number", tag, names[i])
		}
		num := s[:n]
		if n > 1 && num[0] == '0' {
			return Version{}, fmt.Errorf("semver %q: %s %q has a leading zero", tag, names[i], num)
		}
		v, err := parseUint(num)
		if err != nil {
			return Version{}, fmt.Errorf("semver %q: %s %w", tag, names[i], err)
		}
		fields[i] = v
		s = s[n:]
	}
	pre, build, err := parseSuffix(s)
	if err != nil {
		return Version{}, fmt.Errorf("semver %q: %w", tag, err)
	}
	return Version{scheme: Semver, fields: fields[:], pre: pre, build: build, tag: tag}, nil
}
