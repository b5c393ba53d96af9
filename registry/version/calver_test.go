package version

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCalverFormat(t *testing.T) {
	tests := []struct {
		format string
		specs  []Specifier
		err    string
	}{
		{format: "YYYY.0M.0D.MICRO", specs: []Specifier{FullYear, PaddedMonth, PaddedDay, Micro}},
		{format: "YYYY.MM.DD", specs: []Specifier{FullYear, Month, Day}},
		{format: "YY.MM.MICRO", specs: []Specifier{ShortYear, Month, Micro}},
		{format: "0Y.0M", specs: []Specifier{PaddedYear, PaddedMonth}},
		{format: "YYYY-0W", specs: []Specifier{FullYear, PaddedWeek}},
		{format: "YYYY_WW_MICRO", specs: []Specifier{FullYear, Week, Micro}},
		{format: "YYYY-0M_0D.MICRO", specs: []Specifier{FullYear, PaddedMonth, PaddedDay, Micro}},
		{format: "YYYY", specs: []Specifier{FullYear}},
		{format: "YYYY.MICRO", specs: []Specifier{FullYear, Micro}},
		{format: "vYYYY.0M", specs: []Specifier{FullYear, PaddedMonth}},

		{format: "", err: `calver format "": empty`},
		{format: "v", err: `calver format "v": empty`},
		{format: "yyyy.0m", err: `unknown specifier "yyyy" (specifiers are upper case)`},
		{format: "YYY.0M", err: `unknown specifier "YYY"; want one of`},
		{format: "YyYY.0M", err: `unknown specifier "YyYY" (specifiers are upper case)`},
		{format: "YYYY.M", err: `unknown specifier "M"`},
		{format: "YYYY.0M.DAY", err: `unknown specifier "DAY"`},
		{format: "YYYY0M", err: `no separator between the fields of "YYYY0M"`},
		{format: "YYYY/0M", err: `unknown specifier "YYYY/0M" ('/' is neither a specifier letter nor a separator . - _)`},
		{format: "YYYY..0M", err: `two separators in a row`},
		{format: ".YYYY", err: `two separators in a row`},
		{format: "YYYY.", err: `ends with the separator "."`},
		{format: "0M.YYYY", err: `starts with 0M; the first field must be a year`},
		{format: "MICRO", err: `starts with MICRO`},
		{format: "YYYY.YY", err: `YY after YYYY; fields must go from year`},
		{format: "YYYY.0M.0W", err: `0W after 0M`},
		{format: "YYYY.0D.0M", err: `0D right after YYYY; a day of the month needs a month`},
		{format: "YYYY.0W.0D", err: `a day of the month needs a month (MM or 0M), not a week`},
		{format: "YYYY.MICRO.0M", err: `0M after MICRO`},
		{format: "YYYY.MICRO.MICRO", err: `MICRO after MICRO`},
		{format: "YYYY.0M.0D.MICRO ", err: `unknown specifier "MICRO "`},
		{format: "YYYY.0M.0DD", err: `unknown specifier "0DD"`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f, err := ParseCalverFormat(tt.format)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseCalverFormat(%q) error = %v, want it to contain %q", tt.format, err, tt.err)
				}
				if !strings.Contains(err.Error(), `"`+tt.format+`"`) {
					t.Errorf("error %q does not name the format", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCalverFormat(%q): %v", tt.format, err)
			}
			if d := cmp.Diff(tt.specs, f.Specifiers()); d != "" {
				t.Errorf("specifiers (-want +got):\n%s", d)
			}
			if f.String() != tt.format {
				t.Errorf("String() = %q, want %q", f.String(), tt.format)
			}
		})
	}
}

