package config

import (
	"github.com/hashicorp/hcl/v2"
)

// NotifierBlock is a `notifier "<name>"` block.
type NotifierBlock struct {
	Name      string
	NameRange hcl.Range
	URL       Value[string]
	Title     Value[string]
	Quiet     Value[bool]
	Secret    Value[string]
	SecretEnv Value[string]
	DeclRange hcl.Range
}

func decodeNotifierBlock(b *hcl.Block, spec BlockSpec) (*NotifierBlock, hcl.Diagnostics) {
	c, diags := content(b.Body, spec, b.DefRange)
	a := attrs{c: c, block: b.DefRange}
	n := &NotifierBlock{DeclRange: b.DefRange}
	n.Name, n.NameRange = label(b)
	diags = append(diags, checkName("notifier", n.Name, n.NameRange)...)
	n.URL = a.str("url")
	n.Title = a.str("title")
	n.Quiet = a.boolean("quiet")
	n.Secret = a.str("secret")
	n.SecretEnv = a.str("secret_env")
	return n, append(diags, a.diags...)
}
