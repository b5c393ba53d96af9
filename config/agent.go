package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// AgentBlock is the file's `agent` block: the file layer of the flat
// settings. Values keeps each attribute the file set, with its range. A
// list setting (notifiers) is kept in Values joined with commas, the form
// DEWY_NOTIFIERS and --notifiers take, and as written in Lists, whose
// element ranges point a diagnostic at the one name at fault.
type AgentBlock struct {
	Values    map[string]Value[string]
	Lists     map[string]Value[[]string]
	DeclRange hcl.Range
}

func decodeAgentBlock(b *hcl.Block, spec BlockSpec) (*AgentBlock, hcl.Diagnostics) {
	c, diags := content(b.Body, spec, b.DefRange)
	a := attrs{c: c, block: b.DefRange}
	out := &AgentBlock{Values: map[string]Value[string]{}, Lists: map[string]Value[[]string]{}, DeclRange: b.DefRange}
	for _, as := range spec.Attrs {
		if as.Kind == KindStringList {
			l := a.list(as.Name)
			if l.Set {
				out.Lists[as.Name] = l
				out.Values[as.Name] = Value[string]{V: strings.Join(l.V, ","), Set: true, Range: l.Range}
			}
			continue
		}
		v := a.str(as.Name)
		if v.Set {
			out.Values[as.Name] = v
		}
	}
	return out, append(diags, a.diags...)
}
