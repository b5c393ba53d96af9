package version

import (
	"errors"
	"strings"
	"testing"
)

func TestCompareFollowsSemVer(t *testing.T) {
	// Each is older than the next (SemVer 2.0.0, section 11).
	order := []string{
		"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.0.1", "1.9.0", "v1.10.0", "2.0.0",
	}
	for i := 0; i+1 < len(order); i++ {
		a, err := Parse(order[i], Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(order[i+1], Options{})
		if err != nil {
			t.Fatal(err)
		}
		if Compare(a, b) != -1 || Compare(b, a) != 1 {
			t.Errorf("%s < %s does not hold", a, b)
		}
	}
	a, _ := Parse("v1.2.3+blue", Options{})
	b, _ := Parse("1.2.3+green", Options{})
	if Compare(a, b) != 0 {
		t.Error("build metadata changed the order")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tag := range []string{"", "v", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.3-a..b", "latest", "v1.2.x", "1.2.3-ä"} {
		if _, err := Parse(tag, Options{}); err == nil {
			t.Errorf("Parse(%q) accepted", tag)
		} else if !strings.Contains(err.Error(), tag) {
			t.Errorf("Parse(%q): %v does not name the tag", tag, err)
		}
	}
}

func TestNewest(t *testing.T) {
	tags := []string{"v1.0.0", "v1.10.0", "v1.9.0", "v2.0.0-rc.1", "latest", "v1.11.0+blue", "v1.10.1+green"}
	cases := []struct {
		opts Options
		want string
	}{
		{Options{}, "v1.11.0+blue"},
		{Options{PreRelease: true}, "v2.0.0-rc.1"},
		{Options{Slot: "green"}, "v1.10.1+green"},
		{Options{Slot: "blue", PreRelease: true}, "v1.11.0+blue"},
	}
	for _, c := range cases {
		v, skipped, err := Newest(tags, c.opts)
		if err != nil || v.String() != c.want {
			t.Errorf("Newest(%+v) = %v %v, want %s", c.opts, v, err, c.want)
		}
		if len(skipped) == 0 || skipped[0].Tag != "latest" && !containsTag(skipped, "latest") {
			t.Errorf("Newest(%+v) did not report skipping \"latest\": %v", c.opts, skipped)
		}
	}
	_, _, err := Newest([]string{"nightly", "v1.0.0-rc.1"}, Options{})
	if !errors.Is(err, ErrNoCandidate) || !strings.Contains(err.Error(), "2 release(s) seen") {
		t.Errorf("no candidate: %v", err)
	}
	if _, _, err := Newest(nil, Options{}); !errors.Is(err, ErrNoCandidate) {
		t.Errorf("empty registry: %v", err)
	}
}

func containsTag(sk []Skip, tag string) bool {
	for _, s := range sk {
		if s.Tag == tag {
			return true
		}
	}
	return false
}

func TestPickArtifact(t *testing.T) {
	rel := []string{
		"app_Linux_x86_64.tar.gz", "app_linux_arm64.tar.gz", "app_linux_armv7.tar.gz", "app_darwin_arm64.zip",
		"app_windows_amd64.zip", "checksums.txt", "app_linux_amd64.tar.gz.sha256", "app_linux_386.tar.gz",
	}
	cases := []struct {
		names          []string
		explicit       string
		goos, goarch   string
		want, errMatch string
	}{
		{rel, "", "linux", "amd64", "app_Linux_x86_64.tar.gz", ""},
		{rel, "", "linux", "arm64", "app_linux_arm64.tar.gz", ""},
		{rel, "", "linux", "arm", "app_linux_armv7.tar.gz", ""}, // arm never matches arm64
		{rel, "", "darwin", "arm64", "app_darwin_arm64.zip", ""},
		{rel, "", "linux", "386", "app_linux_386.tar.gz", ""}, // x86 is not x86_64
		{rel, "app_windows_amd64.zip", "linux", "amd64", "app_windows_amd64.zip", ""},
		{rel, "missing.tgz", "linux", "amd64", "", `"missing.tgz" is not in the release`},
		{rel, "", "freebsd", "amd64", "", "no artifact for freebsd/amd64"},
		{[]string{"a_linux_amd64.tar.gz", "a-linux-x86_64.zip"}, "", "linux", "amd64", "", "2 artifacts match"},
		{[]string{"httpserver"}, "", "linux", "amd64", "", "no artifact"},
		{[]string{"httpserver"}, "httpserver", "linux", "amd64", "httpserver", ""},
	}
	for _, c := range cases {
		got, err := PickArtifact(c.names, c.explicit, c.goos, c.goarch)
		if c.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), c.errMatch) {
				t.Errorf("PickArtifact(%s/%s, %q) = %q, %v; want an error with %q", c.goos, c.goarch, c.explicit, got, err, c.errMatch)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("PickArtifact(%s/%s, %q) = %q, %v; want %q", c.goos, c.goarch, c.explicit, got, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"v1.2.3", "1.0.0-alpha.1+build.5", "1.0.0-0.3.7", "v0.0.0-x-y-z.--", "01.1.1"} {
		f.Add(s, "1.0.0-rc.1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := Parse(a, Options{})
		vb, errB := Parse(b, Options{})
		if errA != nil || errB != nil {
			return
		}
		if va.String() != a {
			t.Fatalf("String() = %q, want the tag %q", va.String(), a)
		}
		if Compare(va, vb) != -Compare(vb, va) {
			t.Fatalf("Compare(%q, %q) is not antisymmetric", a, b)
		}
		if Compare(va, va) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", a)
		}
	})
}
