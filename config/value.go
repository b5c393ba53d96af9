package config

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Value is one decoded attribute: its value, whether the file set it, and
// where. Absent attributes have Set == false and the range of their block.
type Value[T any] struct {
	V     T
	Set   bool
	Range hcl.Range
	// Elems holds the range of each element of a list value, so a
	// diagnostic can point at the one element at fault.
	Elems []hcl.Range
}

// ElemRange is the range of element i of a list, or of the whole value.
func (v Value[T]) ElemRange(i int) hcl.Range {
	if i >= 0 && i < len(v.Elems) {
		return v.Elems[i]
	}
	return v.Range
}

// content checks body against spec and returns its attributes and blocks.
// Unknown attributes and blocks become hcl's own "did you mean" errors.
func content(body hcl.Body, spec BlockSpec, blockRange hcl.Range) (*hcl.BodyContent, hcl.Diagnostics) {
	c, diags := body.Content(spec.bodySchema())
	improveUnsupported(diags, spec)
	for _, a := range spec.Attrs {
		if a.Required && c != nil {
			if _, ok := c.Attributes[a.Name]; !ok {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Missing required argument",
					Detail:   fmt.Sprintf("%s %s block needs the argument %q: %s Add %s = ... to the block.", strings.ToUpper(article(spec.Type)[:1])+article(spec.Type)[1:], spec.Type, a.Name, lowerFirst(a.Doc), a.Name),
					Subject:  blockRange.Ptr(),
				})
			}
		}
	}
	for _, child := range spec.Blocks {
		if !child.Unique || c == nil {
			continue
		}
		var first *hcl.Block
		for _, b := range c.Blocks {
			if b.Type != child.Type {
				continue
			}
			if first == nil {
				first = b
				continue
			}
			diags = append(diags, duplicateBlock(first.DefRange, b))
		}
	}
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	return c, diags
}

// duplicateBlock reports a second block of a type allowed once.
func duplicateBlock(first hcl.Range, b *hcl.Block) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
		Detail:   fmt.Sprintf("Only one %s block is allowed here; the first is at %s. Merge the two blocks into one.", b.Type, first),
		Subject:  b.DefRange.Ptr(),
	}
}

// attrs decodes typed values out of one block's attributes. It collects
// diagnostics as it goes so a block's every bad value is reported.
type attrs struct {
	c     *hcl.BodyContent
	block hcl.Range
	diags hcl.Diagnostics
}

func (a *attrs) value(name string, want cty.Type) (cty.Value, hcl.Range, bool) {
	at, ok := a.c.Attributes[name]
	if !ok {
		return cty.NilVal, a.block, false
	}
	v, diags := at.Expr.Value(nil)
	if diags.HasErrors() {
		a.diags = append(a.diags, diags...)
		return cty.NilVal, at.Expr.Range(), false
	}
	if v.IsNull() {
		return cty.NilVal, at.Expr.Range(), false
	}
	if !v.IsWhollyKnown() {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown value", Detail: fmt.Sprintf("The value of %q cannot be known when the file is read. Write a literal value.", name), Subject: at.Expr.Range().Ptr()})
		return cty.NilVal, at.Expr.Range(), false
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		a.diags = append(a.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("The value of %q must be a %s: %s. Write it as %s.", name, friendlyType(want), err, example(want)),
			Subject:  at.Expr.Range().Ptr(),
		})
		return cty.NilVal, at.Expr.Range(), false
	}
	return cv, at.Expr.Range(), true
}

func friendlyType(t cty.Type) string {
	switch {
	case t == cty.String:
		return "string"
	case t == cty.Bool:
		return "bool"
	case t == cty.Number:
		return "number"
	case t.IsListType():
		return "list of strings"
	case t.IsMapType():
		return "map of strings"
	}
	return t.FriendlyName()
}

func example(t cty.Type) string {
	switch {
	case t == cty.String:
		return `"text"`
	case t == cty.Bool:
		return "true or false"
	case t == cty.Number:
		return "a whole number, e.g. 5"
	case t.IsListType():
		return `["a", "b"]`
	case t.IsMapType():
		return `{ KEY = "value" }`
	}
	return t.FriendlyName()
}

func (a *attrs) str(name string) Value[string] {
	v, r, ok := a.value(name, cty.String)
	if !ok {
		return Value[string]{Range: r}
	}
	return Value[string]{V: v.AsString(), Set: true, Range: r}
}

func (a *attrs) boolean(name string) Value[bool] {
	v, r, ok := a.value(name, cty.Bool)
	if !ok {
		return Value[bool]{Range: r}
	}
	return Value[bool]{V: v.True(), Set: true, Range: r}
}

func (a *attrs) integer(name string) Value[int] {
	v, r, ok := a.value(name, cty.Number)
	if !ok {
		return Value[int]{Range: r}
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if acc != big.Exact || i < 0 || i > 1<<31 {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid number", Detail: fmt.Sprintf("The value of %q must be a whole number from 0 to %d. Write it without a fraction.", name, 1<<31), Subject: r.Ptr()})
		return Value[int]{Range: r}
	}
	return Value[int]{V: int(i), Set: true, Range: r}
}

func (a *attrs) list(name string) Value[[]string] {
	v, r, ok := a.value(name, cty.List(cty.String))
	if !ok {
		return Value[[]string]{Range: r}
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Null list element", Detail: fmt.Sprintf("%q must not contain null. Remove the element.", name), Subject: r.Ptr()})
			continue
		}
		out = append(out, e.AsString())
	}
	var elems []hcl.Range
	if exprs, d := hcl.ExprList(a.c.Attributes[name].Expr); !d.HasErrors() && len(exprs) == len(out) {
		for _, e := range exprs {
			elems = append(elems, e.Range())
		}
	}
	return Value[[]string]{V: out, Set: true, Range: r, Elems: elems}
}

