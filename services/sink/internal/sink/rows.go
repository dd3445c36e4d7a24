package sink

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/natsx"
)

// Table is a ClickHouse table the sink writes, with its column list.
type Table struct {
	Name    string
	Columns []string
}

// The tables, in the column order of their rows.
var (
	TableBeacons = Table{"beacons", []string{"event_id", "site", "session", "event", "scope", "ts", "ts_ms", "received_at",
		"url", "title", "nav_count", "main_count", "form_count", "button_count", "dom_nodes", "label_keys", "label_values",
		"topology_nodes", "topology_edges", "flow_count", "trace_id", "stream_seq", "batch_index", "payload"}}
	TableTopology = Table{"topology_snapshots", []string{"event_id", "site", "scope", "ts", "ts_ms", "nodes", "edges",
		"edge_from", "edge_to", "fingerprint"}}
	TableProfiles = Table{"profiles", []string{"event_id", "site", "updated_at", "updated_ms", "rtt_version", "contact",
		"supports", "corridors", "profile", "trace_id", "stream_seq"}}
	TableDiagnostics = Table{"diagnostics", []string{"event_id", "kind", "site", "received_at", "received_ms", "status",
		"score", "request", "result", "trace_id", "stream_seq"}}
	TableDrift = Table{"drift_events", []string{"drift_id", "run_id", "site", "scope", "ts", "ts_ms", "detected_at",
		"event_id", "first_event_id", "first_ts", "magnitude", "d_nav_count", "d_main_count", "d_form_count",
		"d_button_count", "d_dom_nodes", "d_topology", "baseline", "observed", "streak", "nodes_added", "nodes_removed",
		"edges_added", "edges_removed", "trace_id"}}
	TableAlignments = Table{"alignments", []string{"record_id", "run_id", "site", "corridor", "ts", "ts_ms", "source",
		"source_event_id", "flow_index", "path", "matched", "on_corridor", "path_match", "deviating_hops", "deviations",
		"latency_ms", "budget_ms", "latency_ratio", "within_budget", "score", "running_score", "total", "on_total", "trace_id"}}
	TableDeadLetters = Table{"dead_letters", []string{"dlq_id", "service", "subject", "stream", "stream_seq", "failed_at",
		"reason", "payload"}}
)

// Row is one row for one table, made by record Item of its message (0 for
// a message of one record).
type Row struct {
	Table  *Table
	Values []any
	Item   int
}

// ItemError is one record of a message of several (a batch of beacons,
// coalesced derived records) that can never become rows; the message's
// other records still can.
type ItemError struct {
	Index   int
	EventID string
	Data    []byte
	Err     error
}

// Message is what the sink needs of a JetStream message.
type Message struct {
	Subject string
	Header  nats.Header
	Data    []byte
	Seq     uint64 // stream sequence
}

// ErrPoison marks a message that can never become rows: it goes to the dead
// letters instead of being retried.
var ErrPoison = errors.New("poison message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPoison, fmt.Sprintf(format, args...))
}

// Rows turns one message into its rows, by subject. An error means the
// whole message can never become rows; ItemErrors name the records of a
// message of several that cannot, beside the rows of the others.
func Rows(m Message) ([]Row, []ItemError, error) {
	switch {
	case batch.IsBeacons(m.Subject):
		return beaconRows(m)
	case strings.HasPrefix(m.Subject, "rtt.profile."):
		return one(profileRows(m))
	case strings.HasPrefix(m.Subject, "rtt.diag."):
		return one(diagRows(m))
	case family(m.Subject, "rtt.drift"):
		return records(m, driftRow)
	case family(m.Subject, "rtt.alignment"):
		return records(m, alignmentRow)
	case strings.HasPrefix(m.Subject, "rtt.dlq."):
		return one(deadLetterRows(m))
	}
	return nil, nil, poison("no table for subject %q", m.Subject)
}

// RowsOf is how many records a message carries: what a batch weighs it by.
func RowsOf(subject string, h nats.Header) int {
	if n, err := strconv.Atoi(h.Get(natsx.HeaderItems)); err == nil && n > 0 {
		return n
	}
	return 1
}

func rowsOf(msg jetstream.Msg) int { return RowsOf(msg.Subject(), msg.Headers()) }

func family(subject, prefix string) bool {
	return subject == prefix || strings.HasPrefix(subject, prefix+".")
}

func one(rows []Row, err error) ([]Row, []ItemError, error) { return rows, nil, err }

