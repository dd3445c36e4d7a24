package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/drift"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/natsx/natstest"
)

// rejecting is a ClickHouse stand-in that refuses, as bad data, any INSERT
// holding a row whose first value is in bad, and records what it took.
type rejecting struct {
	mu   sync.Mutex
	bad  map[string]bool
	took map[string][]string // table to first values inserted
}

func (r *rejecting) Write(_ context.Context, t *Table, rows [][]any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, row := range rows {
		if r.bad[fmt.Sprint(row[0])] {
			return fmt.Errorf("%w: value out of range", ErrRejected)
		}
	}
	for _, row := range rows {
		r.took[t.Name] = append(r.took[t.Name], fmt.Sprint(row[0]))
	}
	return nil
}

func beaconBody(dom int) string {
	return fmt.Sprintf(`{"site":"east","session":"s","event":"cluster_heartbeat","ts":"2026-01-19T15:30:00Z",`+
		`"structure":{"url":"u","title":"t","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":%d}}`, dom)
}

// fetchAll publishes msgs to their streams and returns them as delivered by
// a durable consumer of stream.
func fetchAll(t *testing.T, js jetstream.JetStream, stream string, msgs ...*nats.Msg) (jetstream.Consumer, []jetstream.Msg) {
	t.Helper()
	ctx := context.Background()
	for _, m := range msgs {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(len(msgs), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if len(out) != len(msgs) {
		t.Fatalf("fetched %d of %d", len(out), len(msgs))
	}
	return cons, out
}

// deadLetters reads rtt.dlq.sink: index header to reason.
func deadLetters(t *testing.T, js jetstream.JetStream, want int) map[string]*nats.Msg {
	t.Helper()
	cons, err := js.OrderedConsumer(context.Background(), natsx.StreamDLQ, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(want+1, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*nats.Msg{}
	for m := range b.Messages() {
		out[m.Headers().Get(natsx.HeaderIndex)] = &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()}
	}
	if len(out) != want {
		t.Fatalf("%d dead letters, want %d: %v", len(out), want, out)
	}
	return out
}

func testWriter(t *testing.T, js jetstream.JetStream, bw BatchWriter) *Writer {
	return &Writer{w: bw, js: js, log: zerolog.Nop(), m: newMetrics(prometheus.NewRegistry()), backoff: time.Millisecond,
		tracer: sdktrace.NewTracerProvider().Tracer("t")}
}

// One beacon of a batch that can never become a row, and one ClickHouse
// refuses, go to the dead letters each on its own; the others are inserted
// and the message is acknowledged.
func TestBatchMessageDeadLettersOnlyItsBadBeacons(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	var b batch.Builder
	b.Add("ok-0", "east", []byte(beaconBody(1)))
	b.Add("undecodable", "east", []byte(`{"site":"east","ts":12}`))
	b.Add("refused", "east", []byte(beaconBody(2)))
	b.Add("ok-3", "east", []byte(beaconBody(3)))
	msg := b.Msg()
	msg.Header.Set(natsx.HeaderReceivedAt, time.Now().UTC().Format(time.RFC3339Nano))

	cons, msgs := fetchAll(t, js, natsx.StreamBeacons, msg)
	bw := &rejecting{bad: map[string]bool{"refused": true}, took: map[string][]string{}}
	testWriter(t, js, bw).Flush(context.Background(), msgs)

	if got := strings.Join(bw.took["beacons"], ","); got != "ok-0,ok-3" {
		t.Fatalf("inserted %s, want ok-0,ok-3", got)
	}
	dl := deadLetters(t, js, 2)
	if m := dl["1"]; m == nil || m.Header.Get(natsx.HeaderEventID) != "undecodable" || string(m.Data) != `{"site":"east","ts":12}` ||
		!strings.Contains(m.Header.Get(natsx.HeaderReason), "beacon") {
		t.Fatalf("dead letter of item 1: %+v", m)
	}
	if m := dl["2"]; m == nil || m.Header.Get(natsx.HeaderEventID) != "refused" || string(m.Data) != beaconBody(2) ||
		!strings.Contains(m.Header.Get(natsx.HeaderReason), "value out of range") || m.Header.Get(natsx.HeaderSubject) != "rtt.batch.east" {
		t.Fatalf("dead letter of item 2: %+v", m)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 1 || info.NumAckPending != 0 {
		t.Fatalf("the batch message must be acknowledged: ack floor %d, pending acks %d", info.AckFloor.Stream, info.NumAckPending)
	}
}

// Coalesced alignment records: one line ClickHouse refuses is dead-lettered
// alone.
func TestCoalescedRecordsDeadLetterOneLine(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	rec := func(id string) string {
		return `{"record_id":"` + id + `","site":"east","ts":"2026-01-19T15:30:00Z","source":"beacon","flow_index":0,"path":["a"]}`
	}
	m := nats.NewMsg("rtt.alignment")
	m.Data = []byte(rec("r-0") + "\n" + rec("r-bad") + "\n" + `{"record_id":""}`)
	m.Header.Set(nats.MsgIdHdr, "m-1")
	m.Header.Set(natsx.HeaderItems, "3")
	_, msgs := fetchAll(t, js, natsx.StreamDerived, m)
	bw := &rejecting{bad: map[string]bool{"r-bad": true}, took: map[string][]string{}}
	testWriter(t, js, bw).Flush(context.Background(), msgs)
	if got := strings.Join(bw.took["alignments"], ","); got != "r-0" {
		t.Fatalf("inserted %s, want r-0", got)
	}
	dl := deadLetters(t, js, 2)
	if string(dl["1"].Data) != rec("r-bad") || !strings.Contains(dl["2"].Header.Get(natsx.HeaderReason), "without record_id") {
		t.Fatalf("dead letters %v", dl)
	}
}

// The sink decodes derived records with a faster decoder than the one the
// stages encode them with: every column must come out as encoding/json
// reads it.
func TestDerivedRecordsDecodeAsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 1, 19, 15, 30, 0, 123456789, time.UTC)
	al := derived.Alignment{RecordID: "a-1", RunID: "run", Site: "east", TS: at, Source: "beacon", SourceEventID: "b-1",
		FlowIndex: 2, Path: []string{"ingress", "api", "db"}, RunningScore: 0.75, Total: 12, OnTotal: 9,
		Alignment: corridor.Alignment{Corridor: "read", Matched: true, PathMatch: false,
			DeviatingHops: []corridor.Hop{{Index: 1, Kind: "substitute", Expected: "api", Observed: "cache"}},
			LatencyMS:     31.5, BudgetMS: 50, LatencyRatio: 0.63, WithinBudget: true, Score: 0.5}}
	dr := derived.Drift{DriftID: "d-1", RunID: "run", Site: "east", Scope: "internal://cluster", Cluster: "c", DetectedAt: at.Add(time.Second),
		Event: drift.Event{EventID: "b-2", FirstEventID: "b-1", TS: at, FirstTS: at.Add(-time.Minute), Magnitude: 0.6,
			Vector:   drift.Vector{Nav: 0.1, Main: -0.2, Form: 0.3, Button: 0.4, DomNodes: 0.5, Topology: 0.25},
			Baseline: [drift.NumCounts]float64{1, 2, 3, 4, 5}, Observed: [drift.NumCounts]float64{2, 3, 4, 5, 6}, Streak: 2,
			NodesAdded: 1, NodesRemoved: 2, EdgesAdded: 3, EdgesRemoved: 4}}
	for _, tc := range []struct {
		subject string
		v       any
		want    func(data []byte) Row
	}{
		{"rtt.alignment.east", al, func(data []byte) Row {
			var a derived.Alignment
			if err := json.Unmarshal(data, &a); err != nil {
				t.Fatal(err)
			}
			return alignmentValues(a, "")
		}},
		{"rtt.drift.east", dr, func(data []byte) Row {
			var d derived.Drift
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatal(err)
			}
			return driftValues(d, "")
		}},
	} {
		data, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		rows, bad, err := Rows(Message{Subject: tc.subject, Header: nats.Header{}, Data: data})
		if err != nil || len(bad) != 0 || len(rows) != 1 {
			t.Fatalf("%s: %d rows, %v, %v", tc.subject, len(rows), bad, err)
		}
		if want := tc.want(data); !reflect.DeepEqual(rows[0].Values, want.Values) {
			t.Errorf("%s:\n got %v\nwant %v", tc.subject, rows[0].Values, want.Values)
		}
	}
}
