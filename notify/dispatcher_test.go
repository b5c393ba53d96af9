package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/engine"
	"github.com/dewyhq/dewy/engine/deploy"
	"github.com/dewyhq/dewy/engine/event"
	"github.com/dewyhq/dewy/engine/ids"
	"github.com/dewyhq/dewy/internal/testutil"
)

// fake records what it was sent; fail, when set, decides each send's
// error, and block makes sends wait for ctx (or release).
type fake struct {
	name    string
	mu      sync.Mutex
	got     []Message
	fail    func(Message) error
	block   bool
	release chan struct{}
}

func (f *fake) Name() string { return "fake " + f.name }

func (f *fake) Send(ctx context.Context, m Message) error {
	if f.block {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.release:
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(m); err != nil {
			return err
		}
	}
	f.got = append(f.got, m)
	return nil
}

// texts are the texts received so far.
func (f *fake) texts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.got {
		out = append(out, m.Text)
	}
	return out
}

func (f *fake) messages() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.got...)
}

type harness struct {
	bus  *event.Bus
	ids  *ids.Source
	d    *Dispatcher
	log  *testutil.SyncBuffer
	done chan struct{}
}

func start(t *testing.T, o Options) *harness {
	t.Helper()
	h := &harness{bus: event.NewBus(), ids: ids.NewSource(), log: &testutil.SyncBuffer{}, done: make(chan struct{})}
	o.Logger = zerolog.New(h.log)
	if o.Host == "" {
		o.Host = "web-1"
	}
	h.d = New(h.bus, o)
	go func() {
		defer close(h.done)
		if err := h.d.Run(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.d.Close(ctx)
		<-h.done
	})
	return h
}

func (h *harness) publish(ev actions.Event) event.Event {
	id := h.ids.New()
	e := event.Event{ID: id, Time: time.UnixMilli(int64(id.Time())), Event: ev}
	h.bus.Publish(e)
	return e
}

// close delivers what is queued, as dewy does at exit.
func (h *harness) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-h.done
}

// The kinds this package treats specially are the engine's.
func TestKindsAreTheEngines(t *testing.T) {
	pairs := [][2]string{
		{KindStarted, engine.EventStarted}, {KindStopped, engine.EventStopped},
		{KindDeployed, deploy.EventDeployed}, {KindRolledBack, deploy.EventRolledBack},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("kind %q here, %q in the engine", p[0], p[1])
		}
	}
}

// An app's notifiers hear that app's events; the agent's hear dewy's own
// and every app's; dewy's own events (about every app) reach the apps'
// notifiers too, once per notifier.
func TestRouting(t *testing.T) {
	ops, api, agent := &fake{name: "ops"}, &fake{name: "api"}, &fake{name: "agent"}
	h := start(t, Options{
		Targets: []Target{{Name: "ops", Notifier: ops}, {Name: "api", Notifier: api, Title: "API", URL: "https://status.example.com"}, {Name: "agent", Notifier: agent}},
		Routes:  Routes{Apps: map[string][]string{"api": {"api", "ops"}, "worker": {"ops"}}, Agent: []string{"agent"}},
	})
	h.publish(actions.Event{Kind: "started", Message: "dewy v1 with /etc/dewy.hcl started: 2/2 apps running", Apps: []string{"api", "worker"}})
	dep := h.publish(actions.Event{Kind: "deployed", Message: "api: v1.2.0 deployed", Apps: []string{"api"}, Version: "v1.2.0", DeployID: "01DEPLOY"})
	h.publish(actions.Event{Kind: "restarted", Message: "restarted by SIGUSR1", Apps: []string{"worker"}})
	h.publish(actions.Event{Kind: "other", Message: "an app nobody routes", Apps: []string{"batch"}})
	h.publish(actions.Event{Kind: "stopped", Message: "stopped by SIGTERM", Apps: []string{"api", "worker"}})
	h.close(t)

	want := map[*fake][]string{
		ops:   {"dewy v1 with /etc/dewy.hcl started: 2/2 apps running", "api: v1.2.0 deployed", "restarted by SIGUSR1", "stopped by SIGTERM"},
		api:   {"dewy v1 with /etc/dewy.hcl started: 2/2 apps running", "api: v1.2.0 deployed", "stopped by SIGTERM"},
		agent: {"dewy v1 with /etc/dewy.hcl started: 2/2 apps running", "api: v1.2.0 deployed", "restarted by SIGUSR1", "an app nobody routes", "stopped by SIGTERM"},
	}
	for f, w := range want {
		if diff := cmp.Diff(w, f.texts()); diff != "" {
			t.Errorf("%s heard (-want +got):\n%s", f.name, diff)
		}
	}
	m := api.messages()[1]
	wantMsg := Message{Kind: "deployed", Text: "api: v1.2.0 deployed", Apps: []string{"api"}, Version: "v1.2.0", ID: "01DEPLOY",
		EventID: dep.ID.String(), DeployID: "01DEPLOY", Host: "web-1", Time: dep.Time, Title: "API", URL: "https://status.example.com"}
	if diff := cmp.Diff(wantMsg, m); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	if got := ops.messages()[2].ID; got != ops.messages()[2].EventID || got == "" {
		t.Errorf("an event outside a deploy has its own ULID as ID, got %q", got)
	}
}