// records makes the rows of a message of derived records: one JSON record
// per line.
func records(m Message, row func(data []byte, trace string) (Row, error)) ([]Row, []ItemError, error) {
	trace := TraceID(m.Header)
	if bytes.IndexByte(m.Data, '\n') < 0 {
		r, err := row(m.Data, trace)
		if err != nil {
			return nil, nil, err
		}
		return []Row{r}, nil, nil
	}
	var rows []Row
	var bad []ItemError
	for i, line := range bytes.Split(m.Data, []byte{'\n'}) {
		r, err := row(line, trace)
		if err != nil {
			bad = append(bad, ItemError{Index: i, Data: line, Err: err})
			continue
		}
		r.Item = i
		rows = append(rows, r)
	}
	return rows, bad, nil
}

// TraceID extracts the trace id of a W3C traceparent header, or "".
func TraceID(h nats.Header) string {
	tp := h.Get("traceparent")
	if len(tp) >= 55 && tp[2] == '-' && tp[35] == '-' {
		return tp[3:35]
	}
	return ""
}

func split(t time.Time) (time.Time, uint16) {
	t = t.UTC()
	return t.Truncate(time.Second), uint16(t.Nanosecond() / int(time.Millisecond))
}

func headerTime(h nats.Header, name string) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, h.Get(name)); err == nil {
		return t
	}
	return time.Now()
}

func beaconRows(m Message) ([]Row, []ItemError, error) {
	items, err := batch.Items(m.Subject, m.Header, m.Data)
	if err != nil {
		return nil, nil, poison("%v", err)
	}
	received, _ := split(headerTime(m.Header, natsx.HeaderReceivedAt))
	trace := TraceID(m.Header)
	if len(items) == 1 && !batch.IsBatch(m.Subject) {
		rows, err := itemRows(items[0], m.Seq, received, trace)
		return rows, nil, err
	}
	rows := make([]Row, 0, len(items))
	var bad []ItemError
	for _, it := range items {
		rs, err := itemRows(it, m.Seq, received, trace)
		if err != nil {
			bad = append(bad, ItemError{Index: it.Index, EventID: it.EventID, Data: it.Data, Err: err})
			continue
		}
		rows = append(rows, rs...)
	}
	return rows, bad, nil
}

// itemRows makes the rows of one stored beacon: its beacons row and, when
// it carries a topology, its topology_snapshots row.
func itemRows(it batch.Item, seq uint64, received time.Time, trace string) ([]Row, error) {
	b, nflows, err := beacon.FromStoredCountingFlows(it.Data)
	if err != nil {
		return nil, poison("beacon payload: %v", err)
	}
	t := b.Time
	id := it.EventID
	if id == "" {
		return nil, poison("beacon without event id")
	}
	ts, ms := split(t)
	keys := make([]string, 0, len(b.Labels))
	for k := range b.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = b.Labels[k]
	}
	nodes, from, to := edges(b.Topology)
	rows := []Row{{&TableBeacons, []any{
		id, b.Site, b.Session, b.Event, b.KeyScope(), ts, ms, received,
		b.Structure.URL, b.Structure.Title, u32(b.Structure.NavCount), u32(b.Structure.MainCount),
		u32(b.Structure.FormCount), u32(b.Structure.ButtonCount), u32(b.Structure.DomNodes), keys, vals,
		uint32(nodes), uint32(len(from)), uint32(nflows), trace, seq, uint16(it.Index), string(it.Data),
	}, it.Index}}
	if b.Topology != nil {
		rows = append(rows, Row{&TableTopology, []any{
			id, b.Site, b.KeyScope(), ts, ms, uint32(nodes), uint32(len(from)), from, to, fingerprint(from, to),
		}, it.Index})
	}
	return rows, nil
}

func u32(v int64) uint32 {
	if v < 0 {
		return 0
	}
	if v > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(v)
}

// edges lists a topology's distinct nodes and its edges, sorted.
func edges(g map[string][]string) (nodes int, from, to []string) {
	seen := make(map[string]struct{}, len(g))
	type edge struct{ a, b string }
	var es []edge
	for n, deps := range g {
		seen[n] = struct{}{}
		for _, d := range deps {
			seen[d] = struct{}{}
			es = append(es, edge{n, d})
		}
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].a != es[j].a {
			return es[i].a < es[j].a
		}
		return es[i].b < es[j].b
	})
	from, to = make([]string, 0, len(es)), make([]string, 0, len(es))
	for i, e := range es {
		if i > 0 && e == es[i-1] {
			continue
		}
		from, to = append(from, e.a), append(to, e.b)
	}
	return len(seen), from, to
}

// fingerprint identifies a topology's edge set, so a dashboard sees a change
// as a new fingerprint.
func fingerprint(from, to []string) string {
	var b strings.Builder
	for i := range from {
		b.WriteString(from[i])
		b.WriteByte(0)
		b.WriteString(to[i])
		b.WriteByte(1)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:8])
}

