package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// AppBlock is an `app "<name>"` block.
type AppBlock struct {
	Name      string
	NameRange hcl.Range
	Command   Value[[]string]
	// CommandGiven: the block has a command attribute, even one of the
	// wrong type (Command.Set is false then).
	CommandGiven bool
	Assets       Value[bool]
	Registry     Value[string]
	Dir          Value[string]
	Listen       Value[[]string]
	Notifiers    Value[[]string]
	Env          Value[map[string]string]
	EnvFile      Value[string]
	User         Value[string]
	Group        Value[string]
	Keep         Value[int]
	Ready        *ReadyBlock
	Stop         *StopBlock
	Restart      *RestartBlock
	Output       *OutputBlock
	Hooks        *HooksBlock
	DeclRange    hcl.Range
}

// ReadyBlock is an app's `ready` block.
type ReadyBlock struct {
	Delay     Value[time.Duration]
	HTTP      Value[string]
	TCP       Value[string]
	Notify    Value[bool]
	Timeout   Value[time.Duration]
	Interval  Value[time.Duration]
	DeclRange hcl.Range
}

// StopBlock is an app's `stop` block.
type StopBlock struct {
	Signal    Value[string]
	Timeout   Value[time.Duration]
	DeclRange hcl.Range
}

// RestartBlock is an app's `restart` block.
type RestartBlock struct {
	Policy     Value[string]
	Backoff    Value[time.Duration]
	MaxBackoff Value[time.Duration]
	Jitter     Value[string]
	Burst      Value[int]
	Window     Value[time.Duration]
	Cooldown   Value[time.Duration]
	DeclRange  hcl.Range
}

// OutputBlock is an app's `output` block.
type OutputBlock struct {
	File      Value[string]
	MaxSize   Value[int64]
	Keep      Value[int]
	DeclRange hcl.Range
}

// HooksBlock is an app's `hooks` block.
type HooksBlock struct {
	BeforeDeploy Value[string]
	AfterDeploy  Value[string]
	Timeout      Value[time.Duration]
	DeclRange    hcl.Range
}

func decodeAppBlock(b *hcl.Block, spec BlockSpec) (*AppBlock, hcl.Diagnostics) {
	c, diags := content(b.Body, spec, b.DefRange)
	a := attrs{c: c, block: b.DefRange}
	app := &AppBlock{DeclRange: b.DefRange}
	app.Name, app.NameRange = label(b)
	diags = append(diags, checkName("app", app.Name, app.NameRange)...)
	app.Command = a.list("command")
	app.Assets = a.boolean("assets")
	if c != nil {
		_, app.CommandGiven = c.Attributes["command"]
	}
	app.Registry = a.str("registry")
	app.Dir = a.str("dir")
	app.Listen = a.list("listen")
	app.Notifiers = a.list("notifiers")
	app.Env = a.strMap("env")
	app.EnvFile = a.str("env_file")
	app.User = a.str("user")
	app.Group = a.str("group")
	app.Keep = a.integer("keep")
	diags = append(diags, a.diags...)

	for _, child := range c.Blocks {
		cs, _ := spec.Block(child.Type)
		cc, d := content(child.Body, cs, child.DefRange)
		diags = append(diags, d...)
		ca := attrs{c: cc, block: child.DefRange}
		switch child.Type {
		case "ready":
			if app.Ready == nil {
				app.Ready = &ReadyBlock{Delay: ca.duration("delay"), HTTP: ca.str("http"), TCP: ca.str("tcp"), Notify: ca.boolean("notify"),
					Timeout: ca.duration("timeout"), Interval: ca.duration("interval"), DeclRange: child.DefRange}
			}
		case "stop":
			if app.Stop == nil {
				app.Stop = &StopBlock{Signal: ca.str("signal"), Timeout: ca.duration("timeout"), DeclRange: child.DefRange}
			}
		case "restart":
			if app.Restart == nil {
				r := &RestartBlock{Policy: ca.str("policy"), Backoff: ca.duration("backoff"), MaxBackoff: ca.duration("max_backoff"),
					Jitter: ca.str("jitter"), Burst: ca.integer("burst"), Window: ca.duration("window"), Cooldown: ca.duration("cooldown"), DeclRange: child.DefRange}
				ps, _ := cs.Attr("policy")
				ca.enum("policy", r.Policy, ps.Enum)
				app.Restart = r
			}
		case "output":
			if app.Output == nil {
				app.Output = &OutputBlock{File: ca.str("file"), MaxSize: ca.size("max_size"), Keep: ca.integer("keep"), DeclRange: child.DefRange}
			}
		case "hooks":
			if app.Hooks == nil {
				app.Hooks = &HooksBlock{BeforeDeploy: ca.str("before_deploy"), AfterDeploy: ca.str("after_deploy"), Timeout: ca.duration("timeout"), DeclRange: child.DefRange}
			}
		}
		diags = append(diags, ca.diags...)
	}
	return app, diags
}
