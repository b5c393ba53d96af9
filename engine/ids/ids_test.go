package ids

import (
	"testing"
	"time"
)

func TestMonotonicWithinOneMillisecond(t *testing.T) {
	fixed := time.UnixMilli(1_700_000_000_000)
	s := NewSourceWith(func() time.Time { return fixed })
	prev := s.New()
	for i := 0; i < 10000; i++ {
		id := s.New()
		if id.Compare(prev) <= 0 {
			t.Fatalf("id %d (%s) does not sort after %s", i, id, prev)
		}
		if id.Time() != uint64(fixed.UnixMilli()) {
			t.Fatalf("id time %d, want %d", id.Time(), fixed.UnixMilli())
		}
		prev = id
	}
}

func TestConcurrentIDsAreUnique(t *testing.T) {
	s := NewSource()
	const n = 8
	out := make(chan string, n*500)
	done := make(chan struct{})
	for g := 0; g < n; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 500; i++ {
				out <- s.New().String()
			}
		}()
	}
	for g := 0; g < n; g++ {
		<-done
	}
	close(out)
	seen := map[string]bool{}
	for id := range out {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}
