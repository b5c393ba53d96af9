package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/dewyhq/dewy/actions"
	"github.com/dewyhq/dewy/config"
	"github.com/dewyhq/dewy/engine/plan"
)

// JSONSchema renders the JSON Schema of the config's JSON form.
func JSONSchema() ([]byte, error) {
	spec := config.Spec()
	root := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://github.com/dewyhq/dewy/schema/dewy.schema.json",
		"title":                "dewy config (JSON form, *.hcl.json)",
		"description":          spec.Doc,
		"type":                 "object",
		"additionalProperties": false,
		"properties":           map[string]any{},
	}
	props := root["properties"].(map[string]any)
	for _, b := range spec.Blocks {
		body := blockSchema(b)
		if b.Label == "" {
			props[b.Type] = body
			continue
		}
		m := map[string]any{
			"description":          b.Doc,
			"type":                 "object",
			"additionalProperties": body,
		}
		if b.Type == "signal" {
			m["propertyNames"] = map[string]any{"pattern": signalPattern()}
		} else {
			m["propertyNames"] = map[string]any{"pattern": "^[A-Za-z0-9_.-]+$"}
		}
		props[b.Type] = m
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	return buf.Bytes(), nil
}

func blockSchema(b config.BlockSpec) map[string]any {
	props := map[string]any{}
	var required []string
	for _, a := range b.Attrs {
		props[a.Name] = attrSchema(a)
		if a.Required {
			required = append(required, a.Name)
		}
	}
	for _, c := range b.Blocks {
		props[c.Type] = blockSchema(c)
	}
	s := map[string]any{"description": b.Doc, "type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func attrSchema(a config.AttrSpec) map[string]any {
	s := map[string]any{"description": a.Doc}
	switch a.Kind {
	case config.KindString:
		s["type"] = "string"
		if len(a.Enum) > 0 {
			s["enum"] = a.Enum
		}
	case config.KindBool:
		s["type"] = "boolean"
	case config.KindInt:
		s["type"] = "integer"
		s["minimum"] = 0
	case config.KindDuration:
		s["type"] = "string"
		s["pattern"] = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	case config.KindSize:
		s["type"] = []string{"string", "integer"}
		s["pattern"] = `^[0-9]+ ?([KMG]i?B?|B)?$`
	case config.KindStringList:
		s["type"] = "array"
		s["items"] = map[string]any{"type": "string"}
	case config.KindStringMap:
		s["type"] = "object"
		s["additionalProperties"] = map[string]any{"type": "string"}
	}
	if a.Default != "" {
		switch a.Kind {
		case config.KindBool:
			s["default"] = a.Default == "true"
		case config.KindInt:
			n, _ := strconv.Atoi(a.Default)
			s["default"] = n
		default:
			s["default"] = a.Default
		}
	}
	return s
}

// signalPattern matches the signal names a block may use: "USR1",
// "SIGUSR1", upper or lower case.
func signalPattern() string {
	var alts []string
	for _, n := range plan.SignalNames() {
		alts = append(alts, n, strings.ToLower(n))
	}
	return "^(SIG|sig)?(" + strings.Join(alts, "|") + ")$"
}

// Reference renders the reference page of every block and attribute.
func Reference() []byte {
	var b bytes.Buffer
	spec := config.Spec()
	b.WriteString("# dewy config reference\n\n")
	b.WriteString("Generated from `config.Spec` by `go test ./schema -update`; do not edit by hand.\n")
	b.WriteString("A complete, commented config is `dewy.hcl.example`; check a file with `dewy validate FILE`.\n\n")
	b.WriteString(spec.Doc + " Durations are strings such as \"30s\", \"1m\" or \"500ms\"; sizes are \"100MB\", \"512KiB\" or a number of bytes.\n\n")
	for _, bs := range spec.Blocks {
		writeBlock(&b, bs, "")
	}
	b.WriteString("## Actions\n\nThe values of `action` in a `signal` block.\n\n| action | parameters | what it does |\n|---|---|---|\n")
	for _, d := range actions.Vocabulary() {
		var ps []string
		for _, p := range d.Params {
			ps = append(ps, "`"+p.Name+"`")
		}
		params := strings.Join(ps, ", ")
		if params == "" {
			params = "none"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", d.Name, params, cell(d.Doc))
	}
	b.WriteString("\n## Shipped signal table\n\nA `signal` block replaces one row; the others stay.\n\n| signal | action |\n|---|---|\n")
	for _, e := range plan.DefaultSignals() {
		fmt.Fprintf(&b, "| %s | `%s` |\n", plan.SignalName(e.Signal), e.Action)
	}
	b.WriteString("\nSignals a block may name: " + strings.Join(plan.SignalNames(), ", ") + " (with or without `SIG`, any case).\n")
	b.WriteString("KILL and STOP cannot be caught; CHLD, PIPE, URG and PROF are reserved for dewy and the Go runtime; fault signals (SEGV, BUS, FPE, ILL, TRAP, ABRT, SYS) cannot be mapped.\n")
	return b.Bytes()
}

func writeBlock(b *bytes.Buffer, bs config.BlockSpec, parent string) {
	head := "`" + bs.Type
	if bs.Label != "" {
		head += ` "<` + bs.Label + `>"`
	}
	head += "`"
	level := "##"
	if parent != "" {
		level = "###"
		head = "`" + parent + "` › " + head
	}
	fmt.Fprintf(b, "%s %s\n\n%s", level, head, bs.Doc)
	if bs.Unique {
		b.WriteString(" At most one per " + map[bool]string{true: "file", false: "`" + parent + "`"}[parent == ""] + ".")
	}
	b.WriteString("\n\n")
	if len(bs.Attrs) > 0 {
		b.WriteString("| attribute | type | default | description |\n|---|---|---|---|\n")
		for _, a := range bs.Attrs {
			def := "—"
			switch {
			case a.Required:
				def = "required"
			case a.Default != "":
				def = "`" + a.Default + "`"
			}
			doc := a.Doc
			if len(a.Enum) > 0 {
				doc += " One of: " + strings.Join(a.Enum, ", ") + "."
			}
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", a.Name, a.Kind, def, cell(doc))
		}
		b.WriteString("\n")
	}
	for _, c := range bs.Blocks {
		writeBlock(b, c, bs.Type)
	}
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
