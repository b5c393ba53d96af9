package config

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

// The shipped defaults are data, declared once in Spec; these read them
// back typed. They panic on a bad declaration: that is a programmer error
// that every test run catches (TestSpecDefaultsParse).

// specDefault finds the default of attribute attr in the block of type
// block, at any depth.
func specDefault(block, attr string) string {
	var find func(b BlockSpec) (string, bool)
	find = func(b BlockSpec) (string, bool) {
		if b.Type == block {
			if a, ok := b.Attr(attr); ok {
				return a.Default, true
			}
		}
		for _, c := range b.Blocks {
			if v, ok := find(c); ok {
				return v, true
			}
		}
		return "", false
	}
	v, ok := find(Spec())
	if !ok || v == "" {
		panic(fmt.Sprintf("config: no default declared for %s.%s", block, attr))
	}
	return v
}

func defString(block, attr string) string { return specDefault(block, attr) }

func defDuration(block, attr string) time.Duration {
	d, err := ParseDuration(specDefault(block, attr))
	if err != nil {
		panic(fmt.Sprintf("config: default %s.%s: %v", block, attr, err))
	}
	return d
}

func defInt(block, attr string) int {
	n, err := strconv.Atoi(specDefault(block, attr))
	if err != nil {
		panic(fmt.Sprintf("config: default %s.%s: %v", block, attr, err))
	}
	return n
}

func defFloat(block, attr string) float64 {
	f, err := strconv.ParseFloat(specDefault(block, attr), 64)
	if err != nil {
		panic(fmt.Sprintf("config: default %s.%s: %v", block, attr, err))
	}
	return f
}

func defSize(block, attr string) int64 {
	n, err := ParseSize(specDefault(block, attr))
	if err != nil {
		panic(fmt.Sprintf("config: default %s.%s: %v", block, attr, err))
	}
	return n
}

func defSignal(block, attr string) syscall.Signal {
	sig, _, status, _ := plan.ParseSignal(specDefault(block, attr))
	if status != plan.SignalUsable {
		panic(fmt.Sprintf("config: default %s.%s is not a usable signal", block, attr))
	}
	return sig
}