func (a *attrs) strMap(name string) Value[map[string]string] {
	v, r, ok := a.value(name, cty.Map(cty.String))
	if !ok {
		return Value[map[string]string]{Range: r}
	}
	out := map[string]string{}
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() {
			a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Null map value", Detail: fmt.Sprintf("%q[%q] is null. Give it a string value or remove it.", name, k.AsString()), Subject: r.Ptr()})
			continue
		}
		out[k.AsString()] = e.AsString()
	}
	return Value[map[string]string]{V: out, Set: true, Range: r}
}

func (a *attrs) duration(name string) Value[time.Duration] {
	s := a.str(name)
	if !s.Set {
		return Value[time.Duration]{Range: s.Range}
	}
	d, err := ParseDuration(s.V)
	if err != nil {
		a.diags = append(a.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("The value of %q, %q, is not a duration: %s. Write a number with a unit, such as \"30s\", \"1m\" or \"500ms\".", name, s.V, err),
			Subject:  s.Range.Ptr(),
		})
		return Value[time.Duration]{Range: s.Range}
	}
	return Value[time.Duration]{V: d, Set: true, Range: s.Range}
}

// ParseDuration is time.ParseDuration without negative values and with
// clearer words for the common mistakes ("ten", "30").
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("it is empty")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("it has no unit")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("it must be a number followed by ns, us, ms, s, m or h")
	}
	if d < 0 {
		return 0, fmt.Errorf("it is negative")
	}
	return d, nil
}

func (a *attrs) size(name string) Value[int64] {
	at, ok := a.c.Attributes[name]
	if !ok {
		return Value[int64]{Range: a.block}
	}
	v, diags := at.Expr.Value(nil)
	r := at.Expr.Range()
	if diags.HasErrors() {
		a.diags = append(a.diags, diags...)
		return Value[int64]{Range: r}
	}
	var text string
	switch {
	case v.IsNull() || !v.IsWhollyKnown():
		return Value[int64]{Range: r}
	case v.Type() == cty.Number:
		text = v.AsBigFloat().Text('f', 0)
	case v.Type() == cty.String:
		text = v.AsString()
	default:
		text = "?"
	}
	n, err := ParseSize(text)
	if err != nil {
		a.diags = append(a.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid size", Detail: fmt.Sprintf("The value of %q, %q, is not a size: %s. Write a number of bytes or a number with KB, MB or GB, such as \"100MB\".", name, text, err), Subject: r.Ptr()})
		return Value[int64]{Range: r}
	}
	return Value[int64]{V: n, Set: true, Range: r}
}

// ParseSize reads "100MB", "512KiB", "1G" or "1048576" as bytes.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("it must be a positive whole number with an optional unit")
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("it is too large")
	}
	return n * mult, nil
}

// enum checks a string value against its allowed values.
func (a *attrs) enum(name string, v Value[string], allowed []string) {
	if !v.Set {
		return
	}
	for _, x := range allowed {
		if v.V == x {
			return
		}
	}
	a.diags = append(a.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s", name),
		Detail:   fmt.Sprintf("%q is not a valid %s.%s Use one of: %s.", v.V, name, didYouMean(v.V, allowed), strings.Join(allowed, ", ")),
		Subject:  v.Range.Ptr(),
	})
}

// didYouMean returns " Did you mean \"x\"?" for a close match, else "".
func didYouMean(given string, options []string) string {
	if s := suggest(given, options); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

func suggest(given string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if d := levenshtein.Distance(strings.ToLower(given), strings.ToLower(o), nil); d < bestDist {
			best, bestDist = o, d
		}
	}
	return best
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// improveUnsupported rewrites hcl's "Unsupported argument/block type"
// details so they suggest the closest name among all of the block's
// (hcl skips names already set) and end with the fix.
func improveUnsupported(diags hcl.Diagnostics, spec BlockSpec) {
	where := "here"
	if spec.Type != "file" {
		where = "in " + article(spec.Type) + " " + spec.Type + " block"
	}
	for _, d := range diags {
		var prefix string
		var names []string
		switch d.Summary {
		case "Unsupported argument":
			prefix = "An argument named "
			for _, a := range spec.Attrs {
				names = append(names, a.Name)
			}
		case "Unsupported block type":
			prefix = "Blocks of type "
			for _, b := range spec.Blocks {
				names = append(names, b.Type)
			}
		case "Extraneous JSON object property":
			// The JSON form cannot tell an argument from a block.
			d.Summary = "Unsupported argument or block"
			prefix = "No argument or block type is named "
			for _, a := range spec.Attrs {
				names = append(names, a.Name)
			}
			for _, b := range spec.Blocks {
				names = append(names, b.Type)
			}
		default:
			continue
		}
		rest, ok := strings.CutPrefix(d.Detail, prefix)
		if !ok {
			continue
		}
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			continue
		}
		name, _ := strconv.Unquote(q)
		what := map[string]string{"Unsupported argument": "argument", "Unsupported block type": "block"}[d.Summary]
		if what == "" {
			what = "argument or block"
		}
		fix := fmt.Sprintf(" Remove it. The %ss allowed %s are: %s.", what, where, strings.Join(names, ", "))
		if len(names) == 0 {
			fix = fmt.Sprintf(" Remove it: no %ss are allowed %s.", what, where)
		}
		if s := suggest(name, names); s != "" {
			fix = fmt.Sprintf(" Did you mean %q? Rename it, or remove it.", s)
		}
		d.Detail = fmt.Sprintf("%s %s named %q is not expected %s.%s", strings.ToUpper(article(what)[:1])+article(what)[1:], what, name, where, fix)
	}
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
