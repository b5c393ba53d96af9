package main

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/engine/event"
	"github.com/dewyhq/dewy/engine/plan"
	"github.com/dewyhq/dewy/internal/testutil"
	"github.com/dewyhq/dewy/notify"
)

func notifierPlan(t *testing.T, raw map[string]string) *plan.Plan {
	t.Helper()
	p := &plan.Plan{Notifiers: map[string]plan.Notifier{}, Agent: plan.Agent{Notifiers: []string{"ops"}},
		Apps: []plan.App{{Name: "api", Notifiers: []string{"ops", "hook"}}, {Name: "web"}}}
	for name, r := range raw {
		u, err := url.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		p.Notifiers[name] = plan.Notifier{Name: name, Scheme: u.Scheme, URL: u}
	}
	return p
}

// Each scheme makes its notifier; one whose credentials are missing is
// logged and kept as a broken notifier, so the apps run regardless.
func TestStartNotifiers(t *testing.T) {
	p := notifierPlan(t, map[string]string{
		"ops":  "slack://deploys?url=https://status.example.com",
		"mail": "smtp://127.0.0.1:25/ops@example.com?tls=false",
		"hook": "https://hooks.example.com/dewy?token=t0ken",
	})
	var buf testutil.SyncBuffer
	ns := startNotifiers(p, event.NewBus(), func(string) string { return "" }, "web-1", "v1", zerolog.New(&buf).Level(zerolog.DebugLevel))
	defer ns.stop()
	log := buf.String()
	if !strings.Contains(log, `"notifier":"ops"`) || !strings.Contains(log, "SLACK_TOKEN") || !strings.Contains(log, "cannot be used") {
		t.Errorf("the Slack notifier without a token is not reported:\n%s", log)
	}
	for _, want := range []string{`"to":"mail to ops@example.com via 127.0.0.1:25"`, `"to":"webhook https://hooks.example.com/dewy"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	if strings.Contains(log, "t0ken") {
		t.Errorf("the log shows the webhook's token:\n%s", log)
	}
	if got := len(ns.d.Stats()); got != 3 {
		t.Errorf("%d notifiers, want 3", got)
	}
	want := notify.Routes{Apps: map[string][]string{"api": {"ops", "hook"}, "web": nil}, Agent: []string{"ops"}}
	if diff := cmp.Diff(want, routesOf(p)); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

// A reload names the notifier blocks that changed, which wait for a
// restart of dewy; routes alone change quietly.
func TestNotifiersApplied(t *testing.T) {
	old := notifierPlan(t, map[string]string{"ops": "https://a.example.com/x", "hook": "https://b.example.com/x"})
	var buf testutil.SyncBuffer
	ns := startNotifiers(old, event.NewBus(), func(string) string { return "" }, "web-1", "v1", zerolog.New(&buf))
	defer ns.stop()

	same := notifierPlan(t, map[string]string{"ops": "https://a.example.com/x", "hook": "https://b.example.com/x"})
	same.Apps[1].Notifiers = []string{"hook"}
	ns.applied(same)
	if strings.Contains(buf.String(), "notifier blocks changed") {
		t.Errorf("a routing change is reported as a notifier change:\n%s", buf.String())
	}
	next := notifierPlan(t, map[string]string{"ops": "https://a.example.com/y", "new": "https://c.example.com/x"})
	ns.applied(next)
	if !strings.Contains(buf.String(), `"notifiers":["hook","new","ops"],"message":"reload: notifier blocks changed`) {
		t.Errorf("changed notifiers not named:\n%s", buf.String())
	}
}
