package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
)

// ParquetBeacon is one row of a Parquet export: every field of the beacon
// with its own column (nested for structure and flows), the event id as in
// the NDJSON export, and the fields the beacon schema does not name kept as
// JSON in the extra columns, so that nothing is lost. A column that is null
// is a field the beacon did not have; an empty map or list is one it had
// empty.
type ParquetBeacon struct {
	EventID   string              `parquet:"event_id"`
	Site      string              `parquet:"site"`
	Session   string              `parquet:"session"`
	Event     string              `parquet:"event"`
	TS        string              `parquet:"ts"` // as sent: RFC 3339, with the client's offset and precision
	Scope     *string             `parquet:"scope,optional"`
	Structure ParquetStructure    `parquet:"structure"`
	Labels    map[string]string   `parquet:"labels,optional"`
	Topology  map[string][]string `parquet:"topology,optional"`
	Flows     []ParquetFlow       `parquet:"flows,optional,list"`
	// Extra holds the other top-level fields as a JSON object.
	Extra *string `parquet:"extra,optional"`
}

// ParquetStructure is a beacon's structure.
type ParquetStructure struct {
	URL         string  `parquet:"url"`
	Title       string  `parquet:"title"`
	NavCount    int64   `parquet:"nav_count"`
	MainCount   int64   `parquet:"main_count"`
	FormCount   int64   `parquet:"form_count"`
	ButtonCount int64   `parquet:"button_count"`
	DomNodes    int64   `parquet:"dom_nodes"`
	Extra       *string `parquet:"extra,optional"`
}

// ParquetFlow is one observed flow.
type ParquetFlow struct {
	Path      []string `parquet:"path,list"`
	LatencyMS float64  `parquet:"latency_ms"`
	Corridor  *string  `parquet:"corridor,optional"`
	Extra     *string  `parquet:"extra,optional"`
}

// parquetBatch is how many rows the encoder hands to the writer at once.
const parquetBatch = 1024

type parquetEncoder struct {
	w   *parquet.GenericWriter[ParquetBeacon]
	buf []ParquetBeacon
}

func newParquetEncoder(w io.Writer, meta Meta) *parquetEncoder {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd), parquet.CreatedBy("rtt replay", "", "")}
	if meta.Selection != "" {
		opts = append(opts, parquet.KeyValueMetadata("rtt.selection", meta.Selection))
	}
	if meta.Source != "" {
		opts = append(opts, parquet.KeyValueMetadata("rtt.source", meta.Source))
	}
	return &parquetEncoder{w: parquet.NewGenericWriter[ParquetBeacon](w, opts...), buf: make([]ParquetBeacon, 0, parquetBatch)}
}

func (e *parquetEncoder) write(it *Item) error {
	row, err := ToParquet(it.Payload, it.EventID)
	if err != nil {
		return fmt.Errorf("beacon %s: %w", it.EventID, err)
	}
	e.buf = append(e.buf, row)
	if len(e.buf) == cap(e.buf) {
		return e.flush()
	}
	return nil
}

func (e *parquetEncoder) flush() error {
	if len(e.buf) == 0 {
		return nil
	}
	_, err := e.w.Write(e.buf)
	clear(e.buf)
	e.buf = e.buf[:0]
	return err
}

func (e *parquetEncoder) finish() error {
	if err := e.flush(); err != nil {
		return err
	}
	return e.w.Close()
}

// ToParquet converts a stored beacon payload with its event id into its
// Parquet row. FromParquet turns the row back into the NDJSON export's
// beacon (equal as JSON: the same fields and values).
func ToParquet(payload []byte, eventID string) (ParquetBeacon, error) {
	var row ParquetBeacon
	top, err := topLevel(payload)
	if err != nil {
		return row, err
	}
	row.EventID = eventID
	field := func(name string, dst any) error {
		raw, ok := top[name]
		if !ok {
			return nil
		}
		delete(top, name)
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("field %s: %w", name, err)
		}
		return nil
	}
	delete(top, "event_id")
	for _, f := range []struct {
		name string
		dst  any
	}{{"site", &row.Site}, {"session", &row.Session}, {"event", &row.Event}, {"ts", &row.TS}, {"scope", &row.Scope},
		{"labels", &row.Labels}, {"topology", &row.Topology}} {
		if err := field(f.name, f.dst); err != nil {
			return row, err
		}
	}
	if raw, ok := top["structure"]; ok {
		delete(top, "structure")
		if row.Structure, err = structureRow(raw); err != nil {
			return row, err
		}
	}
	if raw, ok := top["flows"]; ok {
		delete(top, "flows")
		var flows []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &flows); err != nil {
			return row, fmt.Errorf("field flows: %w", err)
		}
		row.Flows = make([]ParquetFlow, len(flows))
		for i, f := range flows {
			if row.Flows[i], err = flowRow(f); err != nil {
				return row, fmt.Errorf("flows[%d]: %w", i, err)
			}
		}
	}
	row.Extra, err = extra(top)
	return row, err
}

