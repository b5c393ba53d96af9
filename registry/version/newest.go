package version

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoCandidate is wrapped by the error Newest returns when no tag is a
// candidate. A registry with no (deployable) release yet is not a broken
// registry: callers branch on it with errors.Is.
var ErrNoCandidate = errors.New("no candidate version")

// Options says how Newest reads and filters tags.
type Options struct {
	// Scheme is Semver (the zero value) or Calver.
	Scheme Scheme
	// CalverFormat is the format of calendar versions, such as
	// "YYYY.0M.0D.MICRO"; required with Calver, must be empty with Semver.
	CalverFormat string
	// PreRelease makes pre-releases (v1.2.3-rc.1) candidates.
	PreRelease bool
	// Slot, when set, makes only versions whose build metadata equals it
	// candidates: slot "blue" takes v1.2.3+blue, not v1.2.3 or
	// v1.2.3+blue.1. When empty, build metadata is ignored and every
	// version is a candidate, with or without it.
	Slot string
}

// Reason is why Newest skipped a tag.
type Reason int

const (
	// NotAVersion: the tag does not parse in the scheme (and format).
	NotAVersion Reason = iota + 1
	// PreReleaseNotAllowed: a pre-release, and Options.PreRelease is off.
	PreReleaseNotAllowed
	// OtherSlot: Options.Slot is set and the build metadata differs.
	OtherSlot
)

// String describes the reason in a few words, for logs.
func (r Reason) String() string {
	switch r {
	case NotAVersion:
		return "not a version"
	case PreReleaseNotAllowed:
		return "pre-release not allowed"
	case OtherSlot:
		return "other slot"
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Skip is one tag Newest did not consider, and why.
type Skip struct {
	Tag    string
	Reason Reason
	// Err is the parse error for NotAVersion; nil otherwise.
	Err error
}

// String is one log line: the tag and the reason, or the parse error,
// which names the tag.
func (s Skip) String() string {
	if s.Reason == NotAVersion && s.Err != nil {
		return s.Err.Error() // names the tag already
	}
	return fmt.Sprintf("%q: %v", s.Tag, s.Reason)
}

// Newest returns the highest candidate version among tags (see Compare),
// and every tag it skipped with the reason, in input order, for a debug
// log. Skipped tags are not errors.
//
// A tag is a candidate when it parses in opts.Scheme (with
// opts.CalverFormat for Calver), is not a pre-release unless
// opts.PreRelease is set, and, when opts.Slot is set, has build metadata
// equal to the slot.
//
// Tags of equal precedence (v1.2.3 and 1.2.3, or v1.2.3+blue and
// v1.2.3+green without a slot) are broken without regard to input order,
// so the answer does not flap when a registry lists tags in another
// order: the tag without build metadata wins, then the one that is
// smallest bytewise.
//
// The error is about opts (an invalid scheme, calver format or slot), or
// wraps ErrNoCandidate and says how many tags were seen and why each kind
// was skipped.
func Newest(tags []string, opts Options) (Version, []Skip, error) {
	parse, err := opts.parser()
	if err != nil {
		return Version{}, nil, err
	}
	var (
		best    Version
		found   bool
		skipped []Skip
	)
	for _, tag := range tags {
		v, err := parse(tag)
		switch {
		case err != nil:
			skipped = append(skipped, Skip{Tag: tag, Reason: NotAVersion, Err: err})
			continue
		case v.IsPreRelease() && !opts.PreRelease:
			skipped = append(skipped, Skip{Tag: tag, Reason: PreReleaseNotAllowed})
			continue
		case opts.Slot != "" && v.build != opts.Slot:
			skipped = append(skipped, Skip{Tag: tag, Reason: OtherSlot})
			continue
		}
		if !found || better(v, best) {
			best, found = v, true
		}
	}
	if !found {
		return Version{}, skipped, noCandidate(len(tags), skipped, opts)
	}
	return best, skipped, nil
}

// better reports whether v should replace best: higher precedence, or
// equal precedence and preferred by the order-independent tie-break.
func better(v, best Version) bool {
	if c := Compare(v, best); c != 0 {
		return c > 0
	}
	if (v.build == "") != (best.build == "") {
		return v.build == ""
	}
	return v.tag < best.tag
}

func (o Options) parser() (func(string) (Version, error), error) {
	if o.Slot != "" {
		if err := validBuild(o.Slot); err != nil {
			return nil, fmt.Errorf("slot %q: not valid as build metadata (+%s), so no version can match: %w", o.Slot, o.Slot, err)
		}
	}
	switch o.Scheme {
	case Semver:
		if o.CalverFormat != "" {
			return nil, fmt.Errorf("calver format %q given with the semver scheme; choose calver or drop the format", o.CalverFormat)
		}
		return ParseSemver, nil
	case Calver:
		if o.CalverFormat == "" {
			return nil, fmt.Errorf("the calver scheme needs a format such as \"YYYY.0M.0D.MICRO\"")
		}
		f, err := ParseCalverFormat(o.CalverFormat)
		if err != nil {
			return nil, err
		}
		return f.Parse, nil
	}
	return nil, fmt.Errorf("version scheme %v: want Semver or Calver", o.Scheme)
}

// noCandidate builds the ErrNoCandidate error: tags seen, then for each
// reason how many and the first example.
func noCandidate(seen int, skipped []Skip, opts Options) error {
	if seen == 0 {
		return fmt.Errorf("%w: no tags seen", ErrNoCandidate)
	}
	what := opts.Scheme.String()
	if opts.Scheme == Calver {
		what = fmt.Sprintf("calver %q", opts.CalverFormat)
	}
	var parts []string
	for _, r := range []Reason{NotAVersion, PreReleaseNotAllowed, OtherSlot} {
		n, first := 0, Skip{}
		for _, s := range skipped {
			if s.Reason == r {
				if n == 0 {
					first = s
				}
				n++
			}
		}
		if n == 0 {
			continue
		}
		var p string
		switch r {
		case NotAVersion:
			p = fmt.Sprintf("%d not %s (first: %v)", n, what, first.Err)
		case PreReleaseNotAllowed:
			p = fmt.Sprintf("%d pre-release%s not allowed (first: %q)", n, plural(n), first.Tag)
		case OtherSlot:
			p = fmt.Sprintf("%d not in slot %q (first: %q)", n, opts.Slot, first.Tag)
		}
		parts = append(parts, p)
	}
	return fmt.Errorf("%w among %d tag%s: %s", ErrNoCandidate, seen, plural(seen), strings.Join(parts, "; "))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
