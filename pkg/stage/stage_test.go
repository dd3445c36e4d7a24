package stage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/natsx/natstest"
)

func msg(subject, id, data string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set(nats.MsgIdHdr, id)
	return m
}

func TestCoalesce(t *testing.T) {
	out := coalesce([]*nats.Msg{
		msg("rtt.alignment.east", "a1", `{"n":1}`),
		msg("rtt.drift.east", "d1", `{"d":1}`),
		msg("rtt.alignment.east", "a2", `{"n":2}`),
	})
	if len(out) != 2 {
		t.Fatalf("%d messages, want 2 (one per family)", len(out))
	}
	al, dr := out[0], out[1]
	if al.Subject != "rtt.alignment.east" || string(al.Data) != "{\"n\":1}\n{\"n\":2}" || al.Header.Get(natsx.HeaderItems) != "2" {
		t.Fatalf("alignments: %s %q %v", al.Subject, al.Data, al.Header)
	}
	if dr.Subject != "rtt.drift.east" || dr.Header.Get(nats.MsgIdHdr) != "d1" || dr.Header.Get(natsx.HeaderItems) != "" {
		t.Fatalf("a family of one stays as it is: %s %v", dr.Subject, dr.Header)
	}
	again := coalesce([]*nats.Msg{msg("rtt.alignment.east", "a1", `{"n":1}`), msg("rtt.alignment.east", "a2", `{"n":2}`)})
	if again[0].Header.Get(nats.MsgIdHdr) != al.Header.Get(nats.MsgIdHdr) {
		t.Fatal("the same records must give the same Nats-Msg-Id, so a redelivered batch is deduplicated")
	}
	mixed := coalesce([]*nats.Msg{msg("rtt.alignment.east", "a1", "1"), msg("rtt.alignment.west", "a2", "2")})
	if len(mixed) != 1 || mixed[0].Subject != "rtt.alignment" {
		t.Fatalf("records of several sites: %v", mixed[0].Subject)
	}
}

// echo publishes one alignment-like record per beacon, refuses beacons
// whose payload is "poison" and fails the batch on "fail".
type echo struct {
	seen       []Beacon
	rolledBack int
	committed  int
}

func (e *echo) Process(_ context.Context, b Beacon) ([]*nats.Msg, error) {
	switch string(b.Data) {
	case "poison":
		return nil, fmt.Errorf("%w: unreadable", ErrPoison)
	case "fail":
		return nil, errors.New("store unreachable")
	}
	e.seen = append(e.seen, b)
	return []*nats.Msg{msg("rtt.alignment.east", fmt.Sprintf("r-%d", b.Pos), `{"id":"`+b.EventID+`"}`)}, nil
}
func (e *echo) Dirty() map[string][]byte { return nil }
func (e *echo) Commit()                  { e.committed++ }
func (e *echo) Rollback()                { e.rolledBack++ }

func deliver(t *testing.T, js jetstream.JetStream, msgs ...*nats.Msg) (jetstream.Consumer, []jetstream.Msg) {
	t.Helper()
	ctx := context.Background()
	for _, m := range msgs {
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, natsx.StreamBeacons, jetstream.ConsumerConfig{Durable: "t", AckPolicy: jetstream.AckExplicitPolicy})
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
	return cons, out
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) []jetstream.Msg {
	t.Helper()
	cons, err := js.OrderedConsumer(context.Background(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(100, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	return out
}

func newStage(t *testing.T, js jetstream.JetStream, p Processor) *Stage {
	return New("test", "rtt_test_state", js, p, zerolog.Nop(), prometheus.NewRegistry(), sdktrace.NewTracerProvider())
}

func TestBatchMessagePoisonedBeaconIsDeadLetteredAlone(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	var b batch.Builder
	b.Add("e-0", "east", []byte("ok0"))
	b.Add("e-1", "east", []byte("poison"))
	b.Add("e-2", "east", []byte("ok2"))
	single := msg("rtt.beacon.east.cluster_heartbeat", "e-3", "poison")
	single.Header.Set(natsx.HeaderEventID, "e-3")
	cons, msgs := deliver(t, js, b.Msg(), single)
	p := &echo{}
	newStage(t, js, p).Flush(context.Background(), msgs)

	if len(p.seen) != 2 || p.seen[0].EventID != "e-0" || p.seen[1].EventID != "e-2" ||
		p.seen[0].Pos != batch.Pos(1, 0) || p.seen[1].Pos != batch.Pos(1, 2) {
		t.Fatalf("processed %+v", p.seen)
	}
	if p.committed != 1 || p.rolledBack != 0 {
		t.Fatalf("commits %d, rollbacks %d", p.committed, p.rolledBack)
	}
	derived := streamMsgs(t, js, natsx.StreamDerived)
	if len(derived) != 1 || string(derived[0].Data()) != "{\"id\":\"e-0\"}\n{\"id\":\"e-2\"}" {
		t.Fatalf("the two records of one message travel together: %d messages", len(derived))
	}
	dl := streamMsgs(t, js, natsx.StreamDLQ)
	if len(dl) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dl))
	}
	if h := dl[0].Headers(); h.Get(natsx.HeaderIndex) != "1" || h.Get(natsx.HeaderEventID) != "e-1" || string(dl[0].Data()) != "poison" {
		t.Fatalf("item dead letter: %v %q", h, dl[0].Data())
	}
	if h := dl[1].Headers(); h.Get(natsx.HeaderIndex) != "" || h.Get(natsx.HeaderSubject) != "rtt.beacon.east.cluster_heartbeat" {
		t.Fatalf("a single beacon is dead-lettered whole: %v", h)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 2 || info.NumAckPending != 0 {
		t.Fatalf("both messages must be settled: ack floor %d, pending %d", info.AckFloor.Stream, info.NumAckPending)
	}
}

func TestFailedBeaconRollsTheBatchBack(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	var b batch.Builder
	b.Add("e-0", "east", []byte("ok0"))
	b.Add("e-1", "east", []byte("fail"))
	cons, msgs := deliver(t, js, b.Msg())
	p := &echo{}
	newStage(t, js, p).Flush(context.Background(), msgs)
	if p.rolledBack != 1 || p.committed != 0 {
		t.Fatalf("commits %d, rollbacks %d", p.committed, p.rolledBack)
	}
	if n := len(streamMsgs(t, js, natsx.StreamDerived)); n != 0 {
		t.Fatalf("a rolled-back batch published %d records", n)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 0 {
		t.Fatalf("a rolled-back message must not be acknowledged (ack floor %d)", info.AckFloor.Stream)
	}
}

func TestMalformedBatchIsDeadLettered(t *testing.T) {
	ns := natstest.RunServer(t)
	_, js := natstest.Connect(t, ns.ClientURL())
	m := msg("rtt.batch.east", "x", "a\nb")
	m.Header.Set(natsx.HeaderEventIDs, "only-one")
	_, msgs := deliver(t, js, m)
	p := &echo{}
	newStage(t, js, p).Flush(context.Background(), msgs)
	dl := streamMsgs(t, js, natsx.StreamDLQ)
	if len(p.seen) != 0 || len(dl) != 1 || !strings.Contains(dl[0].Headers().Get(natsx.HeaderReason), "more payloads") {
		t.Fatalf("seen %d, dead letters %d", len(p.seen), len(dl))
	}
}
