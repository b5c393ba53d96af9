package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// Handler serves the control API of agent. More handlers (the metrics)
// can be added to the returned mux.
func Handler(agent Agent) *http.ServeMux {
	h := &handler{agent: agent}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", h.status)
	mux.HandleFunc("POST /v1/apps/{app}/restart", h.restart)
	mux.HandleFunc("POST /v1/apps/{app}/deploy", h.deploy)
	mux.HandleFunc("POST /v1/apps/{app}/rollback", h.rollback)
	mux.HandleFunc("GET /v1/apps/{app}/releases", h.releases)
	mux.HandleFunc("POST /v1/apps/{app}/signal", h.signal)
	mux.HandleFunc("POST /v1/reload", h.reload)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("%s %s is not a path of dewy's control API (v%s)", r.Method, r.URL.Path, APIVersion))
	})
	return mux
}

type handler struct{ agent Agent }

func (h *handler) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.agent.Status())
}

func (h *handler) restart(w http.ResponseWriter, r *http.Request) {
	if !emptyBody(w, r) {
		return
	}
	app := r.PathValue("app")
	if err := h.agent.Restart(r.Context(), app); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, Result{OK: true, Message: app + " restarted"})
}

func (h *handler) deploy(w http.ResponseWriter, r *http.Request) {
	var req DeployRequest
	if !decode(w, r, &req) {
		return
	}
	d, err := h.agent.Deploy(r.Context(), r.PathValue("app"), req.Version)
	h.deployResult(w, d, err)
}

func (h *handler) rollback(w http.ResponseWriter, r *http.Request) {
	if !emptyBody(w, r) {
		return
	}
	d, err := h.agent.Rollback(r.Context(), r.PathValue("app"))
	h.deployResult(w, d, err)
}

func (h *handler) deployResult(w http.ResponseWriter, d Deploy, err error) {
	if err != nil {
		code := statusOf(err)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(APIHeader, APIVersion)
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(struct {
			Error  string  `json:"error"`
			Deploy *Deploy `json:"deploy,omitempty"`
		}{err.Error(), nonZero(d)})
		return
	}
	writeJSON(w, http.StatusOK, Result{OK: true, Message: d.Result, Deploy: nonZero(d)})
}

func nonZero(d Deploy) *Deploy {
	if d.ID == "" {
		return nil
	}
	return &d
}

func (h *handler) releases(w http.ResponseWriter, r *http.Request) {
	rels, err := h.agent.Releases(r.PathValue("app"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if rels == nil {
		rels = []Release{}
	}
	writeJSON(w, http.StatusOK, rels)
}

func (h *handler) signal(w http.ResponseWriter, r *http.Request) {
	var req SignalRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Signal == "" {
		writeError(w, http.StatusBadRequest, errors.New(`the body names no signal: send {"signal": "HUP"}`))
		return
	}
	app := r.PathValue("app")
	if err := h.agent.Signal(app, req.Signal); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, Result{OK: true, Message: fmt.Sprintf("%s sent to %s", req.Signal, app)})
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	if !emptyBody(w, r) {
		return
	}
	if err := h.agent.Reload(r.Context()); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, Result{OK: true, Message: "reload applied"})
}

// decode reads an optional JSON body into v; a malformed one is a 400.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("read the body: %w", err))
		return false
	}
	if len(body) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes", maxBody))
		return false
	}
	if len(body) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("the body is not valid JSON for this request: %w", err))
		return false
	}
	return true
}

// emptyBody accepts no body, or an empty JSON object.
func emptyBody(w http.ResponseWriter, r *http.Request) bool {
	var v struct{}
	return decode(w, r, &v)
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrUnknownApp):
		return http.StatusNotFound
	case errors.Is(err, ErrNoRegistry):
		return http.StatusConflict
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(APIHeader, APIVersion)
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

// ErrInUse is returned (wrapped) by Listen when another process answers
// on the socket.
var ErrInUse = errors.New("another process answers on the control socket")

// Listen makes the control socket at path: mode 0600, owned by this
// process's user. A stale socket file (nobody answers) is replaced; one
// somebody answers on is ErrInUse; a path that is not a socket is left
// alone and is an error. Connections from users other than this one and
// root are closed at once.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control socket %s: the path exists and is not a socket; not replacing it", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: %w (is another dewy running with this admin_socket?)", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove the stale socket: %w", path, err)
		}
	}
	// The socket is created 0600 (no moment with wider permissions): the
	// umask is set around the bind. dewy binds it at start, before any
	// other goroutine creates files.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return peerChecked{ln.(*net.UnixListener)}, nil
}

// peerChecked accepts connections only from this process's user and root
// (the file mode already keeps others out; this holds if it is changed).
type peerChecked struct{ *net.UnixListener }

func (l peerChecked) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, ok := peerUID(c); ok && (uid == 0 || uid == uint32(os.Getuid())) {
			return c, nil
		}
		c.Close()
	}
}

func peerUID(c *net.UnixConn) (uint32, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil || cerr != nil {
		return 0, false
	}
	return cred.Uid, true
}

// Serve serves h on ln until ctx ends, then lets requests under way end
// within grace.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-done
	return nil
}
