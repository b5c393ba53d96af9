// Package version decides which release of an app is the newest one to
// deploy, and which artifact of that release fits this machine.
//
// It is pure logic: no I/O, no clock, no logger. A registry poller hands it
// the tags (release names, bucket folders) it found and the asset names of
// one release; it answers with a Version or a file name, and with errors
// that name the value at fault.
//
// # Versions
//
// Two schemes are understood:
//
//   - Semver: SemVer 2.0.0 (https://semver.org), with an optional
//     lower-case "v" prefix: v1.2.3, 1.2.3, v1.2.3-rc.1, v1.2.3+blue,
//     v1.2.3-rc.1+blue. The grammar is the spec's, strictly: three numeric
//     fields without leading zeros, no "v1.2" shorthand, no upper-case "V".
//   - Calver: calendar versions whose shape is given by a format such as
//     "YYYY.0M.0D.MICRO" (see ParseCalverFormat), with the same optional
//     "v" prefix, pre-release ("-rc.1") and build metadata ("+blue").
//
// Ordering (Compare) follows SemVer 2.0.0 precedence for both schemes:
// numeric fields from the left, then a release ranks above its
// pre-releases, then pre-release identifiers one by one. Build metadata
// never takes part in ordering. Version.String returns the tag exactly as
// it was given, so it can be used to fetch the release again.
//
// # Selection
//
// Newest picks the highest version among tags. Pre-releases are candidates
// only when Options.PreRelease is set. With Options.Slot set, only versions
// whose build metadata equals the slot are candidates ("+blue" for slot
// "blue"); without a slot, build metadata is ignored and every version is a
// candidate. Tags that are not versions are skipped, never fatal; every
// skipped tag is returned with its reason so the caller can log it.
//
// # Artifacts
//
// PickArtifact chooses one asset of a release: the configured name when
// there is one, otherwise the single asset whose name carries this
// machine's operating system and architecture as whole words.
//
// This package is not for fetching, verifying or unpacking releases, and it
// does not remember which versions failed to deploy: callers filter those.
package version
