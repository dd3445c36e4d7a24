package beacon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
)

// Split cuts a batch body into its items without decoding them: a JSON array
// of objects, or NDJSON (one object per line, blank lines ignored). A
// malformed array is an error for the whole body; a malformed NDJSON line is
// returned as its own item so that it is rejected alone.
func Split(body []byte, maxItems int) ([]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, invalid("", "empty batch")
	}
	var items []json.RawMessage
	if trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &items); err != nil {
			return nil, invalid("", "malformed JSON array: "+err.Error())
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(trimmed))
		sc.Buffer(make([]byte, 0, 64*1024), len(trimmed)+1)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			items = append(items, json.RawMessage(bytes.Clone(line)))
		}
		if err := sc.Err(); err != nil {
			return nil, invalid("", "reading NDJSON: "+err.Error())
		}
	}
	if len(items) == 0 {
		return nil, invalid("", "empty batch")
	}
	if maxItems > 0 && len(items) > maxItems {
		return nil, invalid("", fmt.Sprintf("batch of %d items exceeds the limit of %d", len(items), maxItems))
	}
	return items, nil
}
