// Command websocket is an example WebSocket app for dewy: an echo server on
// the sockets dewy holds that, on SIGTERM, stops taking connections and then
// closes every client politely with a close frame (1001 "going away"), so
// clients reconnect at once, to the new generation, instead of waiting for a
// dead TCP connection to time out.
package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/dewyhq/dewy/listener"
)

func main() { os.Exit(run(os.Args[1:])) }

// The close frame every client gets on shutdown. RFC 6455 §7.4.1: 1001
// "indicates that an endpoint is going away, such as a server going down".
const (
	closeCode   = websocket.StatusGoingAway
	closeReason = "server shutting down"
)

func run(args []string) int {
	fs := flag.NewFlagSet("websocket", flag.ContinueOnError)
	addr := fs.String("addr", ":8080", "address to bind when dewy passes no socket (running alone)")
	closeTimeout := fs.Duration("close-timeout", 10*time.Second, "on stop, how long clients get to answer the close frame before they are cut off")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("pid", os.Getpid())

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	lns, err := listener.Listeners()
	if err == nil && len(lns) == 0 {
		var ln net.Listener
		ln, err = listener.Listen("tcp", *addr)
		lns = append(lns, ln)
	}
	if err != nil {
		log.Error("listen", "err", err)
		return 1
	}

	h := &hub{clients: map[*websocket.Conn]struct{}{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return // Accept has answered the client
		}
		if !h.add(c) {
			c.Close(closeCode, closeReason)
			return
		}
		defer h.remove(c)
		log.Info("client connected", "remote", r.RemoteAddr)
		// Echo until the client leaves or the shutdown closes the connection.
		// Hijacked connections outlive http.Server.Shutdown, hence the hub.
		ctx := context.Background()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				log.Info("client gone", "remote", r.RemoteAddr, "status", websocket.CloseStatus(err))
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
	if rl, ok, err := listener.Ready(); err != nil {
		log.Error("readiness socket", "err", err)
	} else if ok {
		go http.Serve(rl, mux)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() {
		served <- listener.Serve(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, lns...)
	}()
	for _, ln := range lns {
		log.Info("serving", "addr", ln.Addr().String())
	}
	listener.Notify("READY=1")

	var serveErr error
	for serving := true; serving; {
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
		case serveErr = <-served:
			serving = false
		}
	}
	// No new upgrade can start now; say goodbye to everyone connected.
	n, cut := h.closeAll(*closeTimeout)
	log.Info("closed websocket clients", "clients", n, "cut_off", cut)
	if serveErr != nil {
		log.Error("serve", "err", serveErr)
		return 1
	}
	log.Info("stopped")
	return 0
}

// hub tracks the connected clients, which http.Server forgets once a
// connection is hijacked for WebSocket.
type hub struct {
	mu       sync.Mutex
	closing  bool
	clients  map[*websocket.Conn]struct{}
	handlers sync.WaitGroup
}

// add registers c; false once the hub is closing.
func (h *hub) add(c *websocket.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	h.clients[c] = struct{}{}
	h.handlers.Add(1)
	return true
}

func (h *hub) remove(c *websocket.Conn) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.CloseNow()
	h.handlers.Done()
}

// closeAll sends every client the close frame and waits, at most timeout,
// for the close handshakes and handlers to finish; clients that do not
// answer are then cut off. It returns how many clients there were and how
// many were cut off.
func (h *hub) closeAll(timeout time.Duration) (n, cut int) {
	h.mu.Lock()
	h.closing = true
	clients := make([]*websocket.Conn, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()

	for _, c := range clients {
		go c.Close(closeCode, closeReason) // handshakes run in parallel
	}
	done := make(chan struct{})
	go func() { h.handlers.Wait(); close(done) }()
	select {
	case <-done:
		return len(clients), 0
	case <-time.After(timeout):
	}
	h.mu.Lock()
	for c := range h.clients {
		c.CloseNow()
		cut++
	}
	h.mu.Unlock()
	<-done
	return len(clients), cut
}
