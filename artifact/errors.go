package artifact

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that falls in one of
// these classes wraps the matching sentinel.
var (
	// ErrTooLarge: a download went past FetchOptions.MaxSize.
	ErrTooLarge = errors.New("artifact too large")
	// ErrLimit: an archive expanded past Limits.MaxUnpackedSize or held more
	// than Limits.MaxFiles entries.
	ErrLimit = errors.New("archive exceeds unpack limit")
	// ErrUnsafe: an archive entry was refused because it could write outside
	// the release folder or is of a type a release may not hold.
	ErrUnsafe = errors.New("unsafe archive entry")
	// ErrCorrupt: the archive could not be read (corrupt or truncated).
	ErrCorrupt = errors.New("corrupt archive")
	// ErrMismatch: the artifact's SHA-256 differs from a checksum file's.
	ErrMismatch = errors.New("checksum mismatch")
	// ErrNoChecksum: no checksum file lists the artifact and one was required.
	ErrNoChecksum = errors.New("no checksum for artifact")
	// ErrExists: Unpack's destination folder already exists.
	ErrExists = errors.New("destination already exists")
	// ErrPermanent marks an Opener error that retrying cannot fix (a 404, a
	// refused credential); wrap it with Permanent.
	ErrPermanent = errors.New("permanent error")
)

// EntryError is the error for one archive entry. Entry is the name exactly as
// the archive spells it, so a log line points at the offending entry.
type EntryError struct {
	Entry string
	Err   error
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %q: %v", e.Entry, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(name string, class error, format string, args ...any) error {
	return &EntryError{Entry: name, Err: fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), class)}
}

// Permanent wraps err so that Fetch does not retry it. errors.Is(err,
// ErrPermanent) reports true for the result, and errors.Is/As still see err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (p permanentError) Error() string   { return p.err.Error() }
func (p permanentError) Unwrap() []error { return []error{p.err, ErrPermanent} }
