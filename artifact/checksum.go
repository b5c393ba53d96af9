package artifact

import (
	"fmt"
	"slices"
	"strings"
)

// ParseChecksums parses a checksum file and returns the SHA-256 of each file
// it lists, as lowercase hex, by file name. It reads the formats release
// tools write:
//
//	<hex>  <name>            GoReleaser checksums.txt, sha256sum (text mode)
//	<hex> *<name>            sha256sum --binary
//	<hex> <name>             single space, as some scripts write it
//	\<hex>  <escaped name>   sha256sum for a name with "\" or a newline
//	SHA256 (<name>) = <hex>  BSD / sha256sum --tag
//
// Blank lines and lines starting with "#" are skipped; a leading "./" in a
// name is dropped. Any other line, a sum that is not 64 hex digits, or a name
// listed twice with different sums is an error naming the line.
func ParseChecksums(data []byte) (map[string]string, error) {
	sums := make(map[string]string)
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, sum, err := parseChecksumLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if prev, ok := sums[name]; ok && prev != sum {
			return nil, fmt.Errorf("line %d: %q listed twice with different sums", i+1, name)
		}
		sums[name] = sum
	}
	return sums, nil
}

func parseChecksumLine(line string) (name, sum string, err error) {
	if rest, ok := strings.CutPrefix(line, "SHA256 ("); ok {
		i := strings.LastIndex(rest, ") = ")
		if i < 0 {
			return "", "", fmt.Errorf("malformed BSD checksum line %q", line)
		}
		name, sum = rest[:i], rest[i+len(") = "):]
	} else {
		escaped := false
		if strings.HasPrefix(line, `\`) {
			escaped, line = true, line[1:]
		}
		var ok bool
		sum, name, ok = strings.Cut(line, " ")
		if !ok {
			return "", "", fmt.Errorf("malformed checksum line %q: want \"<sha256>  <name>\"", line)
		}
		if strings.HasPrefix(name, " ") || strings.HasPrefix(name, "*") {
			name = name[1:]
		}
		if escaped {
			if name, err = unescapeName(name); err != nil {
				return "", "", err
			}
		}
	}
	sum = strings.ToLower(strings.TrimSpace(sum))
	if !isSHA256Hex(sum) {
		return "", "", fmt.Errorf("%q is not a SHA-256 sum (64 hex digits)", sum)
	}
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if name == "" {
		return "", "", fmt.Errorf("checksum line without a file name")
	}
	return name, sum, nil
}

// unescapeName undoes sha256sum's escaping of "\\" and "\n" in file names.
func unescapeName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("dangling escape in file name %q", s)
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("unknown escape \\%c in file name %q", s[i], s)
		}
	}
	return b.String(), nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// sidecarSuffixes name a checksum file for one artifact: <artifact>.sha256.
var sidecarSuffixes = []string{".sha256", ".sha256sum"}

// Verify checks sum, the hex SHA-256 of the downloaded artifact called
// artifactName, against every checksum file of the release. checksumFiles
// maps a checksum file's name to its content: list files (checksums.txt,
// SHA256SUMS, any name) in a format ParseChecksums reads, and sidecar files
// named <artifact>.sha256 (or .sha256sum) holding either the bare hex sum of
// <artifact> or the list format.
//
// Every file that lists artifactName must agree with sum: a disagreement is
// an ErrMismatch naming both sums and the file. A checksum file that cannot
// be parsed is an error too (a garbled file must not silently disable the
// check). When no file lists artifactName, Verify returns ErrNoChecksum if
// required, else nil.
func Verify(sum, artifactName string, checksumFiles map[string][]byte, required bool) error {
	sum = strings.ToLower(strings.TrimSpace(sum))
	if !isSHA256Hex(sum) {
		return fmt.Errorf("verify %q: %q is not a SHA-256 sum", artifactName, sum)
	}
	files := make([]string, 0, len(checksumFiles))
	for f := range checksumFiles {
		files = append(files, f)
	}
	slices.Sort(files)
	found := false
	for _, file := range files {
		want, ok, err := lookupChecksum(file, checksumFiles[file], artifactName)
		if err != nil {
			return fmt.Errorf("verify %q: checksum file %q: %w", artifactName, file, err)
		}
		if !ok {
			continue
		}
		found = true
		if want != sum {
			return fmt.Errorf("verify %q: downloaded SHA-256 is %s but %q lists %s: %w",
				artifactName, sum, file, want, ErrMismatch)
		}
	}
	if !found && required && len(files) == 0 {
		return fmt.Errorf("verify %q: the release has no checksum file: %w", artifactName, ErrNoChecksum)
	}
	if !found && required {
		return fmt.Errorf("verify %q: none of the checksum files %q lists it: %w", artifactName, files, ErrNoChecksum)
	}
	return nil
}

// lookupChecksum returns the sum file lists for name, if it lists one.
func lookupChecksum(file string, data []byte, name string) (sum string, ok bool, err error) {
	for _, suffix := range sidecarSuffixes {
		subject, isSidecar := strings.CutSuffix(file, suffix)
		if !isSidecar {
			continue
		}
		if fields := strings.Fields(string(data)); len(fields) == 1 {
			bare := strings.ToLower(fields[0])
			if !isSHA256Hex(bare) {
				return "", false, fmt.Errorf("%q is not a SHA-256 sum (64 hex digits)", fields[0])
			}
			return bare, subject == name, nil
		}
		break // a sidecar in the list format: parsed below
	}
	sums, err := ParseChecksums(data)
	if err != nil {
		return "", false, err
	}
	sum, ok = sums[name]
	return sum, ok, nil
}
