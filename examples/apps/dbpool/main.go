// Command dbpool is an example dewy app that holds a pool of connections to
// a backing server, the way an app holds a database pool: it opens the pool
// before it says it is ready, answers HTTP queries through it, and on
// SIGTERM first drains its HTTP requests, then closes the pool politely, and
// logs both.
//
// Without -db-addr it starts its own tiny line-echo server on loopback to
// stand in for the database, so it runs anywhere.
package main

import (
	"bufio"
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
	"syscall"
	"time"

	"github.com/dewyhq/dewy/listener"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("dbpool", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address to bind when dewy passes no socket (running alone)")
	dbAddr := fs.String("db-addr", "", "host:port of the line server to pool connections to (default: start one on loopback)")
	size := fs.Int("pool-size", 4, "connections in the pool")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second, "on stop, how long requests and then queries get to finish")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	if *dbAddr == "" {
		db, err := startEchoServer()
		if err != nil {
			log.Error("start the stand-in database", "err", err)
			return 1
		}
		defer func() {
			db.Close()
			log.Info("stand-in database stopped")
		}()
		*dbAddr = db.Addr().String()
		log.Info("stand-in database", "addr", *dbAddr)
	}

	openCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	pool, err := OpenPool(openCtx, *dbAddr, *size)
	cancel()
	if err != nil {
		log.Error("open pool", "err", err)
		return 1
	}
	log.Info("connection pool open", "db", *dbAddr, "size", *size)

	lns, err := listener.Listeners()
	if err == nil && len(lns) == 0 {
		var ln net.Listener
		ln, err = listener.Listen("tcp", *addr)
		lns = append(lns, ln)
	}
	if err != nil {
		log.Error("listen", "err", err)
		pool.Close(context.Background())
		return 1
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		answer, err := pool.Query(r.Context(), r.URL.Query().Get("q"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, answer)
	})
	if rl, ok, err := listener.Ready(); err != nil {
		log.Error("readiness socket", "err", err)
	} else if ok {
		go http.Serve(rl, mux) // dies with the process; nothing to drain on it
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		served <- listener.ServeWithOptions(ctx, srv, listener.ServeOptions{ShutdownTimeout: *shutdownTimeout}, lns...)
	}()
	for _, ln := range lns {
		log.Info("serving", "addr", ln.Addr().String())
	}
	listener.Notify("READY=1")

	var serveErr error
	serving := true
	for serving {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP ignored", "signal", sig.String())
				continue
			}
			log.Info("draining", "signal", sig.String())
			listener.Notify("STOPPING=1")
			stop()
			serveErr = <-served
			serving = false
		case serveErr = <-served: // a listener failed; Serve drained the rest
			serving = false
		}
	}
	code := 0
	if serveErr != nil {
		log.Error("serve", "err", serveErr)
		code = 1
	}

	// Only now, with no request left that could use it, close the pool.
	log.Info("closing connection pool", "size", *size)
	cctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	n, err := pool.Close(cctx)
	if err != nil {
		log.Error("close pool", "err", err, "closed", n)
		code = 1
	} else {
		log.Info("connection pool closed", "closed", n)
	}
	return code
}

// startEchoServer is the stand-in database: it answers each line with
// "echo: <line>" and ends the session on "QUIT".
func startEchoServer() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &echoServer{Listener: ln, conns: map[net.Conn]bool{}}
	go s.serve()
	return s, nil
}

type echoServer struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func (s *echoServer) serve() {
	for {
		c, err := s.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if sc.Text() == "QUIT" {
					return
				}
				fmt.Fprintf(c, "echo: %s\n", sc.Text())
			}
		})
	}
}

func (s *echoServer) Close() error {
	err := s.Listener.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
