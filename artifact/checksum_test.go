package artifact

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	sumA = "a3f5c1a4d2b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
	sumB = "0000000000000000000000000000000000000000000000000000000000000001"
)

func TestParseChecksums(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"goreleaser", sumA + "  app_1.0_linux_amd64.tar.gz\n" + sumB + "  app_1.0_darwin_arm64.zip\n",
			map[string]string{"app_1.0_linux_amd64.tar.gz": sumA, "app_1.0_darwin_arm64.zip": sumB}, ""},
		{"coreutils binary mode, CRLF, ./, comments", "# sums\r\n" + strings.ToUpper(sumA) + " *./app.tar.gz\r\n\r\n",
			map[string]string{"app.tar.gz": sumA}, ""},
		{"single space", sumA + " app", map[string]string{"app": sumA}, ""},
		{"name with spaces", sumA + "  my app.zip", map[string]string{"my app.zip": sumA}, ""},
		{"escaped name", `\` + sumA + `  a\\b\nc`, map[string]string{"a\\b\nc": sumA}, ""},
		{"bsd tag", "SHA256 (app.tar.gz) = " + sumA, map[string]string{"app.tar.gz": sumA}, ""},
		{"sha512 is refused", strings.Repeat("ab", 64) + "  app", nil, "line 1: "},
		{"no name", sumA, nil, "line 1: malformed"},
		{"garbage", "hello world", nil, "not a SHA-256"},
		{"conflict", sumA + "  app\n" + sumB + "  app\n", nil, "line 2: \"app\" listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChecksums([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	list := []byte(sumA + "  app.tar.gz\n" + sumB + "  other.zip\n")
	tests := []struct {
		name     string
		sum      string
		files    map[string][]byte
		required bool
		wantErr  error
		wantText []string
	}{
		{"checksums.txt match", sumA, map[string][]byte{"checksums.txt": list}, true, nil, nil},
		{"uppercase sum", strings.ToUpper(sumA), map[string][]byte{"SHA256SUMS": list}, true, nil, nil},
		{"checksums.txt mismatch", sumB, map[string][]byte{"checksums.txt": list}, false, ErrMismatch,
			[]string{sumA, sumB, "checksums.txt", "app.tar.gz"}},
		{"sidecar bare hex", sumA, map[string][]byte{"app.tar.gz.sha256": []byte(sumA + "\n")}, true, nil, nil},
		{"sidecar bare hex mismatch", sumB, map[string][]byte{"app.tar.gz.sha256": []byte(sumA)}, true, ErrMismatch,
			[]string{sumA, sumB, "app.tar.gz.sha256"}},
		{"sidecar line format", sumA, map[string][]byte{"app.tar.gz.sha256": []byte(sumA + "  app.tar.gz\n")}, true, nil, nil},
		{"sidecar of another artifact is ignored", sumA, map[string][]byte{"other.zip.sha256": []byte(sumB)}, false, nil, nil},
		{"missing, required", sumA, map[string][]byte{"checksums.txt": []byte(sumB + "  other.zip\n")}, true, ErrNoChecksum,
			[]string{"app.tar.gz", "checksums.txt"}},
		{"missing, not required", sumA, map[string][]byte{"checksums.txt": []byte(sumB + "  other.zip\n")}, false, nil, nil},
		{"no files, required", sumA, nil, true, ErrNoChecksum, nil},
		{"no files, not required", sumA, nil, false, nil, nil},
		{"two files, one disagrees", sumA, map[string][]byte{"checksums.txt": list, "app.tar.gz.sha256": []byte(sumB)}, false, ErrMismatch, nil},
		{"garbled file is an error", sumA, map[string][]byte{"checksums.txt": []byte("<html>404</html>")}, false, errAny,
			[]string{"checksums.txt", "line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.sum, "app.tar.gz", tt.files, tt.required)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Verify succeeded")
			}
			t.Logf("error: %v", err)
			if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(s)) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}
