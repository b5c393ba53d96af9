package slack

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/notify"
)

const (
	token      = "xoxb-1234-5678-SECRETTOKEN"
	webhookTok = "T000/B000/SECRETHOOK"
)

// fixture answers as Slack's documented API does: chat.postMessage with
// its form body and {"ok": ...} answers (errors in "error", HTTP 429 with
// Retry-After when rate limited), and incoming webhooks answering "ok" or
// an error text. mode picks the answer; posts records what was accepted.
type fixture struct {
	*httptest.Server
	mu    sync.Mutex
	mode  string
	calls int
	posts []post
}

type post struct {
	Channel, Text string
	Attachments   []slack.Attachment
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{mode: "ok"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls++
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("token") != token && r.Header.Get("Authorization") != "Bearer "+token {
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		switch f.mode {
		case "429 once":
			f.mode = "ok"
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		case "429":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		case "ratelimited":
			io.WriteString(w, `{"ok":false,"error":"ratelimited"}`)
			return
		case "500":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(500)
			io.WriteString(w, "<html>Internal Server Error</html>")
			return
		case "channel_not_found":
			io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
			return
		case "hang":
			f.mu.Unlock()
			<-r.Context().Done()
			f.mu.Lock()
			return
		}
		var atts []slack.Attachment
		if err := json.Unmarshal([]byte(r.PostForm.Get("attachments")), &atts); err != nil {
			io.WriteString(w, `{"ok":false,"error":"invalid_attachments"}`)
			return
		}
		f.posts = append(f.posts, post{Channel: r.PostForm.Get("channel"), Text: r.PostForm.Get("text"), Attachments: atts})
		io.WriteString(w, `{"ok":true,"channel":"C0123","ts":"1503435956.000247","message":{"text":"x","type":"message","ts":"1503435956.000247"}}`)
	})
	mux.HandleFunc("POST /services/"+webhookTok, func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls++
		switch f.mode {
		case "500":
			w.WriteHeader(500)
			io.WriteString(w, "internal_error")
			return
		case "429":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
			io.WriteString(w, "rate_limited")
			return
		}
		var p post
		var body slack.WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			io.WriteString(w, "invalid_payload")
			return
		}
		p.Text, p.Attachments = body.Text, body.Attachments
		f.posts = append(f.posts, p)
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		io.WriteString(w, "no_service")
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fixture) set(mode string) {
	f.mu.Lock()
	f.mode, f.calls = mode, 0
	f.mu.Unlock()
}

func (f *fixture) last(t *testing.T) post {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.posts) == 0 {
		t.Fatal("nothing posted")
	}
	return f.posts[len(f.posts)-1]
}

func message() notify.Message {
	return notify.Message{
		Kind: "hook_failed", Text: "api: before_deploy hook of v1.2.0 failed <exit 1>", Apps: []string{"api"}, Version: "v1.2.0",
		ID: "01DEPLOY", EventID: "01EVENT", DeployID: "01DEPLOY", Host: "web-1", Time: time.Unix(1700000000, 0),
		Failure: true, Title: "API prod", URL: "https://status.example.com",
		Hook: &actions.HookResult{Name: "before_deploy", Command: "pg_dump api > /backup/api.sql", ExitCode: 1, Duration: 2100 * time.Millisecond, Output: "pg_dump: error: connection refused\n"},
	}
}

func TestBotTokenPostsTheMessage(t *testing.T) {
	f := newFixture(t)
	n, err := New(Options{Channel: "deploys", Token: token, APIURL: f.URL + "/api/"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	p := f.last(t)
	if p.Channel != "deploys" || p.Text != "api: before_deploy hook of v1.2.0 failed &lt;exit 1&gt;" {
		t.Errorf("channel %q text %q", p.Channel, p.Text)
	}
	if len(p.Attachments) != 2 {
		t.Fatalf("attachments %+v", p.Attachments)
	}
	main, hook := p.Attachments[0], p.Attachments[1]
	if main.Title != "API prod" || main.TitleLink != "https://status.example.com" || main.Color != "danger" || main.Ts != "1700000000" {
		t.Errorf("main attachment %+v", main)
	}
	fields := map[string]string{}
	for _, fl := range main.Fields {
		fields[fl.Title] = fl.Value
	}
	for k, v := range map[string]string{"App": "api", "Version": "v1.2.0", "Host": "web-1", "ID": "01DEPLOY"} {
		if fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, fields[k], v)
		}
	}
	if hook.Title != "before_deploy hook failed: exit 1 after 2.1s" || !strings.Contains(hook.Text, "$ pg_dump api &gt; /backup/api.sql\npg_dump: error: connection refused") {
		t.Errorf("hook attachment %+v", hook)
	}
}