// Quiet keeps failures, deploys, rollbacks and the stop.
func TestQuiet(t *testing.T) {
	q := &fake{name: "quiet"}
	h := start(t, Options{Targets: []Target{{Name: "q", Notifier: q, Quiet: true}}, Routes: Routes{Agent: []string{"q"}}})
	for _, ev := range []actions.Event{
		{Kind: "started", Message: "started"},
		{Kind: "deploy_started", Message: "deploying", Apps: []string{"api"}},
		{Kind: "downloaded", Message: "downloaded", Apps: []string{"api"}},
		{Kind: "deployed", Message: "deployed", Apps: []string{"api"}},
		{Kind: "restarted", Message: "restarted by SIGUSR1", Apps: []string{"api"}},
		{Kind: "crash_loop", Message: "crash loop", Apps: []string{"api"}, Failure: true},
		{Kind: "rolled_back", Message: "rolled back", Apps: []string{"api"}},
		{Kind: "exited", Message: "exited", Apps: []string{"api"}},
		{Kind: "stopped", Message: "stopped by SIGTERM"},
	} {
		h.publish(ev)
	}
	h.close(t)
	if diff := cmp.Diff([]string{"deployed", "crash loop", "rolled back", "stopped by SIGTERM"}, q.texts()); diff != "" {
		t.Errorf("quiet notifier heard (-want +got):\n%s", diff)
	}
	if got := h.d.Stats()["q"]; got.Held != 5 || got.Sent != 4 {
		t.Errorf("stats %+v, want 5 held and 4 sent", got)
	}
}

// Three errors of an app in a row are sent, then one message says the
// next are suppressed; they are (with the app's other events of the
// failing loop) until the app works again. Another app, and dewy's stop,
// are not affected.
func TestThreeErrorsInARow(t *testing.T) {
	f := &fake{name: "ops"}
	h := start(t, Options{Targets: []Target{{Name: "ops", Notifier: f}}, Routes: Routes{Apps: map[string][]string{"api": {"ops"}, "web": {"ops"}}}})
	fail := func(n int) actions.Event {
		return actions.Event{Kind: "deploy_failed", Message: fmt.Sprintf("api: deploy of v2 failed (%d)", n), Apps: []string{"api"}, Failure: true}
	}
	for i := 1; i <= 3; i++ {
		h.publish(actions.Event{Kind: "deploy_started", Message: fmt.Sprintf("api: deploying v2 (%d)", i), Apps: []string{"api"}})
		h.publish(fail(i))
	}
	h.publish(actions.Event{Kind: "deploy_started", Message: "api: deploying v2 (4)", Apps: []string{"api"}})
	h.publish(fail(4))
	h.publish(actions.Event{Kind: "crash_loop", Message: "web: crash loop", Apps: []string{"web"}, Failure: true})
	h.publish(fail(5))
	h.publish(actions.Event{Kind: "deployed", Message: "api: v3 deployed", Apps: []string{"api"}})
	h.publish(fail(6))
	h.publish(actions.Event{Kind: "stopped", Message: "stopped by SIGTERM", Apps: []string{"api", "web"}})
	h.close(t)
	want := []string{
		"api: deploying v2 (1)", "api: deploy of v2 failed (1)",
		"api: deploying v2 (2)", "api: deploy of v2 failed (2)",
		"api: deploying v2 (3)", "api: deploy of v2 failed (3)",
		"api: 3 errors in a row; further errors are suppressed until things work again",
		"web: crash loop",
		"api: v3 deployed",
		"api: deploy of v2 failed (6)",
		"stopped by SIGTERM",
	}
	if diff := cmp.Diff(want, f.texts()); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
	if m := f.messages()[6]; m.Kind != KindSuppressed || !m.Failure || len(m.Apps) != 1 || m.Apps[0] != "api" {
		t.Errorf("suppression message %+v", m)
	}
}

// dewy's own errors (no app) count as one more "app".
func TestThreeErrorsOfDewyItself(t *testing.T) {
	f := &fake{name: "ops"}
	h := start(t, Options{Targets: []Target{{Name: "ops", Notifier: f}}, Routes: Routes{Agent: []string{"ops"}}})
	for i := 1; i <= 5; i++ {
		h.publish(actions.Event{Kind: "error", Message: fmt.Sprintf("error %d", i), Failure: true})
	}
	h.close(t)
	want := []string{"error 1", "error 2", "error 3", "3 errors in a row; further errors are suppressed until things work again"}
	if diff := cmp.Diff(want, f.texts()); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
}

