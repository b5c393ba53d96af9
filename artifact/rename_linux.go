//go:build linux

package artifact

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames a folder to newpath, failing with fs.ErrExist if
// newpath exists: plain rename(2) would silently replace an empty folder.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		// Old kernel or a filesystem without RENAME_NOREPLACE.
		return renameCheck(oldpath, newpath)
	}
	if err != nil {
		return &os.LinkError{Op: "renameat2", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
