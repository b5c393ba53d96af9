package version

import (
	"fmt"
	"strings"
)

// Specifier is one field of a calendar version format.
type Specifier string

// The specifiers of a calendar version format, as on calver.org. "Padded"
// means zero-padded to two digits; the others are written without leading
// zeros.
const (
	FullYear    Specifier = "YYYY"  // 4 digits: 2024
	ShortYear   Specifier = "YY"    // year-2000, not padded: 0, 6, 24, 106
	PaddedYear  Specifier = "0Y"    // year-2000, padded: 00, 06, 24, 106
	Month       Specifier = "MM"    // 1-12
	PaddedMonth Specifier = "0M"    // 01-12
	Week        Specifier = "WW"    // week of the year, 0-53
	PaddedWeek  Specifier = "0W"    // 00-53
	Day         Specifier = "DD"    // day of the month, 1-31
	PaddedDay   Specifier = "0D"    // 01-31
	Micro       Specifier = "MICRO" // a counter: 0, 1, 2, ... (no leading zeros)
)

// specifiers is every Specifier, longest first so that scanning a format
// takes "YYYY" before "YY".
var specifiers = []Specifier{Micro, FullYear, ShortYear, PaddedYear, Month, PaddedMonth, Week, PaddedWeek, Day, PaddedDay}

// rank is the significance of a specifier: a format must list its fields
// from the most significant, because versions are ordered field by field
// from the left.
type rank int

const (
	rankYear rank = iota
	rankMonthOrWeek
	rankDay
	rankMicro
)

func (s Specifier) rank() rank {
	switch s {
	case FullYear, ShortYear, PaddedYear:
		return rankYear
	case Month, PaddedMonth, Week, PaddedWeek:
		return rankMonthOrWeek
	case Day, PaddedDay:
		return rankDay
	}
	return rankMicro
}

// check validates the digits s written for the specifier and returns their
// value.
func (s Specifier) check(num string) (uint64, error) {
	padded := false
	minLen, maxLen := 1, 20
	var lo, hi uint64 = 0, ^uint64(0)
	switch s {
	case FullYear:
		minLen, maxLen = 4, 4
		padded = true // "0999" is four digits; allow it rather than guess
	case ShortYear:
		maxLen = 3
	case PaddedYear:
		// Two digits, or three from 2100 on: 06, 24, 106.
		minLen, maxLen = 2, 3
		padded = len(num) == 2
	case Month:
		lo, hi = 1, 12
	case PaddedMonth:
		minLen, maxLen, padded, lo, hi = 2, 2, true, 1, 12
	case Week:
		hi = 53
	case PaddedWeek:
		minLen, maxLen, padded, hi = 2, 2, true, 53
	case Day:
		lo, hi = 1, 31
	case PaddedDay:
		minLen, maxLen, padded, lo, hi = 2, 2, true, 1, 31
	case Micro:
	}
	if len(num) < minLen || len(num) > maxLen {
		if minLen == maxLen {
			return 0, fmt.Errorf("%s %q: want %d digits", s, num, minLen)
		}
		return 0, fmt.Errorf("%s %q: want %d to %d digits", s, num, minLen, maxLen)
	}
	if !padded && len(num) > 1 && num[0] == '0' {
		return 0, fmt.Errorf("%s %q has a leading zero", s, num)
	}
	v, err := parseUint(num)
	if err != nil {
		return 0, fmt.Errorf("%s %w", s, err)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%s %s is out of range %d-%d", s, num, lo, hi)
	}
	return v, nil
}

// CalverFormat is a validated calendar version format such as
// "YYYY.0M.0D.MICRO". The zero CalverFormat is not valid; make one with
// ParseCalverFormat.
type CalverFormat struct {
	text  string
	specs []Specifier
	// seps[i] is the separator after specs[i]; len(seps) == len(specs)-1.
	seps []byte
}

// String returns the format as it was given to ParseCalverFormat.
func (f CalverFormat) String() string { return f.text }

// Specifiers returns the format's fields in order.
func (f CalverFormat) Specifiers() []Specifier { return append([]Specifier(nil), f.specs...) }

