package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Defaults for Limits fields left at zero.
const (
	DefaultMaxUnpackedSize int64 = 4 << 30 // 4 GiB
	DefaultMaxFiles              = 100_000
)

// maxNameLen bounds an entry name or symlink target (PATH_MAX): it keeps a
// hostile name from creating thousands of nested folders.
const maxNameLen = 4096

// Limits bound what Unpack may create. The zero value means the defaults.
type Limits struct {
	// MaxUnpackedSize is the most bytes Unpack writes, counted as they are
	// written (never trusted from headers); 0 means DefaultMaxUnpackedSize.
	MaxUnpackedSize int64
	// MaxFiles is the most files, folders and links Unpack creates, folders
	// created implicitly for a nested entry included; 0 means
	// DefaultMaxFiles.
	MaxFiles int
}

func (l Limits) withDefaults() Limits {
	if l.MaxUnpackedSize <= 0 {
		l.MaxUnpackedSize = DefaultMaxUnpackedSize
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	return l
}

// Format is how Unpack reads an artifact.
type Format int

const (
	// Binary is a bare executable, copied as is.
	Binary Format = iota
	Tar
	TarGz
	TarXz
	TarBz2
	Zip
)

var formatNames = [...]string{Binary: "binary", Tar: "tar", TarGz: "tar.gz", TarXz: "tar.xz", TarBz2: "tar.bz2", Zip: "zip"}

func (f Format) String() string {
	if f >= 0 && int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// DetectFormat returns the format for an artifact's name, by its
// case-insensitive extension: .tar, .tar.gz or .tgz, .tar.xz or .txz,
// .tar.bz2, .tbz2 or .tbz, .zip; anything else is a bare Binary.
func DetectFormat(artifactName string) Format {
	n := strings.ToLower(artifactName)
	for _, s := range []struct {
		suffix string
		f      Format
	}{
		{".tar", Tar},
		{".tar.gz", TarGz}, {".tgz", TarGz},
		{".tar.xz", TarXz}, {".txz", TarXz},
		{".tar.bz2", TarBz2}, {".tbz2", TarBz2}, {".tbz", TarBz2},
		{".zip", Zip},
	} {
		if strings.HasSuffix(n, s.suffix) {
			return s.f
		}
	}
	return Binary
}

// Unpack extracts the artifact at archivePath, whose registry name is
// artifactName (it decides the format, see DetectFormat), into destDir,
// which must not exist yet; its parent must.
//
// Everything is written into a fresh sibling folder destDir+".tmp-<random>",
// opened as an os.Root, which is renamed to destDir only once the whole
// archive is extracted; on any error the temporary folder is removed and
// destDir is not created. A bare binary becomes destDir/artifactName with
// mode 0755.
//
// Refused, with an *EntryError wrapping ErrUnsafe that names the entry:
// absolute names, ".." components, backslashes, symbolic links with an
// absolute target or one that climbs out of the folder (or has ".." after
// a name), hard links to anything but a regular file already extracted,
// entries written through a symbolic link, duplicate entries, and device,
// fifo or socket entries. Past limits.MaxUnpackedSize bytes written or
// limits.MaxFiles entries it fails with ErrLimit; an unreadable archive
// fails with ErrCorrupt. File modes keep their permission bits within 0755
// (owner read/write added; never setuid, setgid or sticky); folders are
// 0755. ctx is checked between entries and between buffer-sized writes.
func Unpack(ctx context.Context, archivePath, artifactName, destDir string, limits Limits) (err error) {
	format := DetectFormat(artifactName)
	defer func() {
		if err != nil {
			err = fmt.Errorf("unpack %q (%s) into %s: %w", artifactName, format, destDir, err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	limits = limits.withDefaults()
	destDir = filepath.Clean(destDir)
	if _, err := os.Lstat(destDir); err == nil {
		return ErrExists
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	src, err := os.Open(archivePath)
	if err != nil {
		return err
	}
	defer src.Close()

	tmp, err := os.MkdirTemp(filepath.Dir(destDir), filepath.Base(destDir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("temporary folder: %w", err)
	}
	defer func() {
		if err != nil {
			if rerr := os.RemoveAll(tmp); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove temporary folder: %w", rerr))
			}
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	x := &extractor{
		ctx:    ctx,
		root:   root,
		limits: limits,
		dirs:   map[string]struct{}{".": {}},
		buf:    make([]byte, copyBufferSize),
	}
	switch format {
	case Zip:
		err = x.unzip(src)
	case Binary:
		err = x.binary(src, artifactName)
	default:
		err = x.untar(src, format)
	}
	if cerr := root.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp made it 0700
		return err
	}
	if err := renameNoReplace(tmp, destDir); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("created meanwhile by someone else: %w", ErrExists)
		}
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// extractor writes entries into root. Its invariant: every path in dirs is a
// real folder (never a symbolic link) that Unpack created, so an entry whose
// parent is in dirs cannot be written through a link.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	limits  Limits
	written int64
	files   int
	dirs    map[string]struct{}
	buf     []byte
}

// cleanName validates an entry name and returns it cleaned, slash-separated,
// relative to the root ("." for the root itself).
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", errors.New("empty name")
	case len(name) > maxNameLen:
		return "", fmt.Errorf("name longer than %d bytes", maxNameLen)
	case strings.ContainsRune(name, 0):
		return "", errors.New("name contains NUL")
	case strings.Contains(name, `\`):
		return "", errors.New("name contains a backslash")
	case strings.HasPrefix(name, "/") || filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return "", errors.New("absolute path")
	}
	for _, p := range strings.Split(name, "/") {
		if p == ".." {
			return "", errors.New(`".." path component`)
		}
	}
	c := path.Clean(name)
	if c != "." && !filepath.IsLocal(filepath.FromSlash(c)) {
		return "", errors.New("not a local path")
	}
	return c, nil
}

// checkSymlink validates the target of a symbolic link called name (cleaned).
// Only targets of the form "../../a/b" are accepted, with no more ".." than
// the link's folder is deep: as every folder on an entry's path is real, the
// ".." steps stay inside, and descending names (links included, each checked
// the same way) cannot climb out. A ".." after a name is refused because
// the name may be a link whose ".." is somewhere else.
func checkSymlink(name, target string) error {
	switch {
	case target == "":
		return errors.New("symbolic link with an empty target")
	case len(target) > maxNameLen:
		return fmt.Errorf("symbolic link target longer than %d bytes", maxNameLen)
	case strings.ContainsRune(target, 0) || strings.Contains(target, `\`):
		return fmt.Errorf("symbolic link target %q contains NUL or a backslash", target)
	case strings.HasPrefix(target, "/") || filepath.IsAbs(target) || filepath.VolumeName(target) != "":
		return fmt.Errorf("symbolic link to absolute path %q", target)
	}
	depth := 0
	if dir := path.Dir(name); dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	seenName := false
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
		case "..":
			if seenName {
				return fmt.Errorf("symbolic link target %q has \"..\" after a name", target)
			}
			depth--
			if depth < 0 {
				return fmt.Errorf("symbolic link target %q leaves the folder", target)
			}
		default:
			seenName = true
		}
	}
	return nil
}

// count registers one more created entry.
func (x *extractor) count(entry string) error {
	x.files++
	if x.files > x.limits.MaxFiles {
		return entryErr(entry, ErrLimit, "more than the limit of %d files", x.limits.MaxFiles)
	}
	return nil
}

// ensureDir makes dir (cleaned, relative) and its parents exist as real
// folders, refusing to go through anything else.
func (x *extractor) ensureDir(entry, dir string) error {
	if _, ok := x.dirs[dir]; ok {
		return nil
	}
	// Find the deepest known folder, then create downwards.
	var missing []string
	for d := dir; ; d = path.Dir(d) {
		if _, ok := x.dirs[d]; ok {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		fi, err := x.root.Lstat(d)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			return entryErr(entry, ErrUnsafe, "path goes through symbolic link %q", d)
		case err == nil && !fi.IsDir():
			return entryErr(entry, ErrUnsafe, "path goes through %q, which is not a folder", d)
		case err == nil:
			// A folder Unpack created and has not recorded: impossible,
			// as every Mkdir is recorded, but harmless.
		case errors.Is(err, fs.ErrNotExist):
			if err := x.count(entry); err != nil {
				return err
			}
			if err := x.root.Mkdir(d, 0o755); err != nil {
				return &EntryError{Entry: entry, Err: err}
			}
		default:
			return &EntryError{Entry: entry, Err: err}
		}
		x.dirs[d] = struct{}{}
	}
	return nil
}

// entry kinds handed to create.
type kind int

const (
	kindDir kind = iota
	kindFile
	kindSymlink
	kindHardlink
)

// create makes one entry. For kindFile, r supplies the content and mode the
// archive's permission bits; for links, link is the target.
func (x *extractor) create(entry string, k kind, mode fs.FileMode, link string, r io.Reader) error {
	if err := x.ctx.Err(); err != nil {
		return err
	}
	name, err := cleanName(entry)
	if err != nil {
		return entryErr(entry, ErrUnsafe, "%v", err)
	}
	if name == "." {
		if k == kindDir {
			return nil // "./": the root itself
		}
		return entryErr(entry, ErrUnsafe, "names the destination folder itself")
	}
	if k == kindDir {
		return x.ensureDir(entry, name)
	}
	if err := x.ensureDir(entry, path.Dir(name)); err != nil {
		return err
	}
	if err := x.count(entry); err != nil {
		return err
	}
	switch k {
	case kindSymlink:
		if err := checkSymlink(name, link); err != nil {
			return entryErr(entry, ErrUnsafe, "%v", err)
		}
		if err := x.root.Symlink(link, name); err != nil {
			return x.createErr(entry, err)
		}
	case kindHardlink:
		target, err := cleanName(link)
		if err != nil {
			return entryErr(entry, ErrUnsafe, "hard link target %q: %v", link, err)
		}
		// The target must be a regular file already extracted, reached
		// through real folders only: a hard link to a symbolic link would
		// move the link's relative target, and one to anything outside
		// cannot be named.
		if _, ok := x.dirs[path.Dir(target)]; !ok || target == "." {
			return entryErr(entry, ErrUnsafe, "hard link target %q is not an extracted file", link)
		}
		fi, err := x.root.Lstat(target)
		if err != nil || !fi.Mode().IsRegular() {
			return entryErr(entry, ErrUnsafe, "hard link target %q is not an extracted regular file", link)
		}
		if err := x.root.Link(target, name); err != nil {
			return x.createErr(entry, err)
		}
	case kindFile:
		return x.writeFile(entry, name, mode, r)
	}
	return nil
}

func (x *extractor) createErr(entry string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		return entryErr(entry, ErrUnsafe, "duplicate entry")
	}
	return &EntryError{Entry: entry, Err: err}
}

// writeFile creates name (whose parent is a real folder) exclusively and
// copies r into it through the extractor's buffer, counting bytes against
// the limit.
func (x *extractor) writeFile(entry, name string, mode fs.FileMode, r io.Reader) error {
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // O_EXCL: never follows a final link
	if err != nil {
		return x.createErr(entry, err)
	}
	err = x.copy(entry, f, r)
	if err == nil {
		// fchmod on the open file: exact bits whatever the umask, and no
		// path lookup to race with.
		err = f.Chmod(mode&0o755 | 0o600)
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &EntryError{Entry: entry, Err: cerr}
	}
	return err
}

func (x *extractor) copy(entry string, w io.Writer, r io.Reader) error {
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(x.buf)
		if n > 0 {
			if x.written+int64(n) > x.limits.MaxUnpackedSize {
				return entryErr(entry, ErrLimit, "archive expands past the limit of %s", formatBytes(x.limits.MaxUnpackedSize))
			}
			if _, err := w.Write(x.buf[:n]); err != nil {
				return &EntryError{Entry: entry, Err: err}
			}
			x.written += int64(n)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return entryErr(entry, ErrCorrupt, "read: %v", rerr)
		}
	}
}

// binary copies a bare executable to artifactName in the root.
func (x *extractor) binary(src io.Reader, artifactName string) error {
	if err := checkFileName(artifactName); err != nil {
		return entryErr(artifactName, ErrUnsafe, "%v", err)
	}
	return x.create(artifactName, kindFile, 0o755, "", src)
}
