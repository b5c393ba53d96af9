package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// RegistryBlock is a `registry "<name>"` block.
type RegistryBlock struct {
	Name       string
	NameRange  hcl.Range
	URL        Value[string]
	PreRelease Value[bool]
	Artifact   Value[string]
	Interval   Value[time.Duration]
	Slot       Value[string]
	Calver     Value[string]
	Verify     Value[string]
	MaxSize    Value[int64]
	DeclRange  hcl.Range
}

func decodeRegistryBlock(b *hcl.Block, spec BlockSpec) (*RegistryBlock, hcl.Diagnostics) {
	c, diags := content(b.Body, spec, b.DefRange)
	a := attrs{c: c, block: b.DefRange}
	r := &RegistryBlock{DeclRange: b.DefRange}
	r.Name, r.NameRange = label(b)
	diags = append(diags, checkName("registry", r.Name, r.NameRange)...)
	r.URL = a.str("url")
	r.PreRelease = a.boolean("pre_release")
	r.Artifact = a.str("artifact")
	r.Interval = a.duration("interval")
	r.Slot = a.str("slot")
	r.Calver = a.str("calver")
	r.Verify = a.str("verify")
	r.MaxSize = a.size("max_artifact_size")
	return r, append(diags, a.diags...)
}