// ParseCalverFormat validates a calendar version format.
//
// A format is specifiers (YYYY YY 0Y MM 0M WW 0W DD 0D MICRO) with one
// separator (".", "-" or "_") between each two, optionally preceded by a
// "v" that is ignored (versions may carry a "v" either way). Because
// versions are ordered field by field from the left, the fields must go
// from the most significant to the least:
//
//   - a year comes first, and only once;
//   - then either a month or a week of the year, not both;
//   - then a day of the month, only after a month;
//   - MICRO, if present, comes last.
//
// So "YYYY.0M.0D.MICRO", "YY.MM.MICRO", "YYYY-0W", "YYYY_0M" and "YYYY"
// are valid; "0M.YYYY", "YYYY.0W.0D", "YYYY0M" and "YYYY..0M" are not.
//
// WW and 0W are a week number of the year as the publisher computes it,
// 0 to 53, so ISO 8601 weeks (date +%V) and %U/%W weeks both fit. With ISO
// weeks, pair the week with the ISO week-numbering year (date +%G), or
// the last days of December in week 1 will order before week 52.
// No specifier is checked against a calendar: 2023.02.30 is accepted.
func ParseCalverFormat(format string) (CalverFormat, error) {
	f := CalverFormat{text: format}
	s := strings.TrimPrefix(format, "v")
	if s == "" {
		return CalverFormat{}, fmt.Errorf("calver format %q: empty; want specifiers such as YYYY.0M.0D.MICRO", format)
	}
	var prev Specifier
	for {
		end := strings.IndexAny(s, ".-_")
		word := s
		if end >= 0 {
			word = s[:end]
		}
		spec, err := specifierWord(word)
		if err != nil {
			return CalverFormat{}, fmt.Errorf("calver format %q: %w", format, err)
		}
		if len(f.specs) == 0 && spec.rank() != rankYear {
			return CalverFormat{}, fmt.Errorf("calver format %q: starts with %s; the first field must be a year (YYYY, YY or 0Y) because versions are ordered from the left", format, spec)
		}
		if len(f.specs) > 0 {
			if spec.rank() <= prev.rank() {
				return CalverFormat{}, fmt.Errorf("calver format %q: %s after %s; fields must go from year to month or week to day to MICRO, each at most once", format, spec, prev)
			}
			if spec.rank() == rankDay && (prev == Week || prev == PaddedWeek) {
				return CalverFormat{}, fmt.Errorf("calver format %q: %s after %s; a day of the month needs a month (MM or 0M), not a week", format, spec, prev)
			}
			if spec.rank() == rankDay && prev.rank() == rankYear {
				return CalverFormat{}, fmt.Errorf("calver format %q: %s right after %s; a day of the month needs a month (MM or 0M) before it", format, spec, prev)
			}
		}
		f.specs = append(f.specs, spec)
		prev = spec
		if end < 0 {
			break
		}
		f.seps = append(f.seps, s[end])
		s = s[end+1:]
		if s == "" {
			return CalverFormat{}, fmt.Errorf("calver format %q: ends with the separator %q", format, string(f.seps[len(f.seps)-1]))
		}
	}
	return f, nil
}

// specifierWord returns the specifier that word (the text between two
// separators of a format) is, or explains why it is none.
func specifierWord(word string) (Specifier, error) {
	if word == "" {
		return "", fmt.Errorf("a separator at the start or two separators in a row; want a field between separators")
	}
	for _, sp := range specifiers {
		if word == string(sp) {
			return sp, nil
		}
	}
	// Several specifiers written together: "YYYY0M".
	rest, n := word, 0
	for rest != "" {
		sp, ok := leadingSpecifier(rest)
		if !ok {
			break
		}
		rest, n = rest[len(sp):], n+1
	}
	if rest == "" && n > 1 {
		return "", fmt.Errorf("no separator between the fields of %q; put \".\", \"-\" or \"_\" between fields", word)
	}
	hint := ""
	if up := strings.ToUpper(word); up != word {
		if _, err := specifierWord(up); err == nil {
			hint = " (specifiers are upper case)"
		}
	}
	if i := strings.IndexFunc(word, func(r rune) bool { return !strings.ContainsRune("YMWDICRO0", r) }); i >= 0 && hint == "" {
		hint = fmt.Sprintf(" (%q is neither a specifier letter nor a separator . - _)", []rune(word[i:])[0])
	}
	return "", fmt.Errorf("unknown specifier %q%s; want one of YYYY YY 0Y MM 0M WW 0W DD 0D MICRO", word, hint)
}

func leadingSpecifier(s string) (Specifier, bool) {
	for _, sp := range specifiers {
		if strings.HasPrefix(s, string(sp)) {
			return sp, true
		}
	}
	return "", false
}

// Parse parses a calendar version written in format f: an optional
// lower-case "v", the fields with the format's separators, then an optional
// "-" pre-release and "+" build metadata as in SemVer 2.0.0
// ("v2024.01.09.1-rc.1+blue").
//
// Each field is a run of digits checked against its specifier's width and
// range; a version with fewer fields than the format, or other separators,
// does not match. After the last field a "-" always starts a pre-release,
// so with format "YYYY-0M" the tag "2024-01-2" is 2024-01 pre-release "2"
// (skipped unless pre-releases are allowed), while "2024-01-02" does not
// parse (a numeric pre-release may not have a leading zero).
func (f CalverFormat) Parse(tag string) (Version, error) {
	if len(f.specs) == 0 {
		return Version{}, fmt.Errorf("calver %q: no format (use ParseCalverFormat)", tag)
	}
	s := strings.TrimPrefix(tag, "v")
	fields := make([]uint64, len(f.specs))
	for i, spec := range f.specs {
		if i > 0 {
			if s == "" || s[0] != f.seps[i-1] {
				return Version{}, fmt.Errorf("calver %q does not match format %q: want %q before %s", tag, f.text, string(f.seps[i-1]), spec)
			}
			s = s[1:]
		}
		n := digits(s)
		if n == 0 {
			return Version{}, fmt.Errorf("calver %q does not match format %q: %s is not a number", tag, f.text, spec)
		}
		v, err := spec.check(s[:n])
		if err != nil {
			return Version{}, fmt.Errorf("calver %q does not match format %q: %w", tag, f.text, err)
		}
		fields[i] = v
		s = s[n:]
	}
	pre, build, err := parseSuffix(s)
	if err != nil {
		return Version{}, fmt.Errorf("calver %q does not match format %q: %w", tag, f.text, err)
	}
	return Version{scheme: Calver, fields: fields, pre: pre, build: build, tag: tag}, nil
}
