package version

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSemver(t *testing.T) {
	tests := []struct {
		tag    string
		fields []uint64
		pre    string
		build  string
		err    string // substring of the error; "" for success
	}{
		{tag: "v1.2.3", fields: []uint64{1, 2, 3}},
		{tag: "1.2.3", fields: []uint64{1, 2, 3}},
		{tag: "v0.0.0", fields: []uint64{0, 0, 0}},
		{tag: "v1.2.3-rc.1", fields: []uint64{1, 2, 3}, pre: "rc.1"},
		{tag: "v1.2.3+blue", fields: []uint64{1, 2, 3}, build: "blue"},
		{tag: "v1.2.3-rc.1+blue", fields: []uint64{1, 2, 3}, pre: "rc.1", build: "blue"},
		{tag: "1.0.0-alpha-1.x-y", fields: []uint64{1, 0, 0}, pre: "alpha-1.x-y"},
		{tag: "1.0.0-0.3.7", fields: []uint64{1, 0, 0}, pre: "0.3.7"},
		{tag: "1.0.0+20130313144700", fields: []uint64{1, 0, 0}, build: "20130313144700"},
		{tag: "1.0.0+001.exp-sha.5114f85", fields: []uint64{1, 0, 0}, build: "001.exp-sha.5114f85"},
		{tag: "1.0.0-rc.1+build.1-x", fields: []uint64{1, 0, 0}, pre: "rc.1", build: "build.1-x"},
		{tag: "1.0.0--", fields: []uint64{1, 0, 0}, pre: "-"},
		{tag: "18446744073709551615.0.0", fields: []uint64{18446744073709551615, 0, 0}},

		{tag: "", err: `semver "": want MAJOR.MINOR.PATCH, major is not a number`},
		{tag: "v", err: "major is not a number"},
		{tag: "latest", err: `semver "latest": want MAJOR.MINOR.PATCH, major is not a number`},
		{tag: "V1.2.3", err: "major is not a number"},
		{tag: "vv1.2.3", err: "major is not a number"},
		{tag: "v1", err: `semver "v1": want MAJOR.MINOR.PATCH, minor is missing`},
		{tag: "v1.2", err: "patch is missing"},
		{tag: "v1.2.", err: "patch is not a number"},
		{tag: "v1.2.3.4", err: `unexpected ".4" after the numbers`},
		{tag: "v01.2.3", err: `major "01" has a leading zero`},
		{tag: "v1.02.3", err: `minor "02" has a leading zero`},
		{tag: "v1.2.03", err: `patch "03" has a leading zero`},
		{tag: "v1.2.3-", err: `pre-release "": empty`},
		{tag: "v1.2.3+", err: `build metadata "": empty`},
		{tag: "v1.2.3-rc..1", err: "empty identifier"},
		{tag: "v1.2.3-rc.01", err: `numeric identifier "01" has a leading zero`},
		{tag: "v1.2.3-rc_1", err: `character '_' is not one of`},
		{tag: "v1.2.3+blue+green", err: `character '+'`},
		{tag: "v1.2.3+blue.", err: "empty identifier"},
		{tag: " v1.2.3", err: "major is not a number"},
		{tag: "v1.2.3 ", err: `unexpected " "`},
		{tag: "18446744073709551616.0.0", err: "major 18446744073709551616 is too large"},
		{tag: "v-1.2.3", err: "major is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			v, err := ParseSemver(tt.tag)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseSemver(%q) error = %v, want it to contain %q", tt.tag, err, tt.err)
				}
				if !v.IsZero() {
					t.Errorf("ParseSemver(%q) = %v with an error, want the zero Version", tt.tag, v)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSemver(%q): %v", tt.tag, err)
			}
			got := struct {
				Fields     []uint64
				Pre, Build string
				String     string
				Scheme     Scheme
			}{v.Fields(), v.PreRelease(), v.Build(), v.String(), v.Scheme()}
			want := got
			want.Fields, want.Pre, want.Build, want.String, want.Scheme = tt.fields, tt.pre, tt.build, tt.tag, Semver
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("ParseSemver(%q) (-want +got):\n%s", tt.tag, d)
			}
			if v.IsPreRelease() != (tt.pre != "") {
				t.Errorf("IsPreRelease() = %v", v.IsPreRelease())
			}
		})
	}
}

