package version

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

// semverSeeds are tags for the fuzzers' corpus: valid, invalid and edge.
var semverSeeds = []string{
	"v1.2.3", "1.2.3", "v1.2.3-rc.1", "v1.2.3+blue", "v1.2.3-rc.1+blue", "1.0.0-alpha", "1.0.0-alpha.1",
	"1.0.0-alpha.beta", "1.0.0-beta.11", "1.0.0-0.3.7", "1.0.0--", "v01.2.3", "v1.2", "v1.2.3-rc.01",
	"18446744073709551616.0.0", "1.0.0-99999999999999999999999", "v1.2.3+", "latest", "",
}

// FuzzParseSemver checks that ParseSemver never panics, keeps the tag,
// agrees with golang.org/x/mod/semver on validity and order (a
// differential oracle written independently of this package), and that
// Compare is antisymmetric, reflexive and transitive.
func FuzzParseSemver(f *testing.F) {
	for i, s := range semverSeeds {
		f.Add(s, semverSeeds[(i+1)%len(semverSeeds)], semverSeeds[(i+5)%len(semverSeeds)])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		var vs []Version
		for _, s := range []string{a, b, c} {
			v, err := ParseSemver(s)
			oracle := "v" + strings.TrimPrefix(s, "v")
			// x/mod accepts the v1 and v1.2 shorthands; Canonical
			// spells them out and drops build metadata.
			full := semver.IsValid(oracle) && semver.Canonical(oracle)+semver.Build(oracle) == oracle
			if err != nil {
				if full && !strings.Contains(err.Error(), "too large") {
					t.Fatalf("ParseSemver(%q): %v; x/mod/semver takes it", s, err)
				}
				if !v.IsZero() {
					t.Fatalf("ParseSemver(%q) returned %#v with an error", s, v)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
					t.Fatalf("ParseSemver(%q) error %q does not name the tag", s, err)
				}
				continue
			}
			if !full {
				t.Fatalf("ParseSemver(%q) = %v; x/mod/semver rejects it", s, v)
			}
			checkVersion(t, v, s)
			if got, want := v.PreRelease(), strings.TrimPrefix(semver.Prerelease(oracle), "-"); got != want {
				t.Fatalf("ParseSemver(%q).PreRelease() = %q, x/mod/semver says %q", s, got, want)
			}
			if got, want := v.Build(), strings.TrimPrefix(semver.Build(oracle), "+"); got != want {
				t.Fatalf("ParseSemver(%q).Build() = %q, x/mod/semver says %q", s, got, want)
			}
			vs = append(vs, v)
		}
		checkOrder(t, vs)
		for _, x := range vs {
			for _, y := range vs {
				ox := "v" + strings.TrimPrefix(x.String(), "v")
				oy := "v" + strings.TrimPrefix(y.String(), "v")
				if got, want := Compare(x, y), semver.Compare(ox, oy); got != want {
					t.Fatalf("Compare(%s, %s) = %d, x/mod/semver says %d", x, y, got, want)
				}
			}
		}
	})
}