func structureRow(raw json.RawMessage) (ParquetStructure, error) {
	var s ParquetStructure
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return s, fmt.Errorf("field structure: %w", err)
	}
	for _, f := range []struct {
		name string
		dst  any
	}{{"url", &s.URL}, {"title", &s.Title}} {
		if raw, ok := m[f.name]; ok {
			delete(m, f.name)
			if err := json.Unmarshal(raw, f.dst); err != nil {
				return s, fmt.Errorf("structure.%s: %w", f.name, err)
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"nav_count", &s.NavCount}, {"main_count", &s.MainCount}, {"form_count", &s.FormCount}, {"button_count", &s.ButtonCount}, {"dom_nodes", &s.DomNodes}} {
		if raw, ok := m[f.name]; ok {
			delete(m, f.name)
			var x float64
			if err := json.Unmarshal(raw, &x); err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
				return s, fmt.Errorf("structure.%s: %s is not an integer", f.name, raw)
			}
			*f.dst = int64(x)
		}
	}
	var err error
	s.Extra, err = extra(m)
	return s, err
}

func flowRow(m map[string]json.RawMessage) (ParquetFlow, error) {
	var f ParquetFlow
	for _, x := range []struct {
		name string
		dst  any
	}{{"path", &f.Path}, {"latency_ms", &f.LatencyMS}, {"corridor", &f.Corridor}} {
		if raw, ok := m[x.name]; ok {
			delete(m, x.name)
			if err := json.Unmarshal(raw, x.dst); err != nil {
				return f, fmt.Errorf("%s: %w", x.name, err)
			}
		}
	}
	var err error
	f.Extra, err = extra(m)
	return f, err
}

// extra encodes the fields left in m as a JSON object (keys sorted, values
// as stored), or nil when none are left.
func extra(m map[string]json.RawMessage) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// FromParquet rebuilds the beacon of a Parquet row as JSON, with its
// event_id: the same fields and values as the NDJSON export's line (the key
// order may differ).
func FromParquet(row ParquetBeacon) (json.RawMessage, error) {
	top := map[string]any{}
	if err := mergeExtra(top, row.Extra); err != nil {
		return nil, fmt.Errorf("extra: %w", err)
	}
	top["event_id"], top["site"], top["session"], top["event"], top["ts"] = row.EventID, row.Site, row.Session, row.Event, row.TS
	if row.Scope != nil {
		top["scope"] = *row.Scope
	}
	st := map[string]any{}
	if err := mergeExtra(st, row.Structure.Extra); err != nil {
		return nil, fmt.Errorf("structure.extra: %w", err)
	}
	s := row.Structure
	st["url"], st["title"], st["nav_count"], st["main_count"], st["form_count"], st["button_count"], st["dom_nodes"] =
		s.URL, s.Title, s.NavCount, s.MainCount, s.FormCount, s.ButtonCount, s.DomNodes
	top["structure"] = st
	if row.Labels != nil {
		top["labels"] = row.Labels
	}
	if row.Topology != nil {
		g := make(map[string][]string, len(row.Topology))
		for n, deps := range row.Topology {
			if deps == nil {
				deps = []string{}
			}
			g[n] = deps
		}
		top["topology"] = g
	}
	if row.Flows != nil {
		flows := make([]map[string]any, len(row.Flows))
		for i, f := range row.Flows {
			m := map[string]any{}
			if err := mergeExtra(m, f.Extra); err != nil {
				return nil, fmt.Errorf("flows[%d].extra: %w", i, err)
			}
			path := f.Path
			if path == nil {
				path = []string{}
			}
			m["path"], m["latency_ms"] = path, f.LatencyMS
			if f.Corridor != nil {
				m["corridor"] = *f.Corridor
			}
			flows[i] = m
		}
		top["flows"] = flows
	}
	return json.Marshal(top)
}

func mergeExtra(dst map[string]any, extra *string) error {
	if extra == nil {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*extra), &m); err != nil {
		return err
	}
	for k, v := range m {
		dst[k] = v
	}
	return nil
}

// ReadParquet reads a Parquet export and returns its beacons as JSON, in
// file order (see FromParquet).
func ReadParquet(r io.ReaderAt, size int64) ([]json.RawMessage, error) {
	rows, err := parquet.Read[ParquetBeacon](r, size)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	out := make([]json.RawMessage, len(rows))
	for i, row := range rows {
		if out[i], err = FromParquet(row); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
	}
	return out, nil
}

// SameJSON reports whether two JSON documents hold the same value: the same
// fields (in any order) and numbers of the same value.
func SameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
