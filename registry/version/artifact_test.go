package version

import (
	"strings"
	"testing"
)

func TestPickArtifact(t *testing.T) {
	goreleaser := []string{
		"api_1.2.3_checksums.txt",
		"api_1.2.3_darwin_amd64.tar.gz",
		"api_1.2.3_darwin_arm64.tar.gz",
		"api_1.2.3_linux_386.tar.gz",
		"api_1.2.3_linux_amd64.tar.gz",
		"api_1.2.3_linux_amd64.tar.gz.sbom.json",
		"api_1.2.3_linux_arm64.tar.gz",
		"api_1.2.3_linux_arm.tar.gz",
		"api_1.2.3_windows_amd64.zip",
	}
	rust := []string{
		"tool-x86_64-unknown-linux-gnu.tar.gz",
		"tool-x86_64-unknown-linux-gnu.tar.gz.sha256",
		"tool-aarch64-unknown-linux-gnu.tar.gz",
		"tool-aarch64-apple-darwin.tar.gz",
		"tool-x86_64-apple-darwin.tar.gz",
		"tool-x86_64-pc-windows-msvc.zip",
		"tool-i686-pc-windows-msvc.zip",
		"SHA256SUMS",
		"SHA256SUMS.asc",
	}
	tests := []struct {
		name         string
		names        []string
		explicit     string
		goos, goarch string
		want         string
		err          string
	}{
		{name: "goreleaser linux/amd64", names: goreleaser, goos: "linux", goarch: "amd64", want: "api_1.2.3_linux_amd64.tar.gz"},
		{name: "arm is not arm64", names: goreleaser, goos: "linux", goarch: "arm", want: "api_1.2.3_linux_arm.tar.gz"},
		{name: "arm64 is not arm", names: goreleaser, goos: "linux", goarch: "arm64", want: "api_1.2.3_linux_arm64.tar.gz"},
		{name: "386", names: goreleaser, goos: "linux", goarch: "386", want: "api_1.2.3_linux_386.tar.gz"},
		{name: "darwin", names: goreleaser, goos: "darwin", goarch: "arm64", want: "api_1.2.3_darwin_arm64.tar.gz"},
		{name: "windows", names: goreleaser, goos: "windows", goarch: "amd64", want: "api_1.2.3_windows_amd64.zip"},
		{name: "x86_64 is amd64", names: rust, goos: "linux", goarch: "amd64", want: "tool-x86_64-unknown-linux-gnu.tar.gz"},
		{name: "aarch64 is arm64", names: rust, goos: "linux", goarch: "arm64", want: "tool-aarch64-unknown-linux-gnu.tar.gz"},
		{name: "apple is darwin", names: rust, goos: "darwin", goarch: "arm64", want: "tool-aarch64-apple-darwin.tar.gz"},
		{name: "x86_64 apple", names: rust, goos: "darwin", goarch: "amd64", want: "tool-x86_64-apple-darwin.tar.gz"},
		{
			name: "x86 of 386 never takes x86_64", names: rust, goos: "linux", goarch: "386",
			err: `no artifact for linux/386: looked for OS linux and architecture 386|i386|i686|x86`,
		},
		{name: "x86 is 386", names: []string{"app-linux-x86.zip", "app-linux-x86_64.zip", "app-linux-x86-64.zip"}, goos: "linux", goarch: "386", want: "app-linux-x86.zip"},
		{name: "x86-64 is amd64", names: []string{"app-linux-x86.zip", "app-linux-x86-64.zip"}, goos: "linux", goarch: "amd64", want: "app-linux-x86-64.zip"},
		{name: "i386", names: []string{"app.linux.i386", "app.linux.amd64"}, goos: "linux", goarch: "386", want: "app.linux.i386"},
		{name: "x64", names: []string{"app-win-x86.exe", "app-windows-x64.exe"}, goos: "windows", goarch: "amd64", want: "app-windows-x64.exe"},
		{name: "macos", names: []string{"app-macos-arm64.zip", "app-linux-arm64.zip"}, goos: "darwin", goarch: "arm64", want: "app-macos-arm64.zip"},
		{name: "case-insensitive", names: []string{"App-Linux-X86_64.TAR.GZ", "App-Darwin-X86_64.TAR.GZ"}, goos: "linux", goarch: "amd64", want: "App-Linux-X86_64.TAR.GZ"},
		{name: "GOOS and GOARCH case", names: []string{"app_linux_amd64"}, goos: "Linux", goarch: "AMD64", want: "app_linux_amd64"},
		{name: "bare binary", names: []string{"api-linux-amd64", "api-linux-amd64.sig", "api-linux-amd64.pem"}, goos: "linux", goarch: "amd64", want: "api-linux-amd64"},
		{name: "other GOOS by its name", names: []string{"app_freebsd_amd64.tgz", "app_linux_amd64.tgz"}, goos: "freebsd", goarch: "amd64", want: "app_freebsd_amd64.tgz"},
		{name: "other GOARCH by its name", names: []string{"app_linux_riscv64.tgz", "app_linux_amd64.tgz"}, goos: "linux", goarch: "riscv64", want: "app_linux_riscv64.tgz"},
		{name: "duplicate names are one", names: []string{"app_linux_amd64.tgz", "app_linux_amd64.tgz"}, goos: "linux", goarch: "amd64", want: "app_linux_amd64.tgz"},
		{
			name: "words, not substrings", names: []string{"linuxtools_amd64.tgz", "app_linux_amd64x.tgz", "app_linux_armx.tgz"}, goos: "linux", goarch: "arm",
			err: "no artifact for linux/arm",
		},
		{name: "the one file for every platform", names: []string{"site.tar.gz", "checksums.txt"}, goos: "linux", goarch: "amd64", want: "site.tar.gz"},
		{name: "a platform file wins over a neutral one", names: []string{"app.jar", "app_linux_amd64.tgz"}, goos: "linux", goarch: "amd64", want: "app_linux_amd64.tgz"},
		{name: "another platform's file is not neutral", names: []string{"app_linux_arm64.tgz"}, goos: "linux", goarch: "amd64", err: "no artifact for linux/amd64"},
		{name: "two neutral files", names: []string{"site.tar.gz", "docs.tar.gz"}, goos: "linux", goarch: "amd64", err: "no artifact for linux/amd64"},
		{name: "armv7 is arm", names: []string{"app_linux_armv7.tgz", "app_linux_arm64.tgz"}, goos: "linux", goarch: "arm", want: "app_linux_armv7.tgz"},
		{
			name: "words, not substrings (amd64)", names: []string{"linuxtools_amd64.tgz", "app_linux_amd64x.tgz"}, goos: "linux", goarch: "amd64",
			err: `no artifact for linux/amd64: looked for OS linux and architecture amd64|x64 as words separated by _ - . in ["app_linux_amd64x.tgz" "linuxtools_amd64.tgz"]`,
		},
		{
			name: "two matches", names: []string{"api_linux_amd64.tar.gz", "api_linux_amd64.deb", "api_darwin_amd64.tar.gz"}, goos: "linux", goarch: "amd64",
			err: `2 artifacts fit linux/amd64: ["api_linux_amd64.deb" "api_linux_amd64.tar.gz"]; set the artifact to choose one`,
		},
		{
			name: "two matches through aliases", names: []string{"a-linux-x86_64.zip", "a_linux_amd64.zip"}, goos: "linux", goarch: "amd64",
			err: "2 artifacts fit linux/amd64",
		},
		{
			name: "only sidecars fit", names: []string{"api_linux_amd64.tar.gz.sha256", "api_linux_amd64.tar.gz.asc"}, goos: "linux", goarch: "amd64",
			err: "no artifact for linux/amd64",
		},
		{name: "no assets", goos: "linux", goarch: "amd64", err: "in no assets"},
		{name: "missing GOARCH", names: goreleaser, goos: "linux", err: `artifact for "linux"/"": need both`},

		{name: "explicit", names: goreleaser, explicit: "api_1.2.3_darwin_amd64.tar.gz", goos: "linux", goarch: "amd64", want: "api_1.2.3_darwin_amd64.tar.gz"},
		{name: "explicit sidecar is allowed", names: rust, explicit: "SHA256SUMS", want: "SHA256SUMS"},
		{
			name: "explicit missing", names: []string{"b.zip", "a.zip"}, explicit: "A.zip", goos: "linux", goarch: "amd64",
			err: `artifact "A.zip" is not in the release; it has ["a.zip" "b.zip"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PickArtifact(tt.names, tt.explicit, tt.goos, tt.goarch)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("PickArtifact = %q, %v; want an error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("PickArtifact: %v", err)
			}
			if got != tt.want {
				t.Errorf("PickArtifact = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestIsSidecar(t *testing.T) {
	for name, want := range map[string]bool{
		"checksums.txt":                     true,
		"api_1.2.3_checksums.txt":           true,
		"CHECKSUMS":                         true,
		"SHA256SUMS":                        true,
		"sha256sums.txt":                    true,
		"SHA512SUMS.sig":                    true,
		"api_linux_amd64.tar.gz.sha256":     true,
		"api_linux_amd64.tar.gz.SHA512":     true,
		"api_linux_amd64.tar.gz.sig":        true,
		"api_linux_amd64.tar.gz.asc":        true,
		"api_linux_amd64.tar.gz.pem":        true,
		"api_linux_amd64.tar.gz.sbom":       true,
		"api_linux_amd64.tar.gz.sbom.json":  true,
		"api_linux_amd64.sbom.spdx.json":    true,
		"api_linux_amd64.tar.gz":            false,
		"api_linux_amd64":                   false,
		"signature-tool_linux_amd64.tar.gz": false,
		"sigstore_linux_amd64.zip":          false,
	} {
		if got := IsSidecar(name); got != want {
			t.Errorf("IsSidecar(%q) = %v, want %v", name, got, want)
		}
	}
}
