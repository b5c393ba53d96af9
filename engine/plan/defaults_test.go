package plan

import (
	"testing"
	"time"
)

func TestComplete(t *testing.T) {
	got := App{}.Complete()
	if got.Ready != DefaultReady() || got.Stop != DefaultStop() || got.Hooks != DefaultHooks() {
		t.Errorf("empty app: ready %+v stop %+v hooks %+v, want the defaults", got.Ready, got.Stop, got.Hooks)
	}
	want := DefaultRestart()
	want.Jitter = 0 // a choice, not a missing value
	if got.Restart != want {
		t.Errorf("empty app: restart %+v, want %+v", got.Restart, want)
	}
	set := App{Restart: RestartPolicy{Initial: 2 * time.Minute, Jitter: 3}, Stop: Stop{Timeout: time.Second}}.Complete()
	if set.Restart.Initial != 2*time.Minute || set.Restart.Max != 2*time.Minute || set.Restart.Jitter != 1 || set.Stop.Timeout != time.Second {
		t.Errorf("set values: %+v %+v (Max is raised to Initial, Jitter clamped to 1)", set.Restart, set.Stop)
	}
}
