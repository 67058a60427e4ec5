// Package scenario reads keystorm's scenario files: YAML that names a
// stack, a setup, a load, a timeline of faults and recovery steps, and what
// must hold.
//
// Reading is strict because a scenario that silently means something else
// than its author wrote (a misspelt field ignored, "10" read as ten
// nanoseconds) passes for the wrong reason. So Parse walks the YAML node
// tree and the Go types together, and every problem comes back at once,
// each with file:line:column, the field's path and what was expected.
// Reading happens in two phases, like a compiler's parse and type check:
// decoding errors (syntax, unknown fields, wrong types, unknown actions) are
// reported first, since checking the meaning of a half-decoded file mostly
// produces noise; then defaults are applied and Validate checks the
// meaning (references, the timeline's order, budgets).
//
// The package also generates the format's JSON Schema (Schema) and the
// short summary `keystorm validate` prints (Describe).
package scenario
