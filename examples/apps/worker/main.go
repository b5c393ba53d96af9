// Command worker is an example background worker for dewy: it processes
// jobs one after another and, on SIGTERM or SIGINT, stops between two jobs,
// never in the middle of one.
package main

import (
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dewyhq/dewy/listener"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	jobDuration := fs.Duration("job-duration", 2*time.Second, "how long one job takes; keep it below dewy's stop timeout")
	interval := fs.Duration("interval", 500*time.Millisecond, "pause between two jobs")
	maxJobs := fs.Int("jobs", 0, "stop after this many jobs (0: run until signalled)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	// Every decision is made here, on one goroutine, so the log's order is
	// the order things happened: a job is only started after the last look
	// at the signals.
	stopping := false
	handle := func(sig os.Signal, job int) {
		switch {
		case sig == syscall.SIGHUP:
			log.Info("SIGHUP ignored", "signal", sig.String())
		case stopping:
			log.Info("already stopping", "signal", sig.String(), "job", job)
		default:
			stopping = true
			if job > 0 {
				log.Info("stop requested; finishing the current job first", "signal", sig.String(), "job", job)
			} else {
				log.Info("stop requested", "signal", sig.String())
			}
		}
	}

	if err := listener.Notify("READY=1"); err != nil {
		log.Warn("notify", "err", err)
	}
	log.Info("worker started", "job_duration", *jobDuration)
	done := 0
	for job := 1; *maxJobs == 0 || job <= *maxJobs; job++ {
		// Between jobs: take every pending signal into account first.
		for pending := true; pending; {
			select {
			case sig := <-sigs:
				handle(sig, 0)
			default:
				pending = false
			}
		}
		if stopping {
			break
		}

		log.Info("job started", "job", job)
		finished := make(chan struct{})
		go func() {
			process(*jobDuration)
			close(finished)
		}()
		for running := true; running; {
			select {
			case <-finished:
				running = false
			case sig := <-sigs:
				handle(sig, job)
			}
		}
		log.Info("job finished", "job", job)
		done = job

		if stopping {
			break
		}
		pause := time.NewTimer(*interval)
		select {
		case <-pause.C:
		case sig := <-sigs:
			pause.Stop()
			handle(sig, 0)
		}
	}
	listener.Notify("STOPPING=1")
	log.Info("worker stopped between jobs", "jobs_done", done)
	return 0
}

// process stands for one unit of real work: it is not interruptible, which
// is the point; a job that can be resumed would take a context instead.
func process(d time.Duration) {
	time.Sleep(d)
}
