package version

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewest(t *testing.T) {
	type skip struct {
		Tag    string
		Reason Reason
	}
	tests := []struct {
		name    string
		tags    []string
		opts    Options
		want    string
		skipped []skip
		err     string
	}{
		{
			name: "semver numeric not ASCII",
			tags: []string{"v1.9.0", "v1.10.0", "v1.2.0"},
			want: "v1.10.0",
		},
		{
			name: "v prefix optional, order independent",
			tags: []string{"1.3.0", "v1.2.9"},
			want: "1.3.0",
		},
		{
			name:    "pre-release skipped by default",
			tags:    []string{"v1.2.3", "v1.3.0-rc.1", "latest"},
			want:    "v1.2.3",
			skipped: []skip{{"v1.3.0-rc.1", PreReleaseNotAllowed}, {"latest", NotAVersion}},
		},
		{
			name: "pre-release allowed",
			tags: []string{"v1.2.3", "v1.3.0-rc.1", "v1.3.0-rc.2", "v1.3.0-beta.11"},
			opts: Options{PreRelease: true},
			want: "v1.3.0-rc.2",
		},
		{
			name: "pre-release allowed but a release is higher",
			tags: []string{"v1.3.0-rc.1", "v1.3.0"},
			opts: Options{PreRelease: true},
			want: "v1.3.0",
		},
		{
			name:    "slot takes only its build metadata",
			tags:    []string{"v1.4.0", "v1.3.0+blue", "v1.5.0+green", "v1.2.0+blue", "v1.6.0+blue.1"},
			opts:    Options{Slot: "blue"},
			want:    "v1.3.0+blue",
			skipped: []skip{{"v1.4.0", OtherSlot}, {"v1.5.0+green", OtherSlot}, {"v1.6.0+blue.1", OtherSlot}},
		},
		{
			name: "no slot: build metadata counts",
			tags: []string{"v1.4.0", "v1.5.0+green"},
			want: "v1.5.0+green",
		},
		{
			name:    "slot and pre-release",
			tags:    []string{"v2.0.0-rc.1+blue", "v1.9.0+blue"},
			opts:    Options{Slot: "blue"},
			want:    "v1.9.0+blue",
			skipped: []skip{{"v2.0.0-rc.1+blue", PreReleaseNotAllowed}},
		},
		{
			name:    "slot and pre-release allowed",
			tags:    []string{"v2.0.0-rc.1+blue", "v1.9.0+blue", "v2.0.0-rc.2+green"},
			opts:    Options{Slot: "blue", PreRelease: true},
			want:    "v2.0.0-rc.1+blue",
			skipped: []skip{{"v2.0.0-rc.2+green", OtherSlot}},
		},
		{
			name: "tie: the tag without build metadata wins",
			tags: []string{"v1.2.3+green", "v1.2.3", "v1.2.3+blue"},
			want: "v1.2.3",
		},
		{
			name: "tie: the bytewise smallest wins, whatever the order (1)",
			tags: []string{"v1.2.3+green", "v1.2.3+blue"},
			want: "v1.2.3+blue",
		},
		{
			name: "tie: the bytewise smallest wins, whatever the order (2)",
			tags: []string{"v1.2.3+blue", "v1.2.3+green"},
			want: "v1.2.3+blue",
		},
		{
			name: "tie: v prefix",
			tags: []string{"v1.2.3", "1.2.3"},
			want: "1.2.3",
		},
		{
			name:    "calver",
			tags:    []string{"2024.01.09.1", "2024.01.10.0", "2024.01.09.12", "v1.2.3", "2024.1.11.0"},
			opts:    Options{Scheme: Calver, CalverFormat: "YYYY.0M.0D.MICRO"},
			want:    "2024.01.10.0",
			skipped: []skip{{"v1.2.3", NotAVersion}, {"2024.1.11.0", NotAVersion}},
		},
		{
			name:    "calver week, slot and pre-release",
			tags:    []string{"2024-52+blue", "2025-01-rc.1+blue", "2025-01+green"},
			opts:    Options{Scheme: Calver, CalverFormat: "YYYY-0W", Slot: "blue"},
			want:    "2024-52+blue",
			skipped: []skip{{"2025-01-rc.1+blue", PreReleaseNotAllowed}, {"2025-01+green", OtherSlot}},
		},
		{
			name: "no tags",
			err:  "no candidate version: no tags seen",
		},
		{
			name: "nothing fits, every reason counted",
			tags: []string{"latest", "v1.0.0-rc.1", "v0.9.0+green", "main", "v1.1.0-rc.1+blue"},
			opts: Options{Slot: "blue"},
			skipped: []skip{
				{"latest", NotAVersion}, {"v1.0.0-rc.1", PreReleaseNotAllowed}, {"v0.9.0+green", OtherSlot},
				{"main", NotAVersion}, {"v1.1.0-rc.1+blue", PreReleaseNotAllowed},
			},
			err: `no candidate version among 5 tags: 2 not semver (first: semver "latest": want MAJOR.MINOR.PATCH, major is not a number); ` +
				`2 pre-releases not allowed (first: "v1.0.0-rc.1"); 1 not in slot "blue" (first: "v0.9.0+green")`,
		},
		{
			name:    "calver: nothing matches the format",
			tags:    []string{"v1.2.3"},
			opts:    Options{Scheme: Calver, CalverFormat: "YYYY.0M"},
			skipped: []skip{{"v1.2.3", NotAVersion}},
			err:     `no candidate version among 1 tag: 1 not calver "YYYY.0M" (first: calver "v1.2.3" does not match format "YYYY.0M": YYYY "1": want 4 digits)`,
		},
		{
			name: "calver without a format",
			opts: Options{Scheme: Calver},
			err:  "the calver scheme needs a format",
		},
		{
			name: "bad calver format",
			opts: Options{Scheme: Calver, CalverFormat: "YYYY.0M.0W"},
			err:  `calver format "YYYY.0M.0W": 0W after 0M`,
		},
		{
			name: "calver format with semver",
			opts: Options{CalverFormat: "YYYY"},
			err:  `calver format "YYYY" given with the semver scheme`,
		},
		{
			name: "unknown scheme",
			opts: Options{Scheme: Scheme(9)},
			err:  "version scheme Scheme(9)",
		},
		{
			name: "slot that no version can carry",
			tags: []string{"v1.2.3+blue green"},
			opts: Options{Slot: "blue green"},
			err:  `slot "blue green": not valid as build metadata`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, skipped, err := Newest(tt.tags, tt.opts)
			var gotSkips []skip
			for _, s := range skipped {
				gotSkips = append(gotSkips, skip{s.Tag, s.Reason})
				if (s.Reason == NotAVersion) != (s.Err != nil) {
					t.Errorf("skip %v: Err %v with reason %v", s.Tag, s.Err, s.Reason)
				}
			}
			if d := cmp.Diff(tt.skipped, gotSkips); d != "" {
				t.Errorf("skipped (-want +got):\n%s", d)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Newest error = %v, want it to contain %q", err, tt.err)
				}
				noCand := strings.HasPrefix(tt.err, "no candidate")
				if errors.Is(err, ErrNoCandidate) != noCand {
					t.Errorf("errors.Is(%v, ErrNoCandidate) = %v, want %v", err, !noCand, noCand)
				}
				if !v.IsZero() {
					t.Errorf("Newest = %v with an error", v)
				}
				return
			}
			if err != nil {
				t.Fatalf("Newest: %v", err)
			}
			if v.String() != tt.want {
				t.Errorf("Newest = %q, want %q", v, tt.want)
			}
		})
	}
}

