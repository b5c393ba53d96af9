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
	"net/url"
	"syscall"
)

// Client talks to a running agent's control socket.
type Client struct {
	path string
	http *http.Client
}

// NewClient returns the client of the socket at path. Nothing is dialled
// until a call.
func NewClient(path string) *Client {
	return &Client{path: path, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}}
}

// NotRunningError says no agent answers on the socket.
type NotRunningError struct {
	Path string
	Err  error
}

func (e *NotRunningError) Error() string {
	why := "nothing listens there"
	switch {
	case errors.Is(e.Err, syscall.ENOENT):
		why = "the socket does not exist"
	case errors.Is(e.Err, syscall.EACCES):
		why = "permission denied (the socket is dewy's user's only: run as that user or root)"
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		why = "nobody answers (a stale socket?)"
	}
	return fmt.Sprintf("no dewy agent answers on %s: %s", e.Path, why)
}

func (e *NotRunningError) Unwrap() error { return e.Err }

// ErrNotDewy is returned (wrapped) when the socket answers but is not a
// dewy control socket.
var ErrNotDewy = errors.New("not a dewy control socket")

// APIError is an error the agent answered.
type APIError struct {
	Status  int
	Message string
	// Deploy is the deploy the error is about, if any.
	Deploy *Deploy
}

func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://dewy"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return &NotRunningError{Path: c.path, Err: op.Err}
		}
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.Header.Get(APIHeader) == "" {
		return fmt.Errorf("%s answers, but it is %w (no %s header; status %s)", c.path, ErrNotDewy, APIHeader, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("control socket %s: read the answer: %w", c.path, err)
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error  string  `json:"error"`
			Deploy *Deploy `json:"deploy"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = resp.Status
		}
		return &APIError{Status: resp.StatusCode, Message: eb.Error, Deploy: eb.Deploy}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("control socket %s: the answer is not what dewy v%s sends: %w", c.path, APIVersion, err)
		}
	}
	return nil
}

// Status returns the agent's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

func appPath(app, what string) string { return "/v1/apps/" + url.PathEscape(app) + "/" + what }

// Restart restarts app gracefully and waits for the result.
func (c *Client) Restart(ctx context.Context, app string) (Result, error) {
	var r Result
	err := c.do(ctx, http.MethodPost, appPath(app, "restart"), nil, &r)
	return r, err
}

// Deploy deploys the newest release of app (or version) and waits for
// the result.
func (c *Client) Deploy(ctx context.Context, app, version string) (Result, error) {
	var r Result
	err := c.do(ctx, http.MethodPost, appPath(app, "deploy"), DeployRequest{Version: version}, &r)
	return r, err
}

// Rollback rolls app back to its previous kept release.
func (c *Client) Rollback(ctx context.Context, app string) (Result, error) {
	var r Result
	err := c.do(ctx, http.MethodPost, appPath(app, "rollback"), nil, &r)
	return r, err
}

// Releases lists app's kept releases.
func (c *Client) Releases(ctx context.Context, app string) ([]Release, error) {
	var r []Release
	err := c.do(ctx, http.MethodGet, appPath(app, "releases"), nil, &r)
	return r, err
}

// Signal sends sig to app's current worker.
func (c *Client) Signal(ctx context.Context, app, sig string) (Result, error) {
	var r Result
	err := c.do(ctx, http.MethodPost, appPath(app, "signal"), SignalRequest{Signal: sig}, &r)
	return r, err
}

// Reload makes the agent re-read its config file.
func (c *Client) Reload(ctx context.Context) (Result, error) {
	var r Result
	err := c.do(ctx, http.MethodPost, "/v1/reload", nil, &r)
	return r, err
}

// Get fetches another path of the socket (the metrics) as text.
func (c *Client) Get(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://dewy"+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return "", &NotRunningError{Path: c.path, Err: op.Err}
		}
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", c.path, path, resp.Status)
	}
	return string(b), err
}
