package ingest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// compact gives json.Compact's bytes, and hands back a payload without
// whitespace outside its strings as it is.
func TestCompact(t *testing.T) {
	for _, raw := range []string{
		`{"title":"Cluster State","a":[1,2]}`,
		`{"title": "Cluster State"}`,
		`{"s":"quote \" then space","b":1}`,
		`{"s":"back\\","b" :1}`,
		"{\"s\":\"tab\\t\"\n}",
		`{"s":"\\\" ,"}`,
		` {"a":1} `,
		`{"a":[ ]}`,
		`{"é":"😀 x"}`,
	} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(raw)); err != nil {
			t.Fatal(err)
		}
		got := compact([]byte(raw))
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("compact(%s) = %s, want %s", raw, got, want.Bytes())
		}
		if padded([]byte(raw)) == (want.String() == raw) {
			t.Errorf("padded(%s) = %v", raw, padded([]byte(raw)))
		}
	}
}
