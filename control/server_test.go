package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAgent answers as an engine with the apps web (deployed from a
// registry) and worker (not).
type fakeAgent struct{ calls []string }

func (f *fakeAgent) app(name string) error {
	if name != "web" && name != "worker" {
		return fmt.Errorf("app %q: %w", name, ErrUnknownApp)
	}
	return nil
}

func (f *fakeAgent) Status() Status { return Status{Version: "test", Apps: []AppStatus{{Name: "web"}}} }
func (f *fakeAgent) Restart(_ context.Context, app string) error {
	f.calls = append(f.calls, "restart "+app)
	return f.app(app)
}
func (f *fakeAgent) Deploy(_ context.Context, app, version string) (Deploy, error) {
	f.calls = append(f.calls, "deploy "+app+" "+version)
	if err := f.app(app); err != nil {
		return Deploy{}, err
	}
	if app == "worker" {
		return Deploy{}, fmt.Errorf("app %q: %w", app, ErrNoRegistry)
	}
	if version == "v0.0.0-bad" {
		return Deploy{ID: "01J", Version: version, Result: "failed", Error: "checksum mismatch"}, errors.New("checksum mismatch")
	}
	return Deploy{ID: "01J", Version: "v1.1.0", Result: "deployed"}, nil
}
func (f *fakeAgent) Rollback(_ context.Context, app string) (Deploy, error) {
	return Deploy{}, f.app(app)
}
func (f *fakeAgent) Releases(app string) ([]Release, error) { return nil, f.app(app) }
func (f *fakeAgent) Signal(app, sig string) error {
	if err := f.app(app); err != nil {
		return err
	}
	if sig != "HUP" {
		return fmt.Errorf("%q is not a signal name: %w", sig, ErrBadRequest)
	}
	return nil
}
func (f *fakeAgent) Reload(context.Context) error { return nil }

func TestHandlerAnswers(t *testing.T) {
	srv := httptest.NewServer(Handler(&fakeAgent{}))
	defer srv.Close()
	for _, c := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/v1/status", "", 200, `"version": "test"`},
		{"POST", "/v1/apps/web/restart", "", 200, "web restarted"},
		{"POST", "/v1/apps/web/restart", "{}", 200, "web restarted"},
		{"POST", "/v1/apps/nope/restart", "", 404, `app \"nope\": no such app`},
		{"POST", "/v1/apps/web/deploy", `{"version": "v1.1.0"}`, 200, `"result": "deployed"`},
		{"POST", "/v1/apps/web/deploy", `{"version": "v0.0.0-bad"}`, 500, `"error":"checksum mismatch"`},
		{"POST", "/v1/apps/worker/deploy", "", 409, "not deployed from a registry"},
		{"POST", "/v1/apps/web/deploy", `{"version": `, 400, "not valid JSON"},
		{"POST", "/v1/apps/web/deploy", `{"versoin": "v1"}`, 400, `unknown field \"versoin\"`},
		{"POST", "/v1/apps/web/restart", `{"force": true}`, 400, "not valid JSON"},
		{"POST", "/v1/apps/web/signal", `{"signal": "HUP"}`, 200, "HUP sent to web"},
		{"POST", "/v1/apps/web/signal", `{"signal": "NOPE"}`, 400, "not a signal name"},
		{"POST", "/v1/apps/web/signal", `{}`, 400, "names no signal"},
		{"GET", "/v1/apps/web/releases", "", 200, "[]"},
		{"POST", "/v1/reload", "", 200, "reload applied"},
		{"GET", "/v2/status", "", 404, "not a path of dewy's control API"},
		{"GET", "/v1/apps/web/restart", "", 404, "GET /v1/apps/web/restart is not a path"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, _ = fmt.Fprint(&b, readAll(resp))
		resp.Body.Close()
		if resp.StatusCode != c.code || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.path, c.body, resp.StatusCode, b.String(), c.code, c.want)
		}
		if resp.Header.Get(APIHeader) != APIVersion {
			t.Errorf("%s %s: no %s header", c.method, c.path, APIHeader)
		}
	}
}

func readAll(r *http.Response) string {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// The client against the real socket: answers, API errors with their
// status, and no agent.
func TestClientOverTheSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dewy.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(&fakeAgent{}), 0) }()
	defer func() { cancel(); <-done }()

	c := NewClient(path)
	st, err := c.Status(context.Background())
	if err != nil || st.Version != "test" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	_, err = c.Deploy(context.Background(), "web", "v0.0.0-bad")
	var api *APIError
	if !errors.As(err, &api) || api.Status != 500 || api.Deploy == nil || api.Deploy.Error != "checksum mismatch" {
		t.Fatalf("a failed deploy: %#v", err)
	}
	if _, err := Listen(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second Listen on a live socket: %v", err)
	}
	var nr *NotRunningError
	if _, err := NewClient(path + ".none").Status(context.Background()); !errors.As(err, &nr) {
		t.Fatalf("no socket: %v", err)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"apps":[{"name":"web"`) {
		t.Errorf("status JSON: %s", b)
	}
}
