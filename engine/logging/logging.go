// Package logging builds dewy's zerolog logger from the agent settings.
// It holds no global logger: the logger it returns is passed down to every
// part of the engine, which derives child loggers (with "app", "deploy").
package logging

import (
	"fmt"
	"io"

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
	lvl, err := zerolog.ParseLevel(o.Level)
	if err != nil || o.Level == "" {
		return zerolog.Nop(), fmt.Errorf("log level %q: want debug, info, warn or error", o.Level)
	}
	out := w
	switch o.Format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: w, NoColor: !o.Color, TimeFormat: "2006-01-02T15:04:05.000Z07:00"}
	default:
		return zerolog.Nop(), fmt.Errorf("log format %q: want console or json", o.Format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}
