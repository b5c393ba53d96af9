package main

import "testing"

func TestProgressBar(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		want        string
	}{
		{0, 200e6, "[>                             ] 0.0 MB of 200.0 MB"},
		{100e6, 200e6, "[===============>              ] 100.0 MB of 200.0 MB"},
		{200e6, 200e6, "[==============================] 200.0 MB of 200.0 MB"},
		{300e6, 200e6, "[==============================] 300.0 MB of 200.0 MB"},
		{45e6, -1, "45.0 MB"},
	} {
		if got := bar(c.done, c.total); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}