// FuzzParseCalver checks that ParseCalverFormat and CalverFormat.Parse
// never panic; that a valid format reparses from its String; that a parsed
// version keeps its tag and re-renders from its fields exactly (so the
// parser took each field with the width its specifier demands); and that
// Compare is antisymmetric, reflexive and transitive.
func FuzzParseCalver(f *testing.F) {
	seeds := []struct{ format, a, b, c string }{
		{"YYYY.0M.0D.MICRO", "2024.01.09.1", "2024.01.10.0", "v2024.01.10.0-rc.1+blue"},
		{"YYYY.MM.DD", "2024.1.9", "2024.01.9", "2024.12.31"},
		{"YY.MM.MICRO", "24.1.0", "106.12.3", "024.1.0"},
		{"0Y.0M", "06.03", "106.12", "6.03"},
		{"YYYY-0W", "2024-01", "2024-53-beta", "2024-54"},
		{"YYYY_WW_MICRO", "2024_7_3", "2024_07_3", "2024_0_0+x"},
		{"YYYY-0M-0D", "2024-01-09-rc.2+blue", "2024-01-09", "2024-01-09-02"},
		{"vYYYY", "v2024", "2024", "v2024-1"},
		{"YYYY.0M.0W", "", "", ""},
		{"YYYY0M", "", "", ""},
		{"yyyy..", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.format, s.a, s.b, s.c)
	}
	f.Fuzz(func(t *testing.T, format, a, b, c string) {
		cf, err := ParseCalverFormat(format)
		if err != nil {
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", format)) {
				t.Fatalf("ParseCalverFormat(%q) error %q does not name the format", format, err)
			}
			return
		}
		again, err := ParseCalverFormat(cf.String())
		if err != nil || fmt.Sprint(again.Specifiers()) != fmt.Sprint(cf.Specifiers()) {
			t.Fatalf("ParseCalverFormat(%q) does not reparse from String: %v", format, err)
		}
		var vs []Version
		for _, s := range []string{a, b, c} {
			v, err := cf.Parse(s)
			if err != nil {
				if !v.IsZero() {
					t.Fatalf("Parse(%q) returned %#v with an error", s, v)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
					t.Fatalf("Parse(%q) error %q does not name the tag", s, err)
				}
				continue
			}
			checkVersion(t, v, s)
			if got := render(cf, v); got != strings.TrimPrefix(s, "v") {
				t.Fatalf("format %q: Parse(%q) renders back as %q", format, s, got)
			}
			vs = append(vs, v)
		}
		checkOrder(t, vs)
	})
}

// render writes v in format f the way a publisher would: each field with
// its specifier's padding, then the pre-release and build metadata.
func render(f CalverFormat, v Version) string {
	var sb strings.Builder
	for i, spec := range f.specs {
		if i > 0 {
			sb.WriteByte(f.seps[i-1])
		}
		switch spec {
		case FullYear:
			fmt.Fprintf(&sb, "%04d", v.fields[i])
		case PaddedYear, PaddedMonth, PaddedWeek, PaddedDay:
			fmt.Fprintf(&sb, "%02d", v.fields[i])
		default:
			fmt.Fprintf(&sb, "%d", v.fields[i])
		}
	}
	if v.IsPreRelease() {
		sb.WriteString("-" + v.PreRelease())
	}
	if v.Build() != "" {
		sb.WriteString("+" + v.Build())
	}
	return sb.String()
}

// checkVersion checks what holds for every parsed version.
func checkVersion(t *testing.T, v Version, tag string) {
	t.Helper()
	if v.String() != tag {
		t.Fatalf("parse(%q).String() = %q", tag, v.String())
	}
	if Compare(v, v) != 0 {
		t.Fatalf("Compare(%s, itself) = %d", v, Compare(v, v))
	}
	if v.IsPreRelease() != (v.PreRelease() != "") {
		t.Fatalf("%s: IsPreRelease %v, PreRelease %q", v, v.IsPreRelease(), v.PreRelease())
	}
	if strings.Contains(tag, "+") != (v.Build() != "") {
		t.Fatalf("%s: Build %q", v, v.Build())
	}
}

// checkOrder checks that Compare is antisymmetric and transitive over vs,
// and that it calls two versions equal exactly when their fields and
// pre-release are (build metadata and the v prefix do not count).
func checkOrder(t *testing.T, vs []Version) {
	t.Helper()
	for _, x := range vs {
		for _, y := range vs {
			xy, yx := Compare(x, y), Compare(y, x)
			if xy != -yx || xy < -1 || xy > 1 {
				t.Fatalf("Compare(%s, %s) = %d but Compare(%s, %s) = %d", x, y, xy, y, x, yx)
			}
			same := fmt.Sprint(x.Fields()) == fmt.Sprint(y.Fields()) && x.PreRelease() == y.PreRelease()
			if (xy == 0) != same {
				t.Fatalf("Compare(%s, %s) = %d, same fields and pre-release: %v", x, y, xy, same)
			}
			for _, z := range vs {
				if xy <= 0 && Compare(y, z) <= 0 && Compare(x, z) > 0 {
					t.Fatalf("not transitive: %s <= %s <= %s but %s > %s", x, y, z, x, z)
				}
			}
		}
	}
}
