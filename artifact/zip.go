package artifact

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

func (x *extractor) unzip(src *os.File) error {
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(src, fi.Size())
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// With GODEBUG=zipinsecurepath=0 NewReader reports insecure names;
		// cleanName refuses them below with the entry's name.
		return fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	if len(zr.File) > x.limits.MaxFiles {
		return fmt.Errorf("%d entries, more than the limit of %d files: %w", len(zr.File), x.limits.MaxFiles, ErrLimit)
	}
	for _, f := range zr.File {
		if err := x.zipEntry(f); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) zipEntry(f *zip.File) error {
	mode := f.Mode()
	switch {
	case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
		return x.create(f.Name, kindDir, 0, "", nil)
	case mode&fs.ModeSymlink != 0:
		// The target is the entry's content; read a bounded amount.
		rc, err := f.Open()
		if err != nil {
			return entryErr(f.Name, ErrCorrupt, "open: %v", err)
		}
		target, err := io.ReadAll(io.LimitReader(rc, maxNameLen+1))
		rc.Close()
		if err != nil {
			return entryErr(f.Name, ErrCorrupt, "read symbolic link target: %v", err)
		}
		return x.create(f.Name, kindSymlink, 0, string(target), nil)
	case mode.IsRegular():
		rc, err := f.Open()
		if err != nil {
			return entryErr(f.Name, ErrCorrupt, "open: %v", err)
		}
		defer rc.Close()
		return x.create(f.Name, kindFile, mode.Perm(), "", rc)
	case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return entryErr(f.Name, ErrUnsafe, "device entries are not allowed")
	default:
		return entryErr(f.Name, ErrUnsafe, "unsupported entry type (mode %v)", mode)
	}
}
