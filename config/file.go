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
	"github.com/hashicorp/hcl/v2/hclsyntax"
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
	chunks chunking
}

// chunking says when native syntax is parsed in pieces: source longer than
// above bytes is cut at top-level newlines into pieces of about size bytes.
// hcl lexes a whole file into tokens before parsing, about 100 bytes of
// tokens and syntax tree per byte of source; parsed and decoded a piece at
// a time, only the decoded blocks of a large file stay in memory.
type chunking struct{ above, size int }

// Ordinary files (well under a megabyte) are left to hcl whole.
const (
	chunkAbove = 1 << 20
	chunkSize  = 256 << 10
)

// NewLoader returns a Loader with a fresh parser.
func NewLoader() *Loader {
	return &Loader{parser: hclparse.NewParser(), chunks: chunking{above: chunkAbove, size: chunkSize}}
}

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
	isJSON := strings.HasSuffix(filename, ".json")
	if !isJSON && len(src) > l.chunks.above {
		if pieces, ok := splitTopLevel(src, l.chunks.size); ok {
			return l.parsePieces(src, filename, pieces)
		}
		if diags, garbage := l.garbageHead(src, filename); garbage {
			return nil, diags
		}
	}
	if isJSON {
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

// parsePieces parses and decodes native syntax one piece at a time, with
// each piece's positions where they are in the whole file.
func (l *Loader) parsePieces(src []byte, filename string, pieces []piece) (*File, hcl.Diagnostics) {
	l.parser.AddFile(filename, &hcl.File{Bytes: src})
	d := newFileDecoder(filename)
	var diags hcl.Diagnostics
	for _, p := range pieces {
		f, more := hclsyntax.ParseConfig(src[p.start:p.end], filename, p.pos)
		diags = append(diags, more...)
		if f != nil && f.Body != nil {
			diags = append(diags, d.body(f.Body)...)
		}
	}
	return d.file, diags
}

// garbageHead parses the first l.chunks.above bytes (to a newline) of a
// large source that splitTopLevel could not follow. When they alone have
// MaxDiagnostics errors, the source is not a config file gone slightly
// wrong: it returns those errors and one saying where reading stopped,
// sparing the parse of the rest (hcl spends about 100 bytes per byte of
// garbage, and finds an error in nearly every token).
func (l *Loader) garbageHead(src []byte, filename string) (hcl.Diagnostics, bool) {
	end := l.chunks.above
	if n := bytes.LastIndexByte(src[:end], '\n'); n > 0 {
		end = n + 1
	}
	_, diags := hclsyntax.ParseConfig(src[:end], filename, hcl.InitialPos)
	errs := 0
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs++
		}
	}
	if errs < MaxDiagnostics {
		return nil, false
	}
	l.parser.AddFile(filename, &hcl.File{Bytes: src})
	lines := bytes.Count(src[:end], []byte{'\n'})
	return append(diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Too many errors",
		Detail:   fmt.Sprintf("%s has %d errors in its first %d lines (%d bytes), so dewy stopped reading it there. Check that -c names the config file.", filename, errs, lines, end),
	}), true
}

// piece is a run of whole top-level items of a source: src[start:end],
// starting at pos.
type piece struct {
	start, end int
	pos        hcl.Pos
}