// A notifier that hangs fills its queue: further messages are dropped and
// counted, Publish never blocks, the other notifiers hear everything at
// once, and Close gives up at its deadline.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	hang := &fake{name: "hang", block: true, release: make(chan struct{})}
	ok := &fake{name: "ok"}
	h := start(t, Options{
		Targets:     []Target{{Name: "hang", Notifier: hang}, {Name: "ok", Notifier: ok}},
		Routes:      Routes{Agent: []string{"hang", "ok"}},
		QueueSize:   2,
		SendTimeout: time.Hour,
	})
	begin := time.Now()
	for i := range 100 {
		h.publish(actions.Event{Kind: "restarted", Message: fmt.Sprintf("restarted %d", i)})
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("publishing 100 events took %s", took)
	}
	testutil.Eventually(t, "the hanging notifier's drops counted", 5*time.Second, func() bool { return h.d.Stats()["hang"].Dropped >= 97 })
	testutil.Eventually(t, "the healthy notifier's burst done", 5*time.Second, func() bool {
		s := h.d.Stats()["ok"]
		return s.Sent+s.Dropped == 100
	})
	// One at a time, the healthy notifier hears each at once.
	for i := range 20 {
		h.publish(actions.Event{Kind: "restarted", Message: fmt.Sprintf("paced %d", i)})
		testutil.Eventually(t, "the healthy notifier hears the event", time.Second, func() bool {
			txt := ok.texts()
			return len(txt) > 0 && txt[len(txt)-1] == fmt.Sprintf("paced %d", i)
		})
	}
	if n := strings.Count(h.log.String(), `"notifier":"hang","to":"fake hang","queue":2,"message":"notification queue full`); n != 1 {
		t.Errorf("queue full logged %d times, want once:\n%s", n, h.log.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin = time.Now()
	err := h.d.Close(ctx)
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("Close took %s past its 200ms deadline", took)
	}
	if err == nil {
		t.Error("Close: want an error saying messages were left")
	}
	<-h.done
	st := h.d.Stats()["hang"]
	if st.Sent != 0 || st.Failed != 1 || st.Sent+st.Failed+st.Dropped != 120 {
		t.Errorf("stats %+v: every message is sent, failed or dropped", st)
	}
}

// The stop message published just before Close is delivered by Close.
func TestCloseDeliversTheStopMessage(t *testing.T) {
	slow := &fake{name: "slow", fail: func(Message) error { time.Sleep(300 * time.Millisecond); return nil }}
	h := start(t, Options{Targets: []Target{{Name: "ops", Notifier: slow}}, Routes: Routes{Agent: []string{"ops"}}})
	h.publish(actions.Event{Kind: "restarted", Message: "restarted by SIGUSR1"})
	h.publish(actions.Event{Kind: "stopped", Message: "stopped by SIGTERM"})
	h.close(t)
	if diff := cmp.Diff([]string{"restarted by SIGUSR1", "stopped by SIGTERM"}, slow.texts()); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
}

