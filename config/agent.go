package config

import (
	"github.com/hashicorp/hcl/v2"
)

// AgentBlock is the file's `agent` block: the file layer of the flat
// settings. Values keeps each attribute the file set, with its range.
type AgentBlock struct {
	Values    map[string]Value[string]
	DeclRange hcl.Range
}

func decodeAgentBlock(b *hcl.Block, spec BlockSpec) (*AgentBlock, hcl.Diagnostics) {
	c, diags := content(b.Body, spec, b.DefRange)
	a := attrs{c: c, block: b.DefRange}
	out := &AgentBlock{Values: map[string]Value[string]{}, DeclRange: b.DefRange}
	for _, as := range spec.Attrs {
		v := a.str(as.Name)
		if v.Set {
			out.Values[as.Name] = v
		}
	}
	return out, append(diags, a.diags...)
}
