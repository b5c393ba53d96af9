// Command bench is dewy's load and restart benchmark: it builds dewy and the
// example HTTP app, runs the app under dewy, drives HTTP load from many
// loopback clients while sending dewy real SIGUSR1 graceful restarts, and
// reports dropped requests, latency inside and outside the restart windows,
// restart latency, and dewy's own memory and CPU. By default it then runs
// the same load against a plain stop-and-start restart of the app (the
// baseline) and, when Perl's start_server is on PATH, under Server::Starter
// (the anchor), and prints them side by side.
//
//	go run ./bench -restarts 100 -clients 32
//
// See bench/README.md for the flags and how to read the output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() { os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr)) }

func cli(args []string, stdout, stderr io.Writer) int {
	o := DefaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.Restarts, "restarts", o.Restarts, "graceful restarts to trigger (SIGUSR1 to dewy; SIGTERM+start in the baseline)")
	fs.IntVar(&o.Clients, "clients", o.Clients, "concurrent clients: half keep-alive, half a new connection per request")
	fs.DurationVar(&o.StartupDelay, "startup-delay", o.StartupDelay, "the app's -startup-delay (how long a new generation takes to start serving)")
	fs.StringVar(&o.Ready, "ready", o.Ready, `dewy readiness check: "http" (ready { http = "/healthz" }, on a per-generation socket), `+
		`"http-held" (ready { http = "http://127.0.0.1:<port>/healthz" }, the held address), "tcp-held" (ready { tcp = "127.0.0.1:<port>" }) `+
		`or "delay" (ready { delay = -ready-delay })`)
	fs.DurationVar(&o.ReadyDelay, "ready-delay", o.ReadyDelay, `the delay of -ready delay`)
	fs.DurationVar(&o.Sleep, "sleep", o.Sleep, "ask the app for ?sleep=D on every request (0: plain /)")
	fs.DurationVar(&o.Think, "think", o.Think, "pause of each client between two requests")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "timeout of every request")
	fs.DurationVar(&o.Pause, "pause", o.Pause, "pause between the end of one restart and the next signal")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "load before the first restart")
	fs.DurationVar(&o.Cooldown, "cooldown", o.Cooldown, "load after the last restart")
	fs.DurationVar(&o.Idle, "idle", o.Idle, "after the load, how long dewy's idle CPU and RSS are measured")
	fs.DurationVar(&o.RestartTimeout, "restart-timeout", o.RestartTimeout, "give up on one restart after this long")
	fs.DurationVar(&o.MaxDuration, "max-duration", o.MaxDuration, "hard cap on the load phase of each run (it then stops by itself)")
	fs.Int64Var(&o.MaxRequests, "max-requests", o.MaxRequests, "hard cap on the requests of each run (it then stops by itself)")
	fs.BoolVar(&o.Baseline, "baseline", o.Baseline, "also run the stop-and-start baseline and print both side by side")
	fs.BoolVar(&o.Anchor, "anchor", o.Anchor, "also run the same load and restarts under Server::Starter (start_server on PATH; SIGHUP restarts)")
	fs.IntVar(&o.AnchorInterval, "anchor-interval", o.AnchorInterval, "start_server --interval: whole seconds between starting the new worker and sending the old one TERM")
	fs.DurationVar(&o.Steady, "steady", o.Steady, "after the cool-down, a phase of load without restarts measuring the supervisor's CPU and wake-ups per new connection (0: none)")
	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "dewy's --log-level")
	fs.BoolVar(&o.JSON, "json", false, "print the report as JSON on stdout (the progress stays on stderr)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (binaries, config, dewy.log) and print its path")
	fs.BoolVar(&o.Quiet, "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := o.check(); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	if !o.Quiet {
		o.Progress = stderr
	}

	// Ctrl-C (or a TERM) cancels the run; Run stops dewy, the apps and the
	// baseline server and removes its directory before it returns.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := Run(ctx, o)
	if rep != nil {
		if o.JSON {
			if werr := rep.WriteJSON(stdout); werr != nil {
				fmt.Fprintf(stderr, "bench: %v\n", werr)
				return 1
			}
		} else {
			rep.WriteTable(stdout)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "bench: interrupted after %s; everything it started is stopped\n", time.Since(start).Round(time.Millisecond))
			return 130
		}
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}
