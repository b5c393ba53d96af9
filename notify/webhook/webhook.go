package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/notify"
)

// SignatureHeader carries "sha256=<hex>" of the body's HMAC-SHA256.
const SignatureHeader = "X-Dewy-Signature"

// maxOutput bounds a hook's output in the body.
const maxOutput = 16 << 10

// Options configure a webhook.
type Options struct {
	URL *url.URL
	// Secret signs every body; empty sends them unsigned.
	Secret string
	// Client sends the requests (tests); nil makes one that does not
	// follow redirects. Each send is bounded by its context.
	Client *http.Client
	// UserAgent is sent as User-Agent ("dewy").
	UserAgent string
}

// FromPlan reads a webhook notifier of the plan: its URL, and its secret
// (secret_env read through getenv). A secret_env that is unset or empty is
// an error: signing was asked for.
func FromPlan(n plan.Notifier, getenv func(string) string) (Options, error) {
	o := Options{URL: n.URL, Secret: n.Secret}
	if n.SecretEnv != "" {
		o.Secret = getenv(n.SecretEnv)
		if o.Secret == "" {
			return o, fmt.Errorf("notifier %q: secret_env names %s, which is not set", n.Name, n.SecretEnv)
		}
	}
	return o, nil
}

// Notifier posts to one webhook.
type Notifier struct {
	o    Options
	name string
}

// New makes a webhook notifier.
func New(o Options) (*Notifier, error) {
	if o.URL == nil || (o.URL.Scheme != "http" && o.URL.Scheme != "https") || o.URL.Host == "" {
		return nil, errors.New("webhook: an http(s) URL with a host is needed")
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.UserAgent == "" {
		o.UserAgent = "dewy"
	}
	// The name shows the scheme, host and path: the query and a userinfo
	// may hold the receiver's token.
	shown := url.URL{Scheme: o.URL.Scheme, Host: o.URL.Host, Path: o.URL.Path}
	return &Notifier{o: o, name: "webhook " + shown.String()}, nil
}

// Name is "webhook https://host/path" (no query, no credentials).
func (n *Notifier) Name() string { return n.name }

// Body is the JSON object a webhook receives.
type Body struct {
	Kind     string    `json:"kind"`
	Message  string    `json:"message"`
	App      string    `json:"app,omitempty"`
	Apps     []string  `json:"apps,omitempty"`
	Version  string    `json:"version,omitempty"`
	Host     string    `json:"host"`
	ID       string    `json:"id"`
	EventID  string    `json:"event_id"`
	DeployID string    `json:"deploy_id,omitempty"`
	Time     time.Time `json:"time"`
	Failure  bool      `json:"failure"`
	Title    string    `json:"title,omitempty"`
	URL      string    `json:"url,omitempty"`
	Hook     *Hook     `json:"hook,omitempty"`
}

// Hook is a deploy hook's result in a Body.
type Hook struct {
	Name       string `json:"name"`
	Command    string `json:"command"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	Output     string `json:"output"`
}

// BodyOf is the body of m.
func BodyOf(m notify.Message) Body {
	b := Body{Kind: m.Kind, Message: m.Text, App: m.App(), Apps: m.Apps, Version: m.Version, Host: m.Host, ID: m.ID,
		EventID: m.EventID, DeployID: m.DeployID, Time: m.Time.UTC(), Failure: m.Failure, Title: m.Title, URL: m.URL}
	if h := m.Hook; h != nil {
		b.Hook = &Hook{Name: h.Name, Command: h.Command, ExitCode: h.ExitCode, DurationMS: h.Duration.Milliseconds(), Output: notify.Tail(h.Output, 1<<20, maxOutput)}
	}
	return b
}

// Sign returns the X-Dewy-Signature value of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify says whether header is body's signature under secret (for
// receivers written in Go, and the tests).
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(Sign(secret, body)))
}

// Send posts m; it returns when the receiver answered or ctx ended.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	body, err := json.Marshal(BodyOf(m))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL.String(), bytes.NewReader(body))
	if err != nil {
		return notify.Errorf("request", "webhook: cannot make the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", n.o.UserAgent)
	req.Header.Set("X-Dewy-Event", m.Kind)
	req.Header.Set("X-Dewy-Delivery", m.EventID)
	if n.o.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(n.o.Secret, body))
	}
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return transportError(ctx, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return notify.Errorf("ratelimited", "webhook answered %s (Retry-After %q)", resp.Status, resp.Header.Get("Retry-After"))
	default:
		return notify.Errorf(fmt.Sprintf("http %d", resp.StatusCode), "webhook answered %s", resp.Status)
	}
}

// transportError names what failed without the URL (*url.Error quotes it,
// and a webhook's URL may carry a token).
func transportError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case ctx.Err() != nil:
		return notify.Errorf("timeout", "webhook did not answer in time: %v", ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED):
		return notify.Errorf("refused", "webhook: %v", err)
	}
	return notify.Errorf("network", "webhook: %v", err)
}