// TestSemverOrder checks that each tag orders strictly before the next,
// and that Compare agrees on every pair, not only neighbours.
func TestSemverOrder(t *testing.T) {
	chains := [][]string{
		// SemVer 2.0.0 item 11, plus beta.2 < beta.11 (numeric, not ASCII).
		{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"},
		{"v1.9.0", "v1.10.0", "v1.10.1", "v2.0.0-rc.1", "v2.0.0", "v10.0.0"},
		{"0.0.0", "0.0.1", "0.1.0", "1.0.0"},
		// Numeric identifiers order below alphanumeric ones, whatever
		// their value; longer numbers are larger (no overflow).
		{"1.0.0-1", "1.0.0-9", "1.0.0-10", "1.0.0-99999999999999999999999", "1.0.0-A", "1.0.0-a", "1.0.0-a.1"},
		{"1.0.0-9.x", "1.0.0-10.x"},
		{"1.0.0-x-y", "1.0.0-xy"},
		{"18446744073709551614.0.0", "18446744073709551615.0.0"},
	}
	for _, chain := range chains {
		vs := make([]Version, len(chain))
		for i, tag := range chain {
			v, err := ParseSemver(tag)
			if err != nil {
				t.Fatal(err)
			}
			vs[i] = v
		}
		for i := range vs {
			for j := range vs {
				want := cmpInt(i, j)
				if got := Compare(vs[i], vs[j]); got != want {
					t.Errorf("Compare(%s, %s) = %d, want %d", vs[i], vs[j], got, want)
				}
			}
		}
	}
}

func TestSemverEqualPrecedence(t *testing.T) {
	pairs := [][2]string{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3+blue", "v1.2.3+green"},
		{"v1.2.3+blue", "v1.2.3"},
		{"1.0.0-rc.1+a", "v1.0.0-rc.1+b"},
	}
	for _, p := range pairs {
		a, err := ParseSemver(p[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseSemver(p[1])
		if err != nil {
			t.Fatal(err)
		}
		if c := Compare(a, b); c != 0 {
			t.Errorf("Compare(%s, %s) = %d, want 0 (build metadata and the v prefix do not order)", a, b, c)
		}
	}
}

func TestCompareZeroAndSchemes(t *testing.T) {
	s, _ := ParseSemver("v0.0.0")
	f, _ := ParseCalverFormat("YYYY")
	c, err := f.Parse("2024")
	if err != nil {
		t.Fatal(err)
	}
	var zero Version
	if !zero.IsZero() || zero.String() != "" {
		t.Errorf("zero Version: IsZero %v, String %q", zero.IsZero(), zero.String())
	}
	if Compare(zero, s) != -1 || Compare(s, zero) != 1 || Compare(zero, zero) != 0 {
		t.Errorf("the zero Version must order below v0.0.0")
	}
	if Compare(s, c) != -1 || Compare(c, s) != 1 {
		t.Errorf("a semver must order before a calver")
	}
}

func TestScheme(t *testing.T) {
	for _, s := range []Scheme{Semver, Calver} {
		got, err := ParseScheme(s.String())
		if err != nil || got != s {
			t.Errorf("ParseScheme(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseScheme("SemVer"); err == nil || !strings.Contains(err.Error(), `"SemVer"`) {
		t.Errorf("ParseScheme(SemVer) error = %v", err)
	}
	if got := Scheme(7).String(); got != "Scheme(7)" {
		t.Errorf("Scheme(7).String() = %q", got)
	}
}