func TestIncomingWebhook(t *testing.T) {
	f := newFixture(t)
	n, err := New(Options{Channel: "deploys", WebhookURL: f.URL + "/services/" + webhookTok})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	if p := f.last(t); !strings.HasPrefix(p.Text, "api: before_deploy") || len(p.Attachments) != 2 {
		t.Errorf("posted %+v", p)
	}
	if strings.Contains(n.Name(), "SECRETHOOK") {
		t.Errorf("name %q shows the webhook URL", n.Name())
	}
}

// Slack's failures have kinds, are bounded by the send's context, and
// never quote the token or the webhook's URL.
func TestFailures(t *testing.T) {
	f := newFixture(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String()
	ln.Close()
	bot := func(api string) *Notifier {
		n, _ := New(Options{Channel: "deploys", Token: token, APIURL: api})
		return n
	}
	hook := func(u string) *Notifier {
		n, _ := New(Options{Channel: "deploys", WebhookURL: u})
		return n
	}
	tests := []struct {
		name, mode string
		n          *Notifier
		kind       string
		calls      int
	}{
		{"429 beyond the deadline", "429", bot(f.URL + "/api/"), "ratelimited", 1},
		{"ratelimited in the body", "ratelimited", bot(f.URL + "/api/"), "ratelimited", 1},
		{"500", "500", bot(f.URL + "/api/"), "http 500", 1},
		{"unknown channel", "channel_not_found", bot(f.URL + "/api/"), "slack channel_not_found", 1},
		{"bad token", "ok", func() *Notifier {
			n, _ := New(Options{Channel: "d", Token: "xoxb-wrong-SECRETTOKEN", APIURL: f.URL + "/api/"})
			return n
		}(), "slack invalid_auth", 1},
		{"hangs", "hang", bot(f.URL + "/api/"), "timeout", 1},
		{"down", "ok", bot(down + "/api/"), "refused", 0},
		{"webhook 500", "500", hook(f.URL + "/services/" + webhookTok), "http 500", 1},
		{"webhook 429", "429", hook(f.URL + "/services/" + webhookTok), "ratelimited", 1},
		{"webhook down", "ok", hook(down + "/services/" + webhookTok), "refused", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(tt.mode)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			begin := time.Now()
			err := tt.n.Send(ctx, message())
			if took := time.Since(begin); took > 3*time.Second {
				t.Errorf("send took %s past its 2s bound", took)
			}
			if got := notify.FailureKind(err); got != tt.kind {
				t.Errorf("kind %q (%v), want %q", got, err, tt.kind)
			}
			if err != nil && (strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "xoxb")) {
				t.Errorf("error %q shows a credential", err)
			}
			f.mu.Lock()
			calls := f.calls
			f.mu.Unlock()
			if calls != tt.calls {
				t.Errorf("%d calls, want %d", calls, tt.calls)
			}
		})
	}
}

// A rate limit whose Retry-After fits in the send's time is waited out.
func TestRateLimitRetried(t *testing.T) {
	f := newFixture(t)
	f.set("429 once")
	n, _ := New(Options{Channel: "deploys", Token: token, APIURL: f.URL + "/api/"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Send(ctx, message()); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls != 2 || len(f.posts) != 1 {
		t.Errorf("%d calls, %d posts; want 2 and 1", f.calls, len(f.posts))
	}
}

func TestFromPlan(t *testing.T) {
	u := func(raw string) plan.Notifier {
		p, _ := url.Parse(raw)
		return plan.Notifier{Name: "ops", URL: p}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name string
		n    plan.Notifier
		env  map[string]string
		want Options
		err  string
	}{
		{"token", u("slack://deploys"), map[string]string{"SLACK_TOKEN": "t", "SLACK_WEBHOOK_URL": "w"}, Options{Channel: "deploys", Token: "t"}, ""},
		{"webhook fallback", u("slack://deploys"), map[string]string{"SLACK_WEBHOOK_URL": "w"}, Options{Channel: "deploys", WebhookURL: "w"}, ""},
		{"webhook_env", u("slack://deploys?webhook_env=OPS_HOOK"), map[string]string{"SLACK_TOKEN": "t", "OPS_HOOK": "h"}, Options{Channel: "deploys", WebhookURL: "h"}, ""},
		{"webhook_env unset", u("slack://deploys?webhook_env=OPS_HOOK"), nil, Options{}, "OPS_HOOK, which is not set"},
		{"nothing", u("slack://deploys"), nil, Options{}, "set SLACK_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromPlan(tt.n, env(tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
