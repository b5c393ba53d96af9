package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// File is one decoded config file: the source representation, every
// block with its ranges. Compile turns it into a plan.
type File struct {
	Filename   string
	Agent      *AgentBlock
	Registries []*RegistryBlock
	Notifiers  []*NotifierBlock
	Apps       []*AppBlock
	Signals    []*SignalBlock
}

// Loader reads config files. Use a new Loader (or Load) for each read: the
// hcl parser caches files by name, so a reused one would never see an edit.
type Loader struct {
	parser *hclparse.Parser
}

// NewLoader returns a Loader with a fresh parser.
func NewLoader() *Loader { return &Loader{parser: hclparse.NewParser()} }

// Files returns the parsed sources by file name, for rendering diagnostics
// with source snippets.
func (l *Loader) Files() map[string]*hcl.File { return l.parser.Files() }

// LoadFile reads and decodes a config file from disk.
func (l *Loader) LoadFile(filename string) (*File, hcl.Diagnostics) {
	src, err := os.ReadFile(filename)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read config file",
			Detail:   fmt.Sprintf("%s. Check the path, or pass another file with -c.", err),
		}}
	}
	return l.Parse(src, filename)
}

// Parse decodes config source. A name ending in .json (dewy.hcl.json) is
// read as HCL's JSON form, anything else as native HCL syntax.
func (l *Loader) Parse(src []byte, filename string) (*File, hcl.Diagnostics) {
	var (
		f     *hcl.File
		diags hcl.Diagnostics
	)
	if strings.HasSuffix(filename, ".json") {
		f, diags = l.parser.ParseJSON(src, filename)
	} else {
		f, diags = l.parser.ParseHCL(src, filename)
	}
	if f == nil || f.Body == nil {
		return nil, diags
	}
	file, more := decodeFile(f.Body, filename)
	return file, append(diags, more...)
}

func decodeFile(body hcl.Body, filename string) (*File, hcl.Diagnostics) {
	spec := Spec()
	c, diags := content(body, spec, hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos})
	file := &File{Filename: filename}
	for _, b := range c.Blocks {
		bs, _ := spec.Block(b.Type)
		var d hcl.Diagnostics
		switch b.Type {
		case "agent":
			var a *AgentBlock
			a, d = decodeAgentBlock(b, bs)
			if file.Agent == nil {
				file.Agent = a
			}
		case "registry":
			var r *RegistryBlock
			r, d = decodeRegistryBlock(b, bs)
			file.Registries = append(file.Registries, r)
		case "notifier":
			var n *NotifierBlock
			n, d = decodeNotifierBlock(b, bs)
			file.Notifiers = append(file.Notifiers, n)
		case "app":
			var a *AppBlock
			a, d = decodeAppBlock(b, bs)
			file.Apps = append(file.Apps, a)
		case "signal":
			var s *SignalBlock
			s, d = decodeSignalBlock(b, bs)
			file.Signals = append(file.Signals, s)
		}
		diags = append(diags, d...)
	}
	return file, diags
}

// label returns a block's single label and its range.
func label(b *hcl.Block) (string, hcl.Range) {
	if len(b.Labels) == 0 {
		return "", b.DefRange
	}
	return b.Labels[0], b.LabelRanges[0]
}

// checkName reports a label that cannot name a registry, notifier or app.
func checkName(kind, name string, r hcl.Range) hcl.Diagnostics {
	ok := name != ""
	for _, c := range name {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			ok = false
		}
	}
	if ok {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s name", kind),
		Detail:   fmt.Sprintf("%q cannot name a %s: it is used in file names, logs and environment variables. Use letters, digits, '-', '_' and '.' only.", name, kind),
		Subject:  r.Ptr(),
	}}
}
