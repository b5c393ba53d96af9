package engine

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dewyhq/dewy/engine/plan"
)

// A reload rebuilds the Deployers of exactly the apps whose deploys it
// changes, and leaves the others (and a running download) alone.
func TestRedeploysNamesTheChangedDeployers(t *testing.T) {
	u, _ := url.Parse("file:///srv/releases")
	reg := plan.Registry{Name: "r", Scheme: "file", URL: u, Interval: time.Minute}
	plain := plan.App{Name: "plain", Command: []string{"/bin/true"}}
	web := plan.App{Name: "web", Registry: "r", Dir: "/opt/web", Command: []string{"/opt/web/current/web"}}
	api := web
	api.Name, api.Dir = "api", "/opt/api"
	with := func(apps []plan.App, r plan.Registry, agent plan.Agent) *plan.Plan {
		return &plan.Plan{Registries: map[string]plan.Registry{"r": r}, Apps: apps, Agent: agent}
	}
	base := with([]plan.App{plain, web, api}, reg, plan.Agent{})
	running := map[string]*deployRun{}
	for _, a := range base.Apps {
		if a.Registry != "" {
			running[a.Name] = &deployRun{key: deployKey(base, a)}
		}
	}
	plain2 := plain
	plain2.Command = []string{"/bin/false"}
	web2 := web
	web2.Command = []string{"/opt/web/current/web", "-v"}
	u2, _ := url.Parse("file:///srv/other")
	reg2 := reg
	reg2.URL = u2
	moved := web
	moved.Origin = "dewy.hcl:40:1"
	movedReg := reg
	movedReg.Origin = "dewy.hcl:30:1"
	newApp := web
	newApp.Name, newApp.Dir = "new", "/opt/new"
	unregistered := web
	unregistered.Registry = ""
	cacheURL, _ := url.Parse("s3://eu-west-1/fleet/dewy")
	cases := []struct {
		name string
		next *plan.Plan
		want string
	}{
		{"nothing changed", with([]plan.App{plain, web, api}, reg, plan.Agent{}), ""},
		{"only moved in the file", with([]plan.App{plain, moved, api}, movedReg, plan.Agent{}), ""},
		{"a plain app changed", with([]plan.App{plain2, web, api}, reg, plan.Agent{}), ""},
		{"a plain app removed", with([]plan.App{web, api}, reg, plan.Agent{}), ""},
		{"a deployed app added", with([]plan.App{plain, web, api, newApp}, reg, plan.Agent{}), "new"},
		{"a deployed app changed", with([]plan.App{plain, web2, api}, reg, plan.Agent{}), "web"},
		{"its registry changed", with([]plan.App{plain, web, api}, reg2, plan.Agent{}), "api,web"},
		{"a deployed app removed", with([]plan.App{plain, api}, reg, plan.Agent{}), "web"},
		{"an app no longer deployed", with([]plan.App{plain, unregistered, api}, reg, plan.Agent{}), "web"},
		{"a shared cache", with([]plan.App{plain, web, api}, reg, plan.Agent{Cache: cacheURL}), "api,web"},
		{"a registry TTL", with([]plan.App{plain, web, api}, reg, plan.Agent{RegistryTTL: time.Minute}), "api,web"},
	}
	for _, c := range cases {
		if got := strings.Join(redeploys(c.next, running), ","); got != c.want {
			t.Errorf("%s: redeploys %q, want %q", c.name, got, c.want)
		}
	}
}