func profileRows(m Message) ([]Row, error) {
	var p struct {
		Version   string            `json:"rtt_version"`
		Contact   string            `json:"contact"`
		Supports  []string          `json:"supports"`
		Corridors []json.RawMessage `json:"corridors"`
	}
	if err := json.Unmarshal(m.Data, &p); err != nil {
		return nil, poison("profile payload: %v", err)
	}
	site := m.Header.Get(natsx.HeaderSite)
	if site == "" {
		return nil, poison("profile without %s header", natsx.HeaderSite)
	}
	at, ms := split(headerTime(m.Header, natsx.HeaderReceivedAt))
	if p.Supports == nil {
		p.Supports = []string{}
	}
	return []Row{{Table: &TableProfiles, Values: []any{
		m.Header.Get(nats.MsgIdHdr), site, at, ms, p.Version, p.Contact, p.Supports, uint32(len(p.Corridors)),
		string(m.Data), TraceID(m.Header), m.Seq,
	}}}, nil
}

// Diagnostic is the message ingest publishes for a diagnostics submission.
type Diagnostic struct {
	Kind    string          `json:"kind"`
	Site    string          `json:"site"`
	Status  string          `json:"status"`
	Score   float64         `json:"score"`
	Request json.RawMessage `json:"request"`
	Result  json.RawMessage `json:"result"`
}

func diagRows(m Message) ([]Row, error) {
	var d Diagnostic
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return nil, poison("diagnostic payload: %v", err)
	}
	at, ms := split(headerTime(m.Header, natsx.HeaderReceivedAt))
	return []Row{{Table: &TableDiagnostics, Values: []any{
		m.Header.Get(nats.MsgIdHdr), d.Kind, d.Site, at, ms, d.Status, d.Score, string(d.Request), string(d.Result),
		TraceID(m.Header), m.Seq,
	}}}, nil
}

func driftRow(data []byte, trace string) (Row, error) {
	var d derived.Drift
	if err := gojson.Unmarshal(data, &d); err != nil {
		return Row{}, poison("drift payload: %v", err)
	}
	if d.DriftID == "" {
		return Row{}, poison("drift event without drift_id")
	}
	return driftValues(d, trace), nil
}

func driftValues(d derived.Drift, trace string) Row {
	ts, ms := split(d.TS)
	first, _ := split(d.FirstTS)
	detected, _ := split(d.DetectedAt)
	v := d.Vector
	return Row{Table: &TableDrift, Values: []any{
		d.DriftID, d.RunID, d.Site, d.Scope, ts, ms, detected, d.EventID, d.FirstEventID, first, d.Magnitude,
		v.Nav, v.Main, v.Form, v.Button, v.DomNodes, v.Topology, d.Baseline[:], d.Observed[:], uint32(d.Streak),
		uint32(d.NodesAdded), uint32(d.NodesRemoved), uint32(d.EdgesAdded), uint32(d.EdgesRemoved), trace,
	}}
}

func alignmentRow(data []byte, trace string) (Row, error) {
	var a derived.Alignment
	if err := gojson.Unmarshal(data, &a); err != nil {
		return Row{}, poison("alignment payload: %v", err)
	}
	if a.RecordID == "" {
		return Row{}, poison("alignment without record_id")
	}
	return alignmentValues(a, trace), nil
}

func alignmentValues(a derived.Alignment, trace string) Row {
	ts, ms := split(a.TS)
	dev, _ := json.Marshal(a.DeviatingHops)
	if a.Path == nil {
		a.Path = []string{}
	}
	return Row{Table: &TableAlignments, Values: []any{
		a.RecordID, a.RunID, a.Site, a.Corridor, ts, ms, a.Source, a.SourceEventID, uint32(a.FlowIndex), a.Path,
		b8(a.Matched), b8(a.OnCorridor), b8(a.PathMatch), uint32(len(a.DeviatingHops)), string(dev),
		a.LatencyMS, a.BudgetMS, a.LatencyRatio, b8(a.WithinBudget), a.Score, a.RunningScore, a.Total, a.OnTotal,
		trace,
	}}
}

func b8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func deadLetterRows(m Message) ([]Row, error) {
	seq, _ := strconv.ParseUint(m.Header.Get(natsx.HeaderSeq), 10, 64)
	id := m.Header.Get(nats.MsgIdHdr)
	if id == "" {
		id = fmt.Sprintf("dlq-%d", m.Seq)
	}
	at, _ := split(headerTime(m.Header, natsx.HeaderReceivedAt))
	return []Row{{Table: &TableDeadLetters, Values: []any{
		id, m.Header.Get(natsx.HeaderService), m.Header.Get(natsx.HeaderSubject), m.Header.Get(natsx.HeaderStream),
		seq, at, m.Header.Get(natsx.HeaderReason), string(m.Data),
	}}}, nil
}