// splitTopLevel cuts native HCL source after newlines outside any block,
// bracket, string or comment, into pieces of at least size bytes. At such a
// newline every top-level item has ended, so the pieces parse as the whole
// would. It gives up (false) on what it does not follow: a heredoc, a
// template in a string, unbalanced brackets, an unterminated string or
// comment; the caller then parses the source whole.
func splitTopLevel(src []byte, size int) ([]piece, bool) {
	var pieces []piece
	cur := piece{pos: hcl.InitialPos}
	line, depth := 1, 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\n':
			line++
			if depth == 0 && i+1-cur.start >= size && i+1 < len(src) {
				cur.end = i + 1
				pieces = append(pieces, cur)
				cur = piece{start: i + 1, pos: hcl.Pos{Line: line, Column: 1, Byte: i + 1}}
			}
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			if depth--; depth < 0 {
				return nil, false
			}
		case '#':
			i = lineEnd(src, i)
		case '/':
			switch {
			case i+1 < len(src) && src[i+1] == '/':
				i = lineEnd(src, i)
			case i+1 < len(src) && src[i+1] == '*':
				n := bytes.Index(src[i+2:], []byte("*/"))
				if n < 0 {
					return nil, false
				}
				end := i + 2 + n + 2
				line += bytes.Count(src[i:end], []byte{'\n'})
				i = end - 1
			}
		case '"':
			end, ok := quotedEnd(src, i)
			if !ok {
				return nil, false
			}
			i = end
		case '<':
			if i+1 < len(src) && src[i+1] == '<' {
				return nil, false
			}
		}
	}
	if depth != 0 {
		return nil, false
	}
	cur.end = len(src)
	return append(pieces, cur), true
}

// lineEnd returns the index before the newline that ends the line of i (so
// a scanner moving on sees the newline), or the last index.
func lineEnd(src []byte, i int) int {
	if n := bytes.IndexByte(src[i:], '\n'); n >= 0 {
		return i + n - 1
	}
	return len(src) - 1
}

// quotedEnd returns the index of the quote closing the string opened at
// i, or false for a string with a template sequence, a newline, or no end.
func quotedEnd(src []byte, i int) (int, bool) {
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j, true
		case '\n':
			return 0, false
		case '$', '%':
			if j+1 < len(src) && src[j+1] == '{' {
				return 0, false
			}
		}
	}
	return 0, false
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
				what = fmt.Sprintf("byte 0x%02X (not valid UTF-8)", src[i])
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
	d := newFileDecoder(filename)
	diags := d.body(body)
	return d.file, diags
}

// fileDecoder decodes the top-level blocks of one file, from one body or
// from the bodies of its pieces in order.
type fileDecoder struct {
	spec BlockSpec
	file *File
	// first is the first block of each type allowed once.
	first map[string]hcl.Range
}

func newFileDecoder(filename string) *fileDecoder {
	return &fileDecoder{spec: Spec(), file: &File{Filename: filename}, first: map[string]hcl.Range{}}
}

// body decodes the blocks of a body. The file level has no attributes, so
// only unknown ones and repeated unique blocks are checked here, across
// bodies.
func (d *fileDecoder) body(body hcl.Body) hcl.Diagnostics {
	c, diags := body.Content(d.spec.bodySchema())
	improveUnsupported(diags, d.spec)
	if c == nil {
		return diags
	}
	for _, b := range c.Blocks {
		if bs, _ := d.spec.Block(b.Type); bs.Unique {
			if first, seen := d.first[b.Type]; seen {
				diags = append(diags, duplicateBlock(first, b))
			} else {
				d.first[b.Type] = b.DefRange
			}
		}
	}
	for _, b := range c.Blocks {
		diags = append(diags, d.block(b)...)
	}
	return diags
}

func (d *fileDecoder) block(b *hcl.Block) hcl.Diagnostics {
	file := d.file
	bs, _ := d.spec.Block(b.Type)
	var diags hcl.Diagnostics
	switch b.Type {
	case "agent":
		var a *AgentBlock
		a, diags = decodeAgentBlock(b, bs)
		if file.Agent == nil {
			file.Agent = a
		}
	case "registry":
		var r *RegistryBlock
		r, diags = decodeRegistryBlock(b, bs)
		file.Registries = append(file.Registries, r)
	case "notifier":
		var n *NotifierBlock
		n, diags = decodeNotifierBlock(b, bs)
		file.Notifiers = append(file.Notifiers, n)
	case "app":
		var a *AppBlock
		a, diags = decodeAppBlock(b, bs)
		file.Apps = append(file.Apps, a)
	case "signal":
		var s *SignalBlock
		s, diags = decodeSignalBlock(b, bs)
		file.Signals = append(file.Signals, s)
	}
	return diags
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
