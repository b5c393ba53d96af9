package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/notify"
)

const secret = "s3cr3t-signing-key"

func message() notify.Message {
	return notify.Message{
		Kind: "hook_failed", Text: "api: before_deploy hook failed", Apps: []string{"api"}, Version: "v1.2.0",
		ID: "01DEPLOY", EventID: "01EVENT", DeployID: "01DEPLOY", Host: "web-1", Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
		Failure: true, Title: "API", URL: "https://status.example.com",
		Hook: &actions.HookResult{Name: "before_deploy", Command: "pg_dump api", ExitCode: 1, Duration: 2100 * time.Millisecond, Output: "dump failed\n"},
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The receiver checks the signature over the exact body and reads every
// field of the message.
func TestSignedBody(t *testing.T) {
	got := make(chan Body, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !Verify(secret, body, r.Header.Get(SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Dewy-Event") != "hook_failed" || r.Header.Get("X-Dewy-Delivery") != "01EVENT" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		var b Body
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	n, err := New(Options{URL: mustURL(t, srv.URL+"/dewy?token=abc"), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	want := Body{Kind: "hook_failed", Message: "api: before_deploy hook failed", App: "api", Apps: []string{"api"}, Version: "v1.2.0", Host: "web-1",
		ID: "01DEPLOY", EventID: "01EVENT", DeployID: "01DEPLOY", Time: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), Failure: true,
		Title: "API", URL: "https://status.example.com",
		Hook: &Hook{Name: "before_deploy", Command: "pg_dump api", ExitCode: 1, DurationMS: 2100, Output: "dump failed"}}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}

	// A wrong key is refused by the receiver: the signature is real.
	bad, _ := New(Options{URL: mustURL(t, srv.URL), Secret: "other"})
	if err := bad.Send(context.Background(), message()); notify.FailureKind(err) != "http 401" {
		t.Errorf("signed with another key: %v (%s), want http 401", err, notify.FailureKind(err))
	}
	// Without a secret there is no signature header.
	unsigned, _ := New(Options{URL: mustURL(t, srv.URL)})
	if err := unsigned.Send(context.Background(), message()); notify.FailureKind(err) != "http 401" {
		t.Errorf("unsigned: %v, want http 401", err)
	}
}

func TestFailures(t *testing.T) {
	hang := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/429", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "slow down", 429)
	})
	mux.HandleFunc("/302", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) })
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { t.Error("a redirect was followed") })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for the handlers

	// A port nothing listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		path, kind string
	}{
		{srv.URL + "/500?token=TOKEN123", "http 500"},
		{srv.URL + "/429?token=TOKEN123", "ratelimited"},
		{srv.URL + "/302?token=TOKEN123", "http 302"},
		{srv.URL + "/hang?token=TOKEN123", "timeout"},
		{down + "/x?token=TOKEN123", "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			n, err := New(Options{URL: mustURL(t, strings.Replace(tt.path, "http://", "http://user:PASS456@", 1)), Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			begin := time.Now()
			err = n.Send(ctx, message())
			if took := time.Since(begin); took > 2*time.Second {
				t.Errorf("send took %s, bounded by 300ms", took)
			}
			if got := notify.FailureKind(err); got != tt.kind {
				t.Errorf("kind %q (%v), want %q", got, err, tt.kind)
			}
			for _, s := range []string{"TOKEN123", "PASS456", secret} {
				if strings.Contains(err.Error(), s) || strings.Contains(n.Name(), s) {
					t.Errorf("error %q or name %q shows a credential", err, n.Name())
				}
			}
		})
	}
}

func TestFromPlan(t *testing.T) {
	u := mustURL(t, "https://hooks.example.com/dewy")
	env := map[string]string{"HOOK_SECRET": "from-env"}
	getenv := func(k string) string { return env[k] }
	o, err := FromPlan(plan.Notifier{Name: "h", URL: u, SecretEnv: "HOOK_SECRET"}, getenv)
	if err != nil || o.Secret != "from-env" {
		t.Errorf("secret_env: %q, %v", o.Secret, err)
	}
	o, err = FromPlan(plan.Notifier{Name: "h", URL: u, Secret: "in-file"}, getenv)
	if err != nil || o.Secret != "in-file" {
		t.Errorf("secret: %q, %v", o.Secret, err)
	}
	if _, err := FromPlan(plan.Notifier{Name: "h", URL: u, SecretEnv: "UNSET"}, getenv); err == nil || !strings.Contains(err.Error(), "UNSET") {
		t.Errorf("an unset secret_env: %v", err)
	}
	n, _ := New(Options{URL: mustURL(t, "https://u:p@hooks.example.com/dewy?token=t")})
	if n.Name() != "webhook https://hooks.example.com/dewy" {
		t.Errorf("name %q", n.Name())
	}
}