func TestParseCalver(t *testing.T) {
	tests := []struct {
		format, tag string
		fields      []uint64
		pre, build  string
		err         string
	}{
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09.1", fields: []uint64{2024, 1, 9, 1}},
		{format: "YYYY.0M.0D.MICRO", tag: "v2024.01.09.0", fields: []uint64{2024, 1, 9, 0}},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.12.31.10-rc.1+blue", fields: []uint64{2024, 12, 31, 10}, pre: "rc.1", build: "blue"},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09.1+green", fields: []uint64{2024, 1, 9, 1}, build: "green"},
		{format: "YYYY.MM.DD", tag: "2024.1.9", fields: []uint64{2024, 1, 9}},
		{format: "YYYY.MM.DD", tag: "2024.12.31", fields: []uint64{2024, 12, 31}},
		{format: "YY.MM", tag: "24.3", fields: []uint64{24, 3}},
		{format: "YY.MM", tag: "0.3", fields: []uint64{0, 3}},
		{format: "YY.MM", tag: "106.3", fields: []uint64{106, 3}},
		{format: "0Y.0M", tag: "06.03", fields: []uint64{6, 3}},
		{format: "0Y.0M", tag: "106.03", fields: []uint64{106, 3}},
		{format: "YYYY-0W", tag: "2024-01", fields: []uint64{2024, 1}},
		{format: "YYYY-0W", tag: "2024-00", fields: []uint64{2024, 0}},
		{format: "YYYY-0W", tag: "2024-53", fields: []uint64{2024, 53}},
		{format: "YYYY-0W", tag: "2024-53-beta", fields: []uint64{2024, 53}, pre: "beta"},
		{format: "YYYY_WW_MICRO", tag: "2024_7_3", fields: []uint64{2024, 7, 3}},
		{format: "YYYY-0M-0D", tag: "2024-01-09-rc.2+blue", fields: []uint64{2024, 1, 9}, pre: "rc.2", build: "blue"},
		{format: "YYYY-0M", tag: "2024-01-2", fields: []uint64{2024, 1}, pre: "2"}, // documented
		{format: "vYYYY.0M", tag: "2024.01", fields: []uint64{2024, 1}},
		{format: "YYYY.0M", tag: "v2024.01", fields: []uint64{2024, 1}},
		{format: "YYYY.0M.0D", tag: "2023.02.30", fields: []uint64{2023, 2, 30}}, // no calendar check

		{format: "YYYY.0M.0D.MICRO", tag: "latest", err: `calver "latest" does not match format "YYYY.0M.0D.MICRO": YYYY is not a number`},
		{format: "YYYY.0M.0D.MICRO", tag: "v1.2.3", err: `YYYY "1": want 4 digits`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09", err: `want "." before MICRO`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09.1.2", err: `unexpected ".2"`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024-01-09-1", err: `want "." before 0M`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.1.09.1", err: `0M "1": want 2 digits`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.13.09.1", err: `0M 13 is out of range 1-12`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.00.09.1", err: `0M 00 is out of range 1-12`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.32.1", err: `0D 32 is out of range 1-31`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09.01", err: `MICRO "01" has a leading zero`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09.99999999999999999999", err: `MICRO 99999999999999999999 is too large`},
		{format: "YYYY.0M.0D.MICRO", tag: "2024.01.09.1-", err: `pre-release "": empty`},
		{format: "YYYY.0M.0D.MICRO", tag: "V2024.01.09.1", err: `YYYY is not a number`},
		{format: "YYYY.MM.DD", tag: "2024.01.9", err: `MM "01" has a leading zero`},
		{format: "YYYY.MM.DD", tag: "2024.1.0", err: `DD 0 is out of range 1-31`},
		{format: "YY.MM", tag: "024.3", err: `YY "024" has a leading zero`},
		{format: "YY.MM", tag: "2024.3", err: `YY "2024": want 1 to 3 digits`},
		{format: "0Y.0M", tag: "6.03", err: `0Y "6": want 2 to 3 digits`},
		{format: "0Y.0M", tag: "006.03", err: `0Y "006" has a leading zero`},
		{format: "YYYY-0W", tag: "2024-54", err: `0W 54 is out of range 0-53`},
		{format: "YYYY-0W", tag: "2024-1", err: `0W "1": want 2 digits`},
		{format: "YYYY_WW_MICRO", tag: "2024_07_3", err: `WW "07" has a leading zero`},
		{format: "YYYY.0M", tag: "2024.0１", err: `0M "0": want 2 digits`},
		{format: "YYYY-0M", tag: "2024-01-02", err: `numeric identifier "02" has a leading zero`},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.tag, func(t *testing.T) {
			f, err := ParseCalverFormat(tt.format)
			if err != nil {
				t.Fatal(err)
			}
			v, err := f.Parse(tt.tag)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.tag, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.tag, err)
			}
			got := struct {
				Fields     []uint64
				Pre, Build string
				String     string
				Scheme     Scheme
			}{v.Fields(), v.PreRelease(), v.Build(), v.String(), v.Scheme()}
			want := got
			want.Fields, want.Pre, want.Build, want.String, want.Scheme = tt.fields, tt.pre, tt.build, tt.tag, Calver
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.tag, d)
			}
		})
	}
}

func TestCalverZeroFormat(t *testing.T) {
	var f CalverFormat
	if _, err := f.Parse("2024"); err == nil {
		t.Error("the zero CalverFormat parsed a version")
	}
}

func TestCalverOrder(t *testing.T) {
	chains := []struct {
		format string
		tags   []string
	}{
		{"YYYY.0M.0D.MICRO", []string{"2023.12.31.5", "2024.01.09.0", "2024.01.09.1", "2024.01.09.2", "2024.01.09.10", "2024.01.10.0-rc.1", "2024.01.10.0", "2024.02.01.0"}},
		{"YYYY.MM.DD", []string{"2024.1.9", "2024.1.10", "2024.2.1", "2024.10.1", "2024.12.31", "2025.1.1"}},
		{"YYYY-0W", []string{"2024-00", "2024-01", "2024-09", "2024-10", "2024-52", "2024-53", "2025-01"}},
		{"YY.MM.MICRO", []string{"9.12.0", "24.1.0", "24.1.1", "99.12.0", "100.1.0"}},
		{"YYYY.MICRO", []string{"2024.0-alpha", "2024.0-alpha.1", "2024.0-beta.2", "2024.0-beta.11", "2024.0", "2024.1"}},
	}
	for _, c := range chains {
		f, err := ParseCalverFormat(c.format)
		if err != nil {
			t.Fatal(err)
		}
		vs := make([]Version, len(c.tags))
		for i, tag := range c.tags {
			if vs[i], err = f.Parse(tag); err != nil {
				t.Fatal(err)
			}
		}
		for i := range vs {
			for j := range vs {
				if got, want := Compare(vs[i], vs[j]), cmpInt(i, j); got != want {
					t.Errorf("%s: Compare(%s, %s) = %d, want %d", c.format, vs[i], vs[j], got, want)
				}
			}
		}
	}
	f, _ := ParseCalverFormat("YYYY.0M.0D.MICRO")
	a, _ := f.Parse("v2024.01.09.1+blue")
	b, _ := f.Parse("2024.01.09.1")
	if Compare(a, b) != 0 {
		t.Errorf("Compare(%s, %s) = %d, want 0", a, b, Compare(a, b))
	}
}
