// Package schema holds generated, checked-in artifacts that describe the
// config language: dewy.schema.json (a JSON Schema for the JSON form,
// *.hcl.json, and for editors) and reference.md (every block and
// attribute with its default). Both are produced from config.Spec and the
// actions vocabulary, the same declarations the decoder uses. The test in
// this package fails when they are stale; `go test ./schema -update`
// rewrites them. Nothing imports this package.
package schema
