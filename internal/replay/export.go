package replay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Formats of an export.
const (
	FormatNDJSON  = "ndjson"
	FormatParquet = "parquet"
)

// Output receives the selected beacons of a replay, in stream order.
type Output interface {
	// Write adds one beacon.
	Write(it *Item) error
	// Close completes the output: a file appears under its name only now.
	Close() error
	// Abort discards what was written; a file output leaves no file.
	Abort()
}

// ExportLine is the NDJSON form of a stored beacon: its payload as the
// client sent it (compacted), with the event id in the beacon's own
// optional event_id field. A client-given id is already there; a derived
// one is added as the first field. Each line is so a complete beacon that
// keeps its identity when posted to /api/rtt/beacons again.
func ExportLine(payload []byte, eventID string) ([]byte, error) {
	top, err := topLevel(payload)
	if err != nil {
		return nil, err
	}
	if raw, ok := top["event_id"]; ok {
		var have string
		if json.Unmarshal(raw, &have) == nil && have == eventID {
			return bytes.TrimSpace(payload), nil
		}
		// The stored id is authoritative (the header rtt keyed the beacon
		// by); re-encode with it.
		top["event_id"], _ = json.Marshal(eventID)
		return json.Marshal(top)
	}
	id, _ := json.Marshal(eventID)
	body := bytes.TrimSpace(payload)
	rest := bytes.TrimSpace(body[1:])
	out := make([]byte, 0, len(body)+len(id)+14)
	out = append(out, `{"event_id":`...)
	out = append(out, id...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// topLevel decodes a JSON object into its fields, with exact
// (case-sensitive) names.
func topLevel(payload []byte) (map[string]json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return nil, fmt.Errorf("stored beacon is not a JSON object: %w", err)
	}
	if top == nil {
		return nil, errors.New("stored beacon is null")
	}
	return top, nil
}

// FormatOf returns the format named by format, or, when it is empty, the
// one the file name's extension implies (.parquet, else NDJSON).
func FormatOf(format, path string) (string, error) {
	switch strings.ToLower(format) {
	case FormatNDJSON, "jsonl", "json":
		return FormatNDJSON, nil
	case FormatParquet:
		return FormatParquet, nil
	case "":
		if strings.EqualFold(filepath.Ext(path), ".parquet") {
			return FormatParquet, nil
		}
		return FormatNDJSON, nil
	}
	return "", fmt.Errorf("-format: unknown format %q (want ndjson or parquet)", format)
}

// Meta is what an export records about where its beacons come from
// (Parquet file metadata; NDJSON has no place for it).
type Meta struct {
	Selection string
	Source    string
}

// CreateOutput opens an export to path ("-" is stdout) in format. A file is
// written under a temporary name in the same folder and renamed on Close,
// so an interrupted export leaves no partial file.
func CreateOutput(path, format string, stdout io.Writer, meta Meta) (Output, error) {
	var (
		w   io.Writer
		f   *os.File
		err error
	)
	if path == "-" || path == "" {
		w = stdout
	} else {
		f, err = os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
		if err != nil {
			return nil, fmt.Errorf("-out: %w", err)
		}
		w = f
	}
	fo := &fileOutput{path: path, f: f}
	switch format {
	case FormatParquet:
		fo.enc = newParquetEncoder(w, meta)
	default:
		fo.enc = &ndjsonEncoder{w: bufio.NewWriterSize(w, 1<<20)}
	}
	return fo, nil
}

// encoder writes beacons in one format.
type encoder interface {
	write(it *Item) error
	finish() error
}

// fileOutput is an encoder writing to a file renamed into place on Close,
// or to stdout.
type fileOutput struct {
	path string
	f    *os.File // nil for stdout
	enc  encoder
	done bool
}

func (o *fileOutput) Write(it *Item) error { return o.enc.write(it) }

func (o *fileOutput) Close() error {
	if o.done {
		return nil
	}
	o.done = true
	err := o.enc.finish()
	if o.f == nil {
		return err
	}
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

func (o *fileOutput) Abort() {
	if o.done {
		return
	}
	o.done = true
	if o.f != nil {
		o.f.Close()
		os.Remove(o.f.Name())
	}
}

type ndjsonEncoder struct {
	w *bufio.Writer
}

func (e *ndjsonEncoder) write(it *Item) error {
	line, err := ExportLine(it.Payload, it.EventID)
	if err != nil {
		return fmt.Errorf("beacon %s: %w", it.EventID, err)
	}
	if _, err := e.w.Write(line); err != nil {
		return err
	}
	return e.w.WriteByte('\n')
}

func (e *ndjsonEncoder) finish() error { return e.w.Flush() }
