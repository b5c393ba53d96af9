package artifact

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrChecksum is returned (wrapped) by Verify for a mismatch or a missing
// required checksum.
var ErrChecksum = errors.New("checksum")

// Verify checks sum (hex SHA-256) against the checksum files of the
// release: checksums.txt or SHA256SUMS ("<hex>  <name>", "<hex> *<name>",
// as GoReleaser and sha256sum write them) and <artifact>.sha256 (the same
// line, or the hex alone). A file that lists the artifact with another sum
// is an error naming both; no file listing it is an error only when
// required.
func Verify(sum, artifact string, files map[string][]byte, required bool) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	checked := false
	for _, n := range names {
		want, ok := findSum(files[n], artifact, n == artifact+".sha256")
		if !ok {
			continue
		}
		if !strings.EqualFold(want, sum) {
			return fmt.Errorf("%w mismatch: %s lists %s for %s, the download is %s", ErrChecksum, n, want, artifact, sum)
		}
		checked = true
	}
	if !checked && required {
		return fmt.Errorf("%w required, but no checksum file of the release lists %s (files: %s)", ErrChecksum, artifact, strings.Join(names, ", "))
	}
	return nil
}

// findSum finds the artifact's sum in one checksum file. alone accepts a
// file holding just the hex.
func findSum(b []byte, artifact string, alone bool) (string, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && alone && isHex64(f[0]):
			return strings.ToLower(f[0]), true
		case len(f) == 2 && isHex64(f[0]) && strings.TrimPrefix(f[1], "*") == artifact:
			return strings.ToLower(f[0]), true
		}
	}
	return "", false
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
