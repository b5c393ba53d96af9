// Package logging builds dewy's zerolog logger from the agent settings.
// It holds no global logger: the logger it returns is passed down to every
// part of the engine, which derives child loggers (with "app", "deploy").
package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Options are the settings that shape the logger.
type Options struct {
	// Level is debug, info, warn or error.
	Level string
	// Format is console or json.
	Format string
	// Color turns on colour in the console format (a terminal).
	Color bool
}

// New returns a logger writing to w.
func New(w io.Writer, o Options) (zerolog.Logger, error) {
	l, _, err := NewOutput(w, o)
	return l, err
}

// Output is where a logger writes, with a level and a format that can be
// changed while the loggers derived from it run (a reload of the agent
// settings). The logger itself passes every level from debug up; Output
// drops what is below its current level.
type Output struct {
	w     io.Writer
	color bool
	level atomic.Int32
	dst   atomic.Pointer[io.Writer]
}

// NewOutput returns a logger writing to w through an Output.
func NewOutput(w io.Writer, o Options) (zerolog.Logger, *Output, error) {
	out := &Output{w: w, color: o.Color}
	if err := out.Apply(o); err != nil {
		return zerolog.Nop(), nil, err
	}
	return zerolog.New(out).Level(zerolog.DebugLevel).With().Timestamp().Logger(), out, nil
}

// Apply switches the level and format. It changes nothing when o is
// invalid. Color keeps the value given to NewOutput.
func (out *Output) Apply(o Options) error {
	lvl, err := zerolog.ParseLevel(o.Level)
	if err != nil || o.Level == "" {
		return fmt.Errorf("log level %q: want debug, info, warn or error", o.Level)
	}
	var dst io.Writer
	switch o.Format {
	case "json":
		dst = out.w
	case "console":
		dst = zerolog.ConsoleWriter{Out: out.w, NoColor: !out.color, TimeFormat: "2006-01-02T15:04:05.000Z07:00", FormatPrepare: durationsWithUnits}
	default:
		return fmt.Errorf("log format %q: want console or json", o.Format)
	}
	out.dst.Store(&dst)
	out.level.Store(int32(lvl))
	return nil
}

// Write writes one event whatever its level (zerolog calls WriteLevel).
func (out *Output) Write(p []byte) (int, error) { return (*out.dst.Load()).Write(p) }

// WriteLevel writes one event at or above the current level.
func (out *Output) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < zerolog.Level(out.level.Load()) && l != zerolog.NoLevel {
		return len(p), nil
	}
	return out.Write(p)
}

// durationKeys are the fields dewy logs with Dur. JSON keeps them as
// seconds (a number for machines); the console shows them with their unit
// ("940ms", "5m0s"), as an operator reads them. A test checks that every
// Dur key in the code is listed.
func durationKeys() map[string]bool {
	return map[string]bool{
		"after": true, "backoff": true, "cooldown": true, "lifetime": true,
		"timeout": true, "uptime": true, "window": true, "took": true,
	}
}

// durationsWithUnits rewrites the duration fields of one console line from
// zerolog's numbers (in zerolog.DurationFieldUnit, seconds in dewy) to
// time.Duration's text.
func durationsWithUnits(fields map[string]interface{}) error {
	keys := durationKeys()
	for k, v := range fields {
		if !keys[k] {
			continue
		}
		var units float64
		switch n := v.(type) {
		case json.Number:
			f, err := n.Float64()
			if err != nil {
				continue
			}
			units = f
		case float64:
			units = n
		default:
			continue
		}
		d := time.Duration(units * float64(zerolog.DurationFieldUnit))
		if d >= 10*time.Millisecond {
			d = d.Round(time.Millisecond)
		} else {
			d = d.Round(time.Microsecond)
		}
		fields[k] = d.String()
	}
	return nil
}
