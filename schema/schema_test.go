package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite dewy.schema.json and reference.md")

// TestArtifactsAreFresh fails when the checked-in artifacts differ from
// what the declarations generate now.
func TestArtifactsAreFresh(t *testing.T) {
	js, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{"dewy.schema.json": js, "reference.md": Reference()} {
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%s: %v (run `go test ./schema -update`)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go test ./schema -update` and commit it", name)
		}
	}
}

// TestSchemaAcceptsTheJSONExample checks the schema's shape against a valid
// JSON config: every key it uses is declared. (A full JSON Schema validator
// is not a dependency; this walks properties by hand.)
func TestSchemaAcceptsTheJSONExample(t *testing.T) {
	js, _ := JSONSchema()
	var schema map[string]any
	if err := json.Unmarshal(js, &schema); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../config/testdata/valid/json.hcl.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	walk(t, "", schema, doc)
}

func walk(t *testing.T, path string, schema map[string]any, v any) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	for k, child := range obj {
		var sub map[string]any
		if s, ok := props[k].(map[string]any); ok {
			sub = s
		} else if ap, ok := schema["additionalProperties"].(map[string]any); ok {
			sub = ap
		} else {
			t.Errorf("%s.%s: not allowed by the schema", path, k)
			continue
		}
		walk(t, path+"."+k, sub, child)
	}
}
