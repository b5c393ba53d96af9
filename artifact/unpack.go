package artifact

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/ulikunitz/xz"
)

// Limits bound what an archive may expand to. Zero values take the
// defaults.
type Limits struct {
	// MaxBytes bounds the bytes written, counted as they are written (an
	// archive's headers may lie). Default 4 GiB.
	MaxBytes int64
	// MaxFiles bounds the entries. Default 100,000.
	MaxFiles int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 4 << 30
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = 100_000
	}
	return l
}

// ErrRefused is returned (wrapped) for an archive that is unsafe or over
// its limits; the error names the entry.
var ErrRefused = errors.New("archive refused")

// Unpack unpacks the archive at archivePath into destDir, which must not
// exist: .tar, .tar.gz/.tgz, .tar.xz/.txz, .tar.bz2 and .zip by the
// artifact's name; any
// other name is a bare binary, copied as destDir/<name> with mode 0755.
// Entries go into a temporary folder beside destDir, through an os.Root,
// and the folder is renamed to destDir only when all went well: an
// absolute name, a "..", a link that leaves the folder, a device or fifo
// entry, or more than the limits allow, is refused with an error naming
// the entry, and nothing is left behind.
func Unpack(ctx context.Context, archivePath, name, destDir string, lim Limits) (err error) {
	lim = lim.withDefaults()
	if _, err := os.Lstat(destDir); err == nil {
		return fmt.Errorf("unpack: %s already exists", destDir)
	}
	tmp := filepath.Join(filepath.Dir(destDir), "."+filepath.Base(destDir)+".tmp-"+randomSuffix())
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	f, err := os.Open(archivePath)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	u := &unpacker{ctx: ctx, root: root, lim: lim}
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".tgz"):
		zr, zerr := gzip.NewReader(f)
		if zerr != nil {
			return fmt.Errorf("unpack %s: %w", name, zerr)
		}
		err = u.tar(zr)
	case strings.HasSuffix(lower, ".tar.bz2") || strings.HasSuffix(lower, ".tbz2"):
		err = u.tar(bzip2.NewReader(f))
	case strings.HasSuffix(lower, ".tar.xz") || strings.HasSuffix(lower, ".txz"):
		xr, xerr := xz.NewReader(f)
		if xerr != nil {
			return fmt.Errorf("unpack %s: %w", name, xerr)
		}
		err = u.tar(xr)
	case strings.HasSuffix(lower, ".tar"):
		err = u.tar(f)
	case strings.HasSuffix(lower, ".zip"):
		fi, serr := f.Stat()
		if serr != nil {
			return fmt.Errorf("unpack: %w", serr)
		}
		zr, zerr := zip.NewReader(f, fi.Size())
		if zerr != nil {
			return fmt.Errorf("unpack %s: %w", name, zerr)
		}
		err = u.zip(zr)
	default:
		err = u.file(filepath.Base(name), 0o755, f)
	}
	if err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	if err := root.Close(); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	if err := os.Rename(tmp, destDir); err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unpacker writes entries into root, counting against the limits.
type unpacker struct {
	ctx     context.Context
	root    *os.Root
	lim     Limits
	written int64
	files   int
}

// clean checks an entry's name and returns it relative and clean.
func clean(name string) (string, error) {
	n := strings.ReplaceAll(name, "\\", "/")
	if n == "" || path.IsAbs(n) || filepath.IsAbs(n) || strings.Contains(n, "\x00") {
		return "", fmt.Errorf("%w: entry %q: an absolute or empty name", ErrRefused, name)
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") || !filepath.IsLocal(c) && c != "." {
		return "", fmt.Errorf("%w: entry %q leaves the release folder", ErrRefused, name)
	}
	return c, nil
}

