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
		if !json.Valid(trimmed) {
			// Only to word the error: the decoder says where and why.
			var v []json.RawMessage
			err := json.Unmarshal(trimmed, &v)
			if err == nil {
				err = fmt.Errorf("not valid JSON")
			}
			return nil, invalid("", "malformed JSON array: "+err.Error())
		}
		items = cutArray(trimmed)
		if items == nil {
			return nil, invalid("", "malformed JSON array: not an array")
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

// cutArray returns the elements of data, a valid JSON array, as sub-slices
// of it (without copying), or nil when data is not an array after all.
func cutArray(data []byte) []json.RawMessage {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil
	}
	items := []json.RawMessage{}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return items
	}
	for i < len(data) {
		start := i
		depth, inString := 0, false
	value:
		for ; i < len(data); i++ {
			c := data[i]
			switch {
			case inString:
				switch c {
				case '\\':
					i++
				case '"':
					inString = false
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				if depth == 0 {
					break value // the array's closing bracket
				}
				depth--
			case c == ',' && depth == 0:
				break value
			}
		}
		end := start
		for j := i - 1; j >= start; j-- {
			if !isSpace(data[j]) {
				end = j + 1
				break
			}
		}
		items = append(items, json.RawMessage(data[start:end]))
		if i >= len(data) || data[i] == ']' {
			break
		}
		i = skipSpace(data, i+1)
	}
	return items
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}
