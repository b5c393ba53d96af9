package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slack-go/slack"

	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/notify"
)

// Environment variables the Slack notifier reads.
const (
	EnvToken   = "SLACK_TOKEN"
	EnvWebhook = "SLACK_WEBHOOK_URL"
)

// Output tails shown for a hook (Slack cuts long attachments).
const (
	hookLines = 20
	hookBytes = 2500
)

// Options configure a Slack notifier. Token wins over WebhookURL.
type Options struct {
	Channel    string
	Token      string
	WebhookURL string
	// APIURL is Slack's Web API base ("https://slack.com/api/"); tests
	// point it at a fixture.
	APIURL string
	// Client sends the requests; nil is a client of its own. Each send is
	// bounded by its context.
	Client *http.Client
}

// FromPlan reads a slack:// notifier of the plan, its credentials through
// getenv (see the package documentation).
func FromPlan(n plan.Notifier, getenv func(string) string) (Options, error) {
	o := Options{Channel: n.URL.Host}
	if env := n.URL.Query().Get("webhook_env"); env != "" {
		o.WebhookURL = getenv(env)
		if o.WebhookURL == "" {
			return o, fmt.Errorf("notifier %q: webhook_env names %s, which is not set", n.Name, env)
		}
		return o, nil
	}
	o.Token = getenv(EnvToken)
	if o.Token == "" {
		o.WebhookURL = getenv(EnvWebhook)
	}
	if o.Token == "" && o.WebhookURL == "" {
		return o, fmt.Errorf("notifier %q: set %s (a bot token with chat:write) or %s (an incoming webhook), or name the variable with ?webhook_env=", n.Name, EnvToken, EnvWebhook)
	}
	return o, nil
}

// Notifier posts to one Slack channel.
type Notifier struct {
	o    Options
	api  *slack.Client
	name string
}

// New makes a Slack notifier.
func New(o Options) (*Notifier, error) {
	if o.Token == "" && o.WebhookURL == "" {
		return nil, errors.New("slack: a bot token or an incoming webhook URL is needed")
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	n := &Notifier{o: o, name: "slack #" + o.Channel}
	if o.Token != "" {
		opts := []slack.Option{slack.OptionHTTPClient(o.Client)}
		if o.APIURL != "" {
			opts = append(opts, slack.OptionAPIURL(o.APIURL))
		}
		n.api = slack.New(o.Token, opts...)
	} else {
		n.name = "slack incoming webhook (#" + o.Channel + ")"
	}
	return n, nil
}

// Name is "slack #channel" or "slack incoming webhook (#channel)".
func (n *Notifier) Name() string { return n.name }

// Send posts m. A rate limit whose Retry-After fits in ctx is waited out
// and the message sent once more.
func (n *Notifier) Send(ctx context.Context, m notify.Message) error {
	text, atts := Render(m)
	post := func() error {
		if n.api != nil {
			_, _, err := n.api.PostMessageContext(ctx, n.o.Channel, slack.MsgOptionText(text, false), slack.MsgOptionAttachments(atts...))
			return err
		}
		return slack.PostWebhookCustomHTTPContext(ctx, n.o.WebhookURL, n.o.Client, &slack.WebhookMessage{Text: text, Attachments: atts})
	}
	err := post()
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > rl.RetryAfter+time.Second {
			t := time.NewTimer(rl.RetryAfter)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
				err = post()
			}
		}
	}
	if err != nil {
		return n.classify(ctx, err)
	}
	return nil
}

// classify gives err its kind and drops whatever could quote the webhook
// URL (a *url.Error).
func (n *Notifier) classify(ctx context.Context, err error) error {
	var (
		rl   *slack.RateLimitedError
		sc   slack.StatusCodeError
		resp slack.SlackErrorResponse
		ue   *url.Error
	)
	switch {
	case errors.As(err, &rl):
		return notify.Errorf("ratelimited", "slack: rate limited, retry after %s", rl.RetryAfter)
	case errors.As(err, &sc):
		return notify.Errorf("http "+strconv.Itoa(sc.Code), "slack answered %s", sc.Status)
	case errors.As(err, &resp):
		if resp.Err == "ratelimited" {
			return notify.Errorf("ratelimited", "slack: ratelimited")
		}
		return notify.Errorf("slack "+resp.Err, "slack: %s", resp.Err)
	case ctx.Err() != nil:
		return notify.Errorf("timeout", "slack did not answer in time: %v", ctx.Err())
	case errors.As(err, &ue):
		kind := "network"
		if errors.Is(ue.Err, syscall.ECONNREFUSED) {
			kind = "refused"
		}
		return notify.Errorf(kind, "slack: %v", ue.Err)
	}
	msg := err.Error()
	if n.o.WebhookURL != "" {
		msg = strings.ReplaceAll(msg, n.o.WebhookURL, "<incoming webhook URL>")
	}
	return notify.Errorf("error", "slack: %s", msg)
}

// Colors of the attachment's bar.
const (
	colorFailure = "danger"
	colorGood    = "good"
	colorInfo    = "#439FE0"
)

// Render makes the text and attachments of m.
func Render(m notify.Message) (string, []slack.Attachment) {
	color := colorInfo
	switch {
	case m.Failure:
		color = colorFailure
	case m.Kind == notify.KindDeployed || m.Kind == notify.KindRestarted || m.Kind == notify.KindStarted:
		color = colorGood
	}
	text := escape(m.Text)
	main := slack.Attachment{
		Color: color, Fallback: m.Text, Title: m.Title, TitleLink: m.URL, Text: text,
		Footer: "dewy", Ts: jsonTime(m.Time),
	}
	for _, f := range m.Fields() {
		if f.Label == "Time" {
			continue // the footer's ts shows it in the reader's zone
		}
		main.Fields = append(main.Fields, slack.AttachmentField{Title: f.Label, Value: escape(f.Value), Short: true})
	}
	atts := []slack.Attachment{main}
	if h := m.Hook; h != nil {
		hc := colorFailure
		if h.ExitCode == 0 {
			hc = colorGood
		}
		out := notify.Tail(h.Output, hookLines, hookBytes)
		body := "```$ " + escape(h.Command) + "\n" + escape(out) + "```"
		atts = append(atts, slack.Attachment{Color: hc, Fallback: notify.HookHeading(h), Title: notify.HookHeading(h), Text: body, MarkdownIn: []string{"text"}})
	}
	return text, atts
}

// escape makes text literal in Slack's markup, as its documentation asks:
// &, < and > only.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func jsonTime(t time.Time) (n json.Number) {
	if t.IsZero() {
		return ""
	}
	return json.Number(strconv.FormatInt(t.Unix(), 10))
}
