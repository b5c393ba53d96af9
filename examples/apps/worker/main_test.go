package main

import (
	"regexp"
	"syscall"
	"testing"

	"github.com/dewyhq/dewy/examples/apps/internal/apptest"
)

func TestMain(m *testing.M) { apptest.Main(m, run) }

var (
	jobLine  = regexp.MustCompile(`msg="job (started|finished)".* job=(\d+)`)
	stopLine = regexp.MustCompile(`msg="stop requested`)
)

// TestStopsBetweenJobs sends SIGTERM while a job runs (and a SIGHUP before):
// the job is finished, no job starts after the stop was requested, and the
// worker exits 0.
func TestStopsBetweenJobs(t *testing.T) {
	notify := apptest.NewNotifier(t)
	app := apptest.Start(t, []string{"-job-duration=800ms", "-interval=10ms"}, nil, notify)
	notify.Expect(t, "READY=1")
	app.WaitLog(t, `msg="job started"`, "job=1")
	app.Signal(t, syscall.SIGHUP)
	app.WaitLog(t, "SIGHUP ignored")
	app.Signal(t, syscall.SIGTERM)
	if code := app.Wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}

	started, finished := map[string]bool{}, map[string]bool{}
	stopAt := -1
	lines := app.Lines()
	for i, l := range lines {
		if stopLine.MatchString(l) && stopAt < 0 {
			stopAt = i
		}
		m := jobLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] == "started" {
			started[m[2]] = true
			if stopAt >= 0 {
				t.Errorf("job %s started after the stop was requested", m[2])
			}
		} else {
			finished[m[2]] = true
		}
	}
	if stopAt < 0 {
		t.Fatal("no stop request in the log")
	}
	if len(started) == 0 {
		t.Fatal("no job ran")
	}
	for j := range started {
		if !finished[j] {
			t.Errorf("job %s was started but not finished: stopped mid-job", j)
		}
	}
	app.WaitLog(t, "worker stopped between jobs")
}