// TestNewestOrderIndependent checks that every rotation of the input
// gives the same answer.
func TestNewestOrderIndependent(t *testing.T) {
	tags := []string{"v1.2.3+green", "1.2.3", "v1.2.3", "v1.2.3+blue", "v1.2.2", "v1.2.3-rc.1"}
	var first string
	for i := range tags {
		rot := append(append([]string(nil), tags[i:]...), tags[:i]...)
		v, _, err := Newest(rot, Options{PreRelease: true})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = v.String()
		} else if v.String() != first {
			t.Errorf("rotation %d: Newest = %q, rotation 0 gave %q", i, v, first)
		}
	}
	if first != "1.2.3" {
		t.Errorf("Newest = %q, want 1.2.3", first)
	}
}

func TestSkipString(t *testing.T) {
	_, skipped, _ := Newest([]string{"latest", "v1.0.0-rc.1", "v1.0.0"}, Options{Slot: "blue"})
	var got []string
	for _, s := range skipped {
		got = append(got, s.String())
	}
	want := []string{
		`semver "latest": want MAJOR.MINOR.PATCH, major is not a number`,
		`"v1.0.0-rc.1": pre-release not allowed`,
		`"v1.0.0": other slot`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Skip.String (-want +got):\n%s", d)
	}
	if got := Reason(0).String(); got != "Reason(0)" {
		t.Errorf("Reason(0).String() = %q", got)
	}
}
