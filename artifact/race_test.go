//go:build race

package artifact

// raceEnabled: the race detector changes allocation figures and speed.
const raceEnabled = true
