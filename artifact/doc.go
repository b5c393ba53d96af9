// Package artifact is the boundary where hostile bytes arrive: it turns a
// release artifact, a byte stream from a registry, into a verified,
// unpacked release folder.
//
// The three steps are separate functions, called in this order by the
// deployer:
//
//  1. Fetch streams the artifact into a cache folder with a size limit,
//     computing its SHA-256 on the way, retrying an interrupted download, and
//     renaming the file to its final name only once it is complete.
//  2. Verify compares that SHA-256 with the release's checksum files
//     (checksums.txt, SHA256SUMS, <artifact>.sha256).
//  3. Unpack extracts a .tar, .tar.gz, .tar.xz, .tar.bz2 or .zip archive (or
//     copies a bare binary) into a fresh release folder, through an os.Root,
//     refusing any entry that could land outside the folder, and renaming the
//     folder into place only once everything is written.
//
// Guarantees: nothing is ever written outside the cache folder (Fetch) or
// the release folder (Unpack); a file or folder at its final name is always
// complete; a failed call leaves no temporary file or folder behind; memory
// use does not grow with the size of the artifact.
//
// The package is not for choosing a release, talking to a registry or
// deploying: it imports nothing from engine, config or cmd, and callers pass
// it an Opener for the bytes. Errors that callers branch on are sentinels
// (ErrTooLarge, ErrLimit, ErrUnsafe, ErrCorrupt, ErrMismatch, ErrNoChecksum,
// ErrExists); test them with errors.Is.
package artifact
