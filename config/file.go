package config

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

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

// MaxFileSize is the largest config file dewy reads, in bytes. A file of
// 100,000 apps with a command, a listen socket and a ready probe each is
// about 13 MiB; anything much larger is not a config file, and parsing it
// would cost the agent hundreds of megabytes.
const MaxFileSize = 16 << 20

// LoadFile reads and decodes a config file from disk. A file larger than
// MaxFileSize is refused without being read whole.
func (l *Loader) LoadFile(filename string) (*File, hcl.Diagnostics) {
	src, diags := readLimited(filename, MaxFileSize)
	if diags != nil {
		return nil, diags
	}
	return l.Parse(src, filename)
}

// readLimited reads at most limit bytes of a file. The size is checked
// before reading (a regular file) and while reading (a pipe, or a file
// that grows meanwhile), so a huge file never sits in memory.
func readLimited(filename string, limit int64) ([]byte, hcl.Diagnostics) {
	f, err := os.Open(filename)
	if err != nil {
		return nil, cannotRead(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooLarge(filename, fmt.Sprintf("%d bytes", fi.Size()), limit)
	}
	src, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, cannotRead(fmt.Errorf("read %s: %w", filename, err))
	}
	if int64(len(src)) > limit {
		return nil, tooLarge(filename, fmt.Sprintf("more than %d bytes", limit), limit)
	}
	return src, nil
}

func cannotRead(err error) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Cannot read config file",
		Detail:   fmt.Sprintf("%s. Check the path, or pass another file with -c.", err),
	}}
}

func tooLarge(filename, size string, limit int64) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Config file too large",
		Detail:   fmt.Sprintf("%s is %s; a config file may be at most %d bytes (%d MiB). Check that -c names the config file.", filename, size, limit, limit>>20),
	}}
}

// Parse decodes config source. A name ending in .json (dewy.hcl.json) is
// read as HCL's JSON form, anything else as native HCL syntax. Source that
// is not UTF-8 text (a binary, a file in another encoding) is refused with
// one error at its first bad byte, before the parser turns every bad byte
// into diagnostics of its own.
func (l *Loader) Parse(src []byte, filename string) (*File, hcl.Diagnostics) {
	if d := checkText(src, filename); d != nil {
		l.parser.AddFile(filename, &hcl.File{Bytes: src})
		return nil, hcl.Diagnostics{d}
	}
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

// checkText returns an error at the first NUL byte or invalid UTF-8
// sequence of src, or nil when src is UTF-8 text.
func checkText(src []byte, filename string) *hcl.Diagnostic {
	if utf8.Valid(src) && bytes.IndexByte(src, 0) < 0 {
		return nil
	}
	pos := hcl.InitialPos
	for i := 0; i < len(src); {
		c, size := utf8.DecodeRune(src[i:])
		if c == 0 || (c == utf8.RuneError && size == 1) {
			what := "a NUL byte"
			if c != 0 {
				what = fmt.Sprintf("byte 0x%02X, which is not valid UTF-8", src[i])
			}
			end := hcl.Pos{Line: pos.Line, Column: pos.Column + 1, Byte: pos.Byte + 1}
			return &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Not a text file",
				Detail:   fmt.Sprintf("%s has %s at line %d, column %d. A config file is UTF-8 text: check that -c names the config file, or save it as UTF-8.", filename, what, pos.Line, pos.Column),
				Subject:  &hcl.Range{Filename: filename, Start: pos, End: end},
			}
		}
		i += size
		pos.Byte = i
		if c == '\n' {
			pos.Line, pos.Column = pos.Line+1, 1
		} else {
			pos.Column++
		}
	}
	return nil
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
