// Package ids makes the ULIDs that name every deploy and restart. They
// sort by time and are monotonic within the process: two ids made in the
// same millisecond still sort in the order they were made.
package ids

import (
	"crypto/rand"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Source makes monotonic ULIDs. It is safe for concurrent use. The engine
// owns one; there is no package-level source.
type Source struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	now     func() time.Time
}

// NewSource returns a Source using the wall clock and crypto/rand.
func NewSource() *Source { return NewSourceWith(time.Now) }

// NewSourceWith returns a Source with an injected clock, for tests.
func NewSourceWith(now func() time.Time) *Source {
	return &Source{entropy: ulid.Monotonic(rand.Reader, 0), now: now}
}

// New returns the next id. Within one millisecond ids increase; if the
// monotonic entropy would overflow (2^80 ids in one ms) it waits for the
// next millisecond rather than fail.
func (s *Source) New() ulid.ULID {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		id, err := ulid.New(ulid.Timestamp(s.now()), s.entropy)
		if err == nil {
			return id
		}
		time.Sleep(time.Millisecond)
	}
}
