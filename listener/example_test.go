package listener_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/dewyhq/dewy/listener"
)

// An app takes the sockets dewy passed, or binds its own address when it runs
// alone, serves its health handler on dewy's readiness socket, says READY=1,
// and drains on cancel (in a real app: SIGTERM, via signal.NotifyContext).
func Example() {
	lns, err := listener.Listeners()
	if err != nil {
		log.Fatal(err)
	}
	if len(lns) == 0 { // not started by dewy: bind the address ourselves
		ln, err := listener.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		lns = append(lns, ln)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

	ctx, cancel := context.WithCancel(context.Background())
	if rl, ok, err := listener.Ready(); err != nil {
		log.Fatal(err)
	} else if ok {
		go listener.Serve(ctx, &http.Server{Handler: mux}, rl)
	}

	done := make(chan error, 1)
	go func() { done <- listener.Serve(ctx, &http.Server{Handler: mux}, lns...) }()
	if err := listener.Notify("READY=1"); err != nil {
		log.Print(err)
	}

	resp, err := http.Get("http://" + lns[0].Addr().(*net.TCPAddr).String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	cancel() // SIGTERM
	fmt.Println("drained:", <-done)
	// Output:
	// hello
	// drained: <nil>
}
