package artifact

import (
	"errors"
	"io/fs"
	"os"
)

// renameCheck is the portable, racy fallback of renameNoReplace.
func renameCheck(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: fs.ErrExist}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(oldpath, newpath)
}
