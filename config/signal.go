package config

import (
	"github.com/hashicorp/hcl/v2"
)

// SignalBlock is a `signal "<NAME>"` block: one row of the signal table.
type SignalBlock struct {
	Name      string
	NameRange hcl.Range
	Action    Value[string]
	Apps      Value[[]string]
	Send      Value[string]
	// Present lists the attributes the block set, to check them against
	// the action's parameters.
	Present   map[string]hcl.Range
	DeclRange hcl.Range
}

func decodeSignalBlock(b *hcl.Block, spec BlockSpec) (*SignalBlock, hcl.Diagnostics) {
	c, diags := content(b.Body, spec, b.DefRange)
	a := attrs{c: c, block: b.DefRange}
	s := &SignalBlock{DeclRange: b.DefRange, Present: map[string]hcl.Range{}}
	s.Name, s.NameRange = label(b)
	s.Action = a.str("action")
	s.Apps = a.list("apps")
	s.Send = a.str("send")
	for name, at := range c.Attributes {
		s.Present[name] = at.NameRange
	}
	return s, append(diags, a.diags...)
}
