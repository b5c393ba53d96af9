package event

import (
	"context"
	"testing"

	"github.com/dewyhq/dewy/actions"
)

func TestFanOutInOrder(t *testing.T) {
	b := NewBus()
	s1, s2 := b.Subscribe(10), b.Subscribe(10)
	for _, k := range []string{"a", "b", "c"} {
		b.Publish(Event{Event: actions.Event{Kind: k}})
	}
	b.Close()
	for _, s := range []*Subscription{s1, s2} {
		var got string
		_ = Drain(context.Background(), s, func(e Event) { got += e.Kind })
		if got != "abc" {
			t.Errorf("got %q", got)
		}
	}
}

func TestSlowSubscriberNeverBlocksPublish(t *testing.T) {
	b := NewBus()
	s := b.Subscribe(1)
	for i := 0; i < 100; i++ {
		b.Publish(Event{Event: actions.Event{Kind: "x"}})
	}
	if s.Dropped() != 99 {
		t.Errorf("dropped %d, want 99", s.Dropped())
	}
	s.Cancel()
	s.Cancel() // idempotent
	b.Publish(Event{Event: actions.Event{Kind: "after cancel"}})
}

func TestSubscribeAfterClose(t *testing.T) {
	b := NewBus()
	b.Close()
	s := b.Subscribe(1)
	if _, ok := <-s.C; ok {
		t.Error("channel of a subscription to a closed bus is open")
	}
}
