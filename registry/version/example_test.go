package version_test

import (
	"errors"
	"fmt"

	"github.com/dewyhq/dewy/registry/version"
)

func ExampleNewest() {
	tags := []string{"v1.9.0", "v1.10.0+blue", "v1.11.0-rc.1+blue", "v1.10.1+green", "latest"}
	v, skipped, err := version.Newest(tags, version.Options{Slot: "blue"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("deploy", v)
	for _, s := range skipped {
		fmt.Println("skipped", s)
	}
	// Output:
	// deploy v1.10.0+blue
	// skipped "v1.9.0": other slot
	// skipped "v1.11.0-rc.1+blue": pre-release not allowed
	// skipped "v1.10.1+green": other slot
	// skipped semver "latest": want MAJOR.MINOR.PATCH, major is not a number
}

func ExampleNewest_calver() {
	tags := []string{"2024.01.09.1", "2024.01.10.0", "2024.01.09.12"}
	v, _, err := version.Newest(tags, version.Options{Scheme: version.Calver, CalverFormat: "YYYY.0M.0D.MICRO"})
	fmt.Println(v, err)
	// Output: 2024.01.10.0 <nil>
}

func ExampleNewest_noCandidate() {
	_, _, err := version.Newest([]string{"v2.0.0-rc.1", "nightly"}, version.Options{})
	fmt.Println(errors.Is(err, version.ErrNoCandidate))
	fmt.Println(err)
	// Output:
	// true
	// no candidate version among 2 tags: 1 not semver (first: semver "nightly": want MAJOR.MINOR.PATCH, major is not a number); 1 pre-release not allowed (first: "v2.0.0-rc.1")
}

func ExamplePickArtifact() {
	assets := []string{
		"api_checksums.txt",
		"api_linux_x86_64.tar.gz",
		"api_linux_x86_64.tar.gz.sig",
		"api_linux_arm64.tar.gz",
		"api_darwin_arm64.tar.gz",
	}
	name, err := version.PickArtifact(assets, "", "linux", "amd64")
	fmt.Println(name, err)
	// Output: api_linux_x86_64.tar.gz <nil>
}

func ExampleParseCalverFormat() {
	_, err := version.ParseCalverFormat("YYYY.0W.0D")
	fmt.Println(err)
	// Output: calver format "YYYY.0W.0D": 0D after 0W; a day of the month needs a month (MM or 0M), not a week
}