// linkInside checks that a symlink at name pointing at target stays in
// the folder.
func linkInside(name, target string) error {
	if target == "" || path.IsAbs(target) || filepath.IsAbs(target) {
		return fmt.Errorf("%w: link %q -> %q points outside the release folder", ErrRefused, name, target)
	}
	if !filepath.IsLocal(path.Join(path.Dir(name), target)) {
		return fmt.Errorf("%w: link %q -> %q points outside the release folder", ErrRefused, name, target)
	}
	return nil
}

func (u *unpacker) count() error {
	if err := u.ctx.Err(); err != nil {
		return err
	}
	u.files++
	if u.files > u.lim.MaxFiles {
		return fmt.Errorf("%w: more than %d entries", ErrRefused, u.lim.MaxFiles)
	}
	return nil
}

func (u *unpacker) mkdirParents(name string) error {
	if d := path.Dir(name); d != "." {
		if err := u.root.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
	}
	return nil
}

// file writes a regular file, counting its bytes as they are written.
func (u *unpacker) file(name string, mode fs.FileMode, r io.Reader) error {
	if err := u.mkdirParents(name); err != nil {
		return err
	}
	perm := mode.Perm() & 0o755
	if perm&0o400 == 0 {
		perm |= 0o400
	}
	w, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("%w: entry %q: %w", ErrRefused, name, err)
	}
	room := u.lim.MaxBytes - u.written
	n, err := io.Copy(w, io.LimitReader(r, room+1))
	u.written += n
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if n > room {
		return fmt.Errorf("%w: entry %q: the archive expands past %d bytes", ErrRefused, name, u.lim.MaxBytes)
	}
	return nil
}

func (u *unpacker) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("corrupt or truncated archive: %w", err)
		}
		if err := u.count(); err != nil {
			return err
		}
		name, err := clean(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if name != "." {
				if err := u.root.MkdirAll(name, 0o755); err != nil {
					return fmt.Errorf("%w: entry %q: %w", ErrRefused, h.Name, err)
				}
			}
		case tar.TypeReg:
			if err := u.file(name, h.FileInfo().Mode(), tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := linkInside(name, h.Linkname); err != nil {
				return err
			}
			if err := u.mkdirParents(name); err != nil {
				return err
			}
			if err := u.root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("%w: entry %q: %w", ErrRefused, h.Name, err)
			}
		case tar.TypeLink:
			target, err := clean(h.Linkname)
			if err != nil {
				return err
			}
			if err := u.mkdirParents(name); err != nil {
				return err
			}
			if err := u.root.Link(target, name); err != nil {
				return fmt.Errorf("%w: entry %q: %w", ErrRefused, h.Name, err)
			}
		case tar.TypeXGlobalHeader:
		default:
			return fmt.Errorf("%w: entry %q is a device, fifo or other special file (type %q)", ErrRefused, h.Name, h.Typeflag)
		}
	}
}

func (u *unpacker) zip(zr *zip.Reader) error {
	for _, zf := range zr.File {
		if err := u.count(); err != nil {
			return err
		}
		name, err := clean(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(zf.Name, "/"):
			if name != "." {
				if err := u.root.MkdirAll(name, 0o755); err != nil {
					return fmt.Errorf("%w: entry %q: %w", ErrRefused, zf.Name, err)
				}
			}
		case mode&fs.ModeSymlink != 0:
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("corrupt archive: entry %q: %w", zf.Name, err)
			}
			b, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return fmt.Errorf("corrupt archive: entry %q: %w", zf.Name, err)
			}
			if err := linkInside(name, string(b)); err != nil {
				return err
			}
			if err := u.mkdirParents(name); err != nil {
				return err
			}
			if err := u.root.Symlink(string(b), name); err != nil {
				return fmt.Errorf("%w: entry %q: %w", ErrRefused, zf.Name, err)
			}
		case mode.IsRegular():
			rc, err := zf.Open()
			if err != nil {
				return fmt.Errorf("corrupt archive: entry %q: %w", zf.Name, err)
			}
			err = u.file(name, mode, rc)
			rc.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: entry %q is a device, fifo or other special file", ErrRefused, zf.Name)
		}
	}
	return nil
}
