// Package event is dewy's in-process event bus: supervisors and actions
// publish what people should hear about (restarted, stopped, crash loop,
// restart failed), and subscribers (the log today, the notifiers later)
// receive every event in order. It is not a queue for work: a subscriber
// that falls behind loses events and the loss is counted, so a slow
// notifier can never stall a restart.
package event

import (
	"context"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/dewyhq/dewy/actions"
)

// Event is one thing that happened: what an emitter said (actions.Event),
// stamped with a ULID and its time.
type Event struct {
	ID   ulid.ULID
	Time time.Time
	actions.Event
}

// Bus fans events out to subscribers. The zero value is not usable; use
// NewBus. Publish and Subscribe are safe for concurrent use.
type Bus struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription receives events on C until it is cancelled or the bus is
// closed, which closes C.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	bus     *Bus
	dropped int
}

// Subscribe returns a subscription with room for buffer events.
func (b *Bus) Subscribe(buffer int) *Subscription {
	c := make(chan Event, buffer)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(c)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// Cancel stops the subscription and closes its channel.
func (s *Subscription) Cancel() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if _, ok := s.bus.subs[s]; ok {
		delete(s.bus.subs, s)
		close(s.c)
	}
}

// Dropped returns how many events this subscriber missed because its
// buffer was full.
func (s *Subscription) Dropped() int {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	return s.dropped
}

// Publish delivers e to every subscriber without blocking.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		select {
		case s.c <- e:
		default:
			s.dropped++
		}
	}
}

// Close closes every subscription; later Publish calls do nothing.
func (b *Bus) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		close(s.c)
		delete(b.subs, s)
	}
}

// Drain calls fn for each event of s until s is closed or ctx ends; it is
// the loop of a subscriber actor.
func Drain(ctx context.Context, s *Subscription, fn func(Event)) error {
	for {
		select {
		case <-ctx.Done():
			// Deliver what is already queued, then stop.
			for {
				select {
				case e, ok := <-s.C:
					if !ok {
						return nil
					}
					fn(e)
				default:
					return nil
				}
			}
		case e, ok := <-s.C:
			if !ok {
				return nil
			}
			fn(e)
		}
	}
}
