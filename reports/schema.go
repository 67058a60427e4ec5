package reports

import _ "embed"

// ResultSchema is the JSON Schema (draft 2020-12) of result.json, format
// "keystorm.result/v1": what JSON writes and `keystorm report` reads back,
// published as reports/result.schema.json under the $id
// "https://github.com/keystorm/keystorm/reports/result.schema.json".
// README.md documents the same fields in prose.
//
// It is exact about shape: required fields, types, the enumerations
// (statuses, stacks, timeline kinds, exit codes), and no field the writer
// does not write; fields omitted when empty are optional and never empty
// when present. Tools and tests share these bytes; the file is the source,
// this variable embeds it, so the two cannot differ.
//
//go:embed result.schema.json
var ResultSchema []byte
