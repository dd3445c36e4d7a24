// Package schemas holds the JSON Schemas that ingest enforces, those that
// describe the diagnostics answers, and the numbered
// ClickHouse migrations that the sink applies on start.
package schemas

import (
	"embed"
	"io/fs"
)

//go:embed json/*.schema.json
var jsonFS embed.FS

//go:embed clickhouse/*.sql
var clickhouseFS embed.FS

//go:embed answers/*.schema.json
var answersFS embed.FS

// JSON returns the JSON Schemas, one file per payload kind (beacon, profile,
// validate, corridor, topology), named KIND.schema.json.
func JSON() fs.FS {
	sub, _ := fs.Sub(jsonFS, "json")
	return sub
}

// Answers returns the JSON Schemas of the diagnostics answers (validate,
// corridor, topology), version vst-beta/1.
func Answers() fs.FS {
	sub, _ := fs.Sub(answersFS, "answers")
	return sub
}

// ClickHouse returns the migrations, named NNN_description.sql, applied in
// numeric order.
func ClickHouse() fs.FS {
	sub, _ := fs.Sub(clickhouseFS, "clickhouse")
	return sub
}
