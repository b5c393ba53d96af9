package metrics

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Every dewy_* series the shipped Grafana dashboard queries exists.
func TestTheDashboardQueriesExistingMetrics(t *testing.T) {
	m := New(Options{
		Version:   "test",
		Apps:      func() []AppState { return []AppState{{Name: "web", Up: true}} },
		Notifiers: func() []NotifierStats { return []NotifierStats{{Name: "ops", Sent: 1}} },
	})
	m.Restarted("web", "signal")
	m.Ready("web", time.Second)
	m.Deployed("web", "deployed", time.Second)
	m.RolledBack("web")
	m.Polled("web", errors.New("502"))
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	b, err := os.ReadFile("../examples/grafana/dewy-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`dewy_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) < 10 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	for _, n := range names {
		n = strings.TrimSuffix(n, "_bucket")
		if !have[n] {
			t.Errorf("the dashboard queries %s, which dewy does not export", n)
		}
	}
}
