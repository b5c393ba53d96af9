package engine

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

func TestDeployChangesAreRefusedByReload(t *testing.T) {
	u, _ := url.Parse("file:///srv/releases")
	reg := plan.Registry{Name: "r", Scheme: "file", URL: u, Interval: time.Minute}
	plain := plan.App{Name: "plain", Command: []string{"/bin/true"}}
	web := plan.App{Name: "web", Registry: "r", Dir: "/opt/web", Command: []string{"/opt/web/current/web"}}
	base := &plan.Plan{Registries: map[string]plan.Registry{"r": reg}, Apps: []plan.App{plain, web}}
	with := func(apps []plan.App, r plan.Registry) *plan.Plan {
		return &plan.Plan{Registries: map[string]plan.Registry{"r": r}, Apps: apps}
	}
	plain2 := plain
	plain2.Command = []string{"/bin/false"}
	web2 := web
	web2.Command = []string{"/opt/web/current/web", "-v"}
	u2, _ := url.Parse("file:///srv/other")
	reg2 := reg
	reg2.URL = u2
	api := web
	api.Name = "api"
	moved := web
	moved.Origin = "dewy.hcl:40:1"
	movedReg := reg
	movedReg.Origin = "dewy.hcl:30:1"
	cases := []struct {
		name string
		next *plan.Plan
		want string // "" for accepted
	}{
		{"nothing changed", with([]plan.App{plain, web}, reg), ""},
		{"only moved in the file", with([]plan.App{plain, moved}, movedReg), ""},
		{"a plain app changed", with([]plan.App{plain2, web}, reg), ""},
		{"a plain app removed", with([]plan.App{web}, reg), ""},
		{"a deployed app added", with([]plan.App{plain, web, api}, reg), `app "api" is new`},
		{"a deployed app changed", with([]plan.App{plain, web2}, reg), `app "web" deploys from a registry and its definition changed`},
		{"its registry changed", with([]plan.App{plain, web}, reg2), `registry "r" of app "web" changed`},
		{"a deployed app removed", with([]plan.App{plain}, reg), `app "web", deployed from registry "r", was removed`},
	}
	for _, c := range cases {
		err := deployChanges(base, c.next)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "needs a restart of dewy")):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
