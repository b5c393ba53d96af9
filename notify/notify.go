package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/event"
)

// Notifier delivers messages to one place (a Slack channel, mailboxes, a
// webhook). Send is called from one goroutine at a time per Notifier and
// must return when ctx ends. Neither Name nor the errors of Send may
// contain a credential: they are logged.
type Notifier interface {
	Send(ctx context.Context, m Message) error
	// Name says where messages go, for the log: "slack #deploys",
	// "mail to ops@example.com via smtp.example.com:587".
	Name() string
}

// Kinds of events the Dispatcher treats specially. They are the engine's
// (engine/dispatch.go, engine/deploy, actions), repeated here so this
// package stays beside the engine rather than inside it.
const (
	KindStarted    = "started"
	KindStopped    = "stopped"
	KindDeployed   = "deployed"
	KindRolledBack = "rolled_back"
	KindRestarted  = "restarted"
	// KindSuppressed is the Dispatcher's own message: three errors in a
	// row, the next ones are held back.
	KindSuppressed = "suppressed"
)

// Message is one notification: an event, where it happened, and how the
// notifier is to title it.
type Message struct {
	// Kind is the event's kind ("deployed", "stopped", ...).
	Kind string
	// Text is what happened, one line: "api: v1.2.0 deployed".
	Text string
	// Apps are the apps the event is about; none for dewy's own errors.
	Apps []string
	// Version is the release the event is about ("" for none).
	Version string
	// ID is the ULID to look for in the log: the deploy's when the event
	// belongs to a deploy (every message of one deploy carries the same),
	// else the event's own.
	ID string
	// EventID is the event's own ULID; DeployID the deploy's ("" for none).
	EventID  string
	DeployID string
	Host     string
	Time     time.Time
	// Failure marks something that went wrong.
	Failure bool
	// Title heads the message ("" for none) and URL is a link to show
	// with it (the notifier's title and url options).
	Title string
	URL   string
	// Hook is a deploy hook's result, for hook events.
	Hook *actions.HookResult
}

// NewMessage makes the message of an event on host.
func NewMessage(e event.Event, host string) Message {
	m := Message{
		Kind: e.Kind, Text: e.Message, Apps: append([]string(nil), e.Apps...), Version: e.Version,
		EventID: e.ID.String(), DeployID: e.DeployID, Host: host, Time: e.Time, Failure: e.Failure, Hook: e.Hook,
	}
	m.ID = m.EventID
	if m.DeployID != "" {
		m.ID = m.DeployID
	}
	return m
}

// App names the apps of the message: "api", "api, worker", or "" for dewy
// itself.
func (m Message) App() string { return strings.Join(m.Apps, ", ") }

// Field is one labelled value of a message, in the order notifiers show
// them.
type Field struct{ Label, Value string }

// Fields are the message's details that are set: app, version, host, ID,
// time.
func (m Message) Fields() []Field {
	var out []Field
	add := func(label, v string) {
		if v != "" {
			out = append(out, Field{label, v})
		}
	}
	add("App", m.App())
	add("Version", m.Version)
	add("Host", m.Host)
	add("ID", m.ID)
	if !m.Time.IsZero() {
		add("Time", m.Time.UTC().Format(time.RFC3339))
	}
	return out
}

// HookHeading sums a hook result up: "before_deploy hook failed: exit 1
// after 2.1s".
func HookHeading(h *actions.HookResult) string {
	status := fmt.Sprintf("exit %d", h.ExitCode)
	if h.ExitCode < 0 {
		status = "killed or not started"
	}
	verdict := "failed"
	if h.ExitCode == 0 {
		verdict = "ran"
	}
	return fmt.Sprintf("%s hook %s: %s after %s", h.Name, verdict, status, h.Duration.Round(time.Millisecond))
}

// Tail returns the end of s: at most lines lines and maxBytes bytes (cut
// at a line, or a rune, boundary), with a first line saying how much was
// left out.
func Tail(s string, lines, maxBytes int) string {
	s = strings.TrimRight(s, "\n")
	cut := 0
	if len(s) > maxBytes {
		i := len(s) - maxBytes
		for i < len(s) && (s[i]&0xC0) == 0x80 {
			i++ // not inside a rune
		}
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 && j < len(s)-i-1 {
			i += j + 1
		}
		cut += i
		s = s[i:]
	}
	if n := strings.Count(s, "\n") + 1; n > lines {
		i := 0
		for range n - lines {
			i += strings.IndexByte(s[i:], '\n') + 1
		}
		cut += i
		s = s[i:]
	}
	if cut > 0 {
		return fmt.Sprintf("[… %d bytes before]\n%s", cut, s)
	}
	return s
}

// SendError is a failed send with its kind: what the Dispatcher logs once
// until a message gets through again ("ratelimited", "http 500", "auth",
// "refused", "timeout").
type SendError struct {
	Kind string
	Err  error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Errorf makes a SendError of kind; err's text must hold no credential.
func Errorf(kind, format string, args ...any) error {
	return &SendError{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// FailureKind is the kind of a send's error: its SendError's, "timeout"
// when its context ran out, else "error".
func FailureKind(err error) string {
	var se *SendError
	switch {
	case errors.As(err, &se) && se.Kind != "":
		return se.Kind
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "error"
}

// Broken is a notifier that could not be made (a token missing from the
// environment): every send fails with err, so the failure is logged once
// and counted like any other.
func Broken(name string, err error) Notifier { return broken{name, err} }

type broken struct {
	name string
	err  error
}

func (b broken) Name() string { return b.name }
func (b broken) Send(context.Context, Message) error {
	return &SendError{Kind: "not configured", Err: b.err}
}
