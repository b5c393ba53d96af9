// Package config is the source representation of a dewy config file: HCL v2
// (native syntax or the JSON form, *.hcl.json) decoded into structs that keep
// the hcl.Range of every block, label and attribute, the koanf layering of
// the flat agent settings, and Compile, which checks everything and builds
// an immutable plan.Plan.
//
// Every function here returns hcl.Diagnostics and keeps going after an
// error, so one run reports every problem. Nothing here starts a process,
// reads the process environment or touches the network: the environment
// and the flags the user set are passed in by cmd/dewy.
//
// The blocks and attributes are declared once, in Spec (spec.go); the
// decoder builds its hcl.BodySchema from it and the schema/ generator
// writes the JSON Schema and the reference page from it.
package config
