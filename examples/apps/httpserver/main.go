// Command httpserver is an example HTTP app for dewy: it serves on the
// sockets dewy holds for it, proves its own readiness on dewy's
// per-generation readiness socket and with READY=1, and drains on SIGTERM
// without dropping a request.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dewyhq/dewy/listener"
)

func main() { os.Exit(run(os.Args[1:])) }

// maxSleep caps the ?sleep= a client may ask for.
const maxSleep = time.Minute

func run(args []string) int {
	fs := flag.NewFlagSet("httpserver", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address to bind when dewy passes no socket (running alone)")
	startupDelay := fs.Duration("startup-delay", 0, "simulate a slow start: wait this long before serving")
	grace := fs.Duration("first-request-grace", listener.DefaultFirstRequestGrace, "on stop, how long accepted connections get to send their first request")
	shutdownTimeout := fs.Duration("shutdown-timeout", listener.DefaultShutdownTimeout, "on stop, how long in-flight requests get to finish; keep it below dewy's stop timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())

	// Register signals before the slow start: an unregistered SIGHUP would
	// kill the process, and a SIGTERM during start-up must still be clean.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	generation, _ := listener.Generation()
	lns, err := listener.Listeners()
	if err != nil {
		log.Error("inherited sockets", "err", err)
		return 1
	}
	if len(lns) == 0 {
		ln, err := listener.Listen("tcp", *addr)
		if err != nil {
			log.Error("listen", "addr", *addr, "err", err)
			return 1
		}
		lns = append(lns, ln)
	}

	var started, draining atomic.Bool
	health := func(w http.ResponseWriter, r *http.Request) {
		if !started.Load() || draining.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", health)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s := r.URL.Query().Get("sleep"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 || d > maxSleep {
				http.Error(w, "bad sleep", http.StatusBadRequest)
				return
			}
			log.Info("slow request started", "sleep", d)
			time.Sleep(d) // deliberately ignores the drain: in-flight work finishes
			log.Info("slow request finished", "sleep", d)
		}
		fmt.Fprintf(w, "pid=%d generation=%d\n", os.Getpid(), generation)
	})

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 2)

	// The readiness socket answers from the first moment, 503 until started:
	// dewy's probe never hangs on a socket nobody accepts on.
	if rl, ok, err := listener.Ready(); err != nil {
		log.Error("readiness socket", "err", err)
		return 1
	} else if ok {
		hmux := http.NewServeMux()
		hmux.HandleFunc("/", health)
		wg.Go(func() {
			errs <- listener.Serve(ctx, &http.Server{Handler: hmux, ReadHeaderTimeout: 5 * time.Second}, rl)
		})
		log.Info("readiness endpoint", "addr", rl.Addr().String())
	}

	if *startupDelay > 0 {
		log.Info("starting slowly", "delay", *startupDelay)
		timer := time.NewTimer(*startupDelay)
	wait:
		for {
			select {
			case <-timer.C:
				break wait
			case sig := <-sigs:
				if sig == syscall.SIGHUP {
					log.Info("SIGHUP ignored", "signal", sig.String())
					continue
				}
				log.Info("stopped during start-up", "signal", sig.String())
				stop()
				wg.Wait()
				return 0
			}
		}
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	opts := listener.ServeOptions{FirstRequestGrace: *grace, ShutdownTimeout: *shutdownTimeout}
	wg.Go(func() { errs <- listener.ServeWithOptions(ctx, srv, opts, lns...) })
	started.Store(true)
	for _, ln := range lns {
		log.Info("serving", "addr", ln.Addr().String(), "generation", generation)
	}
	if err := listener.Notify("READY=1"); err != nil {
		log.Warn("notify", "err", err)
	}

	code := 0
loop:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// dewy leaves SIGHUP to the app; this one has nothing to reload.
				log.Info("SIGHUP ignored", "signal", sig.String())
				continue
			}
			log.Info("draining", "signal", sig.String())
			break loop
		case err := <-errs:
			log.Error("serve", "err", err)
			code = 1
			break loop
		}
	}
	draining.Store(true)
	listener.Notify("STOPPING=1")
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("drain", "err", err)
			code = 1
		}
	}
	log.Info("stopped")
	return code
}