// Each send is bounded by SendTimeout; failures are logged once per kind
// until a message gets through again, and counted.
func TestSendFailuresLoggedOncePerKind(t *testing.T) {
	var mu sync.Mutex
	mode := "ratelimited"
	f := &fake{name: "flaky", fail: func(Message) error {
		mu.Lock()
		defer mu.Unlock()
		switch mode {
		case "ok":
			return nil
		case "hang":
			return nil // handled by block below
		}
		return Errorf(mode, "slack: %s", mode)
	}}
	h := start(t, Options{Targets: []Target{{Name: "ops", Notifier: f}}, Routes: Routes{Agent: []string{"ops"}}, SendTimeout: 100 * time.Millisecond})
	set := func(m string) {
		mu.Lock()
		mode = m
		mu.Unlock()
	}
	publish := func(n int) {
		before := h.d.Stats()["ops"]
		for range n {
			h.publish(actions.Event{Kind: "restarted", Message: "restarted by SIGUSR1"})
		}
		testutil.Eventually(t, "sends done", 5*time.Second, func() bool {
			s := h.d.Stats()["ops"]
			return s.Sent+s.Failed == before.Sent+before.Failed+uint64(n)
		})
	}
	publish(5)
	set("http 500")
	publish(3)
	set("ok")
	publish(1)
	set("ratelimited")
	publish(2)
	logs := h.log.String()
	if n := strings.Count(logs, `"failure":"ratelimited"`) - strings.Count(logs, `"level":"debug","component":"notify","notifier":"ops","to":"fake flaky","failure":"ratelimited"`); n != 2 {
		t.Errorf("ratelimited logged at warn %d times, want twice (once before and once after the success):\n%s", n, logs)
	}
	if n := strings.Count(logs, `"level":"warn","component":"notify","notifier":"ops","to":"fake flaky","failure":"http 500"`); n != 1 {
		t.Errorf("http 500 logged at warn %d times, want once:\n%s", n, logs)
	}
	if n := strings.Count(logs, "notifications get through again"); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	if st := h.d.Stats()["ops"]; st.Failed != 10 || st.Sent != 1 {
		t.Errorf("stats %+v, want 10 failed and 1 sent", st)
	}

	// A hanging send ends at SendTimeout, as a "timeout".
	hang := &fake{name: "hang", block: true, release: make(chan struct{})}
	h2 := start(t, Options{Targets: []Target{{Name: "hang", Notifier: hang}}, Routes: Routes{Agent: []string{"hang"}}, SendTimeout: 100 * time.Millisecond})
	begin := time.Now()
	h2.publish(actions.Event{Kind: "restarted", Message: "restarted by SIGUSR1"})
	testutil.Eventually(t, "the hanging send failed", 5*time.Second, func() bool { return h2.d.Stats()["hang"].Failed == 1 })
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("a send bounded by 100ms took %s", took)
	}
	if !strings.Contains(h2.log.String(), `"failure":"timeout"`) {
		t.Errorf("want a timeout logged:\n%s", h2.log.String())
	}
}

// SetRoutes changes who hears what (a reload); a notifier new since the
// start is named in the log, not used.
func TestSetRoutes(t *testing.T) {
	ops := &fake{name: "ops"}
	h := start(t, Options{Targets: []Target{{Name: "ops", Notifier: ops}}, Routes: Routes{Apps: map[string][]string{"api": {"ops"}}}})
	// web's event first: once api's is heard, web's was routed (nowhere)
	// under the old routes, as the bus keeps the order.
	h.publish(actions.Event{Kind: "restarted", Message: "web restarted", Apps: []string{"web"}})
	h.publish(actions.Event{Kind: "restarted", Message: "api restarted", Apps: []string{"api"}})
	testutil.Eventually(t, "first event", 5*time.Second, func() bool { return len(ops.texts()) == 1 })
	h.d.SetRoutes(Routes{Apps: map[string][]string{"web": {"ops", "new"}}})
	h.publish(actions.Event{Kind: "restarted", Message: "api restarted", Apps: []string{"api"}})
	h.publish(actions.Event{Kind: "restarted", Message: "web restarted", Apps: []string{"web"}})
	h.close(t)
	if diff := cmp.Diff([]string{"api restarted", "web restarted"}, ops.texts()); diff != "" {
		t.Errorf("heard (-want +got):\n%s", diff)
	}
	if !strings.Contains(h.log.String(), `"notifiers":["new"]`) {
		t.Errorf("the new notifier is not named in the log:\n%s", h.log.String())
	}
}

// Close before Run, and a Broken notifier, do not hang or panic.
func TestCloseWithoutRunAndBroken(t *testing.T) {
	d := New(event.NewBus(), Options{Targets: []Target{{Name: "b", Notifier: Broken("slack #x", errors.New("SLACK_TOKEN is not set"))}}})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := FailureKind(Broken("x", errors.New("no")).Send(context.Background(), Message{})); got != "not configured" {
		t.Errorf("kind %q", got)
	}
}

func TestTail(t *testing.T) {
	lines := make([]string, 50)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %02d", i)
	}
	s := strings.Join(lines, "\n") + "\n"
	got := Tail(s, 3, 1000)
	if want := "[… 376 bytes before]\nline 47\nline 48\nline 49"; got != want {
		t.Errorf("Tail by lines = %q, want %q", got, want)
	}
	got = Tail(s, 100, 20)
	if want := "[… 384 bytes before]\nline 48\nline 49"; got != want {
		t.Errorf("Tail by bytes = %q, want %q", got, want)
	}
	if got := Tail("short", 3, 100); got != "short" {
		t.Errorf("Tail(short) = %q", got)
	}
}

func TestHookHeading(t *testing.T) {
	h := &actions.HookResult{Name: "before_deploy", Command: "pg_dump", ExitCode: 2, Duration: 2100 * time.Millisecond}
	if got := HookHeading(h); got != "before_deploy hook failed: exit 2 after 2.1s" {
		t.Errorf("got %q", got)
	}
	h.ExitCode = -1
	if got := HookHeading(h); got != "before_deploy hook failed: killed or not started after 2.1s" {
		t.Errorf("got %q", got)
	}
}
