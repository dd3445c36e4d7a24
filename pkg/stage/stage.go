// Package stage runs a stateful JetStream processing stage (drift
// detection, corridor alignment) with effectively-once state: a batch's
// results are published and its state written to a KV bucket before its
// messages are acknowledged, and a batch that cannot be made durable is
// rolled back and redelivered.
package stage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
)

// ErrPoison marks a message that can never be processed; it goes to the
// dead letters.
var ErrPoison = errors.New("poison message")

// Beacon is one beacon of a delivered message (which carries one or many,
// see pkg/batch).
type Beacon struct {
	EventID string
	Pos     uint64 // batch.Pos: grows beacon by beacon through the stream
	Data    []byte // the payload as ingest stored it
}

// Processor is the logic of a stage. Its methods are called from one
// goroutine.
type Processor interface {
	// Process handles one beacon and returns the messages to publish. The
	// outputs of one delivered message that go to the same family of
	// subjects (rtt.drift.*, rtt.alignment.*) are published together as
	// one message (see coalesce). An error wrapping ErrPoison dead-letters
	// the beacon; any other error fails the batch (rolled back,
	// redelivered).
	Process(ctx context.Context, b Beacon) ([]*nats.Msg, error)
	// Dirty returns the state changed since the last Commit or Rollback,
	// as KV key to value.
	Dirty() map[string][]byte
	// Commit is called once the batch's results and state are durable.
	Commit()
	// Rollback forgets the state changed since the last Commit, so that it
	// reloads from the store when next needed.
	Rollback()
}

// Stage drives a Processor over batches of messages.
type Stage struct {
	name   string
	bucket string
	js     jetstream.JetStream
	p      Processor
	log    zerolog.Logger
	tracer trace.Tracer
	reg    prometheus.Registerer

	processed prometheus.Counter
	failed    prometheus.Counter
	dead      prometheus.Counter
	flushTime prometheus.Histogram
}

// New returns a stage named name (its dead letters go to rtt.dlq.<name>)
// keeping its state in bucket. Each message is processed in a span of tp
// continuing the message's trace.
func New(name, bucket string, js jetstream.JetStream, p Processor, log zerolog.Logger, reg prometheus.Registerer, tp trace.TracerProvider) *Stage {
	s := &Stage{
		name: name, bucket: bucket, js: js, p: p, log: log, reg: reg,
		tracer: tp.Tracer("github.com/rtt-dev/rtt/pkg/stage"),
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtt_stage_messages_total", Help: "Messages processed and acknowledged.",
			ConstLabels: prometheus.Labels{"stage": name},
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtt_stage_batch_failures_total", Help: "Batches rolled back and left for redelivery.",
			ConstLabels: prometheus.Labels{"stage": name},
		}),
		dead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtt_stage_dead_letters_total", Help: "Messages sent to the dead letters.",
			ConstLabels: prometheus.Labels{"stage": name},
		}),
		flushTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rtt_stage_flush_seconds", Help: "Time to make a batch durable (publish results, write state, ack).",
			ConstLabels: prometheus.Labels{"stage": name},
			Buckets:     prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
	}
	reg.MustRegister(s.processed, s.failed, s.dead, s.flushTime)
	return s
}

// Load reads one state entry from the stage's bucket; ok is false when the
// key has none.
func Load(ctx context.Context, kv jetstream.KeyValue, key string) (value []byte, ok bool, err error) {
	e, err := kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("load state %s: %w", key, err)
	}
	return e.Value(), true, nil
}

// Flush processes msgs and settles each; it has the natsx.FlushFunc shape.
func (s *Stage) Flush(ctx context.Context, msgs []jetstream.Msg) {
	start := time.Now()
	settled := make([]bool, len(msgs))
	var out []*nats.Msg
	fail := func(err error) {
		s.p.Rollback()
		s.failed.Inc()
		s.log.Warn().Err(err).Int("messages", len(msgs)).Msg("batch rolled back, will be redelivered")
		for i, m := range msgs {
			if !settled[i] {
				_ = m.NakWithDelay(time.Second)
			}
		}
	}
	for i, m := range msgs {
		var seq uint64
		if md, err := m.Metadata(); err == nil {
			seq = md.Sequence.Stream
		}
		items, err := batch.Items(m.Subject(), m.Headers(), m.Data())
		if err != nil {
			if derr := s.deadLetter(ctx, m, -1, "", nil, err.Error()); derr != nil {
				fail(derr)
				return
			}
			_ = m.Term()
			settled[i] = true
			continue
		}
		mctx, span := s.tracer.Start(otelx.Extract(ctx, m.Headers()), s.name+" process",
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
				attribute.Int64("rtt.stream_seq", int64(seq)), attribute.Int("rtt.items", len(items))))
		if len(items) == 1 {
			span.SetAttributes(attribute.String("rtt.event_id", items[0].EventID))
		}
		var res []*nats.Msg
		poisoned := 0
		for _, it := range items {
			r, err := s.p.Process(mctx, Beacon{EventID: it.EventID, Pos: batch.Pos(seq, it.Index), Data: it.Data})
			if errors.Is(err, ErrPoison) {
				index := it.Index
				if !batch.IsBatch(m.Subject()) {
					index = -1 // the message is the beacon: dead-letter it whole
				}
				if derr := s.deadLetter(ctx, m, index, it.EventID, it.Data, err.Error()); derr != nil {
					span.End()
					fail(derr)
					return
				}
				poisoned++
				continue
			}
			if err != nil {
				span.End()
				fail(err)
				return
			}
			res = append(res, r...)
		}
		span.End()
		if poisoned == len(items) && !batch.IsBatch(m.Subject()) {
			_ = m.Term()
			settled[i] = true
		}
		out = append(out, coalesce(res)...)
	}
	for k, v := range s.p.Dirty() {
		kvm := nats.NewMsg("$KV." + s.bucket + "." + k)
		kvm.Data = v
		out = append(out, kvm)
	}
	if err := s.publishAll(ctx, out); err != nil {
		fail(err)
		return
	}
	s.p.Commit()
	n := 0
	for i, m := range msgs {
		if !settled[i] {
			_ = m.Ack()
			n++
		}
	}
	s.processed.Add(float64(n))
	s.flushTime.Observe(time.Since(start).Seconds())
}

// deadLetter sends m (index < 0) or its item index to rtt.dlq.<stage>.
func (s *Stage) deadLetter(ctx context.Context, m jetstream.Msg, index int, eventID string, data []byte, reason string) error {
	var err error
	if index < 0 {
		err = natsx.DeadLetter(ctx, s.js, s.name, m, reason)
	} else {
		err = natsx.DeadLetterItem(ctx, s.js, s.name, m, index, eventID, data, reason)
	}
	if err != nil {
		return err
	}
	s.dead.Inc()
	s.log.Error().Str("subject", m.Subject()).Int("index", index).Str("event_id", eventID).Str("reason", reason).Msg("dead letter")
	return nil
}

// coalesce joins the messages of one family of subjects (the subject less
// its last token: rtt.alignment for rtt.alignment.<site>) into one message
// each: their payloads as NDJSON, on the common subject when they share
// one and on the family's subject otherwise, with Rtt-Items and a
// Nats-Msg-Id made of theirs (so a redelivered batch publishes the same
// ids). Headers other than the id come from the family's first message. A
// family of one message is left as it is.
func coalesce(msgs []*nats.Msg) []*nats.Msg {
	if len(msgs) < 2 {
		return msgs
	}
	type family struct {
		subject string
		msgs    []*nats.Msg
	}
	var fams []*family
	index := map[string]*family{}
	for _, m := range msgs {
		key := m.Subject
		if i := strings.LastIndexByte(key, '.'); i > 0 {
			key = key[:i]
		}
		f := index[key]
		if f == nil {
			f = &family{subject: m.Subject}
			index[key] = f
			fams = append(fams, f)
		} else if f.subject != m.Subject {
			f.subject = key
		}
		f.msgs = append(f.msgs, m)
	}
	out := make([]*nats.Msg, 0, len(fams))
	for _, f := range fams {
		if len(f.msgs) == 1 {
			out = append(out, f.msgs[0])
			continue
		}
		j := nats.NewMsg(f.subject)
		for k, v := range f.msgs[0].Header {
			j.Header[k] = v
		}
		ids := make([]string, len(f.msgs))
		size := 0
		for i, m := range f.msgs {
			ids[i] = m.Header.Get(nats.MsgIdHdr)
			size += len(m.Data) + 1
		}
		data := make([]byte, 0, size)
		for i, m := range f.msgs {
			if i > 0 {
				data = append(data, '\n')
			}
			data = append(data, m.Data...)
		}
		j.Data = data
		sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
		j.Header.Set(nats.MsgIdHdr, "m-"+hex.EncodeToString(sum[:16]))
		j.Header.Set(natsx.HeaderItems, strconv.Itoa(len(f.msgs)))
		out = append(out, j)
	}
	return out
}

// publishAll publishes asynchronously and waits for every acknowledgement.
// Results go before state in out's order, but the stream is what matters:
// all must be acknowledged before any source message is.
func (s *Stage) publishAll(ctx context.Context, out []*nats.Msg) error {
	if len(out) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(out))
	for _, m := range out {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("publish: %w", ctx.Err())
		}
	}
	return nil
}

// KeyedState is per-key state that tracks which keys changed: what the
// drift tracker and the corridor scores share.
type KeyedState interface {
	Dirty() []string
	Snapshot(key string) ([]byte, bool)
	Forget(key string)
}

// DirtySnapshots returns the encoded state of every changed key, the
// Processor.Dirty of a stage whose state is s.
func DirtySnapshots(s KeyedState) map[string][]byte {
	keys := s.Dirty()
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if v, ok := s.Snapshot(k); ok {
			out[k] = v
		}
	}
	return out
}

// ForgetDirty drops every changed key, so it reloads from the store: the
// state half of a Processor.Rollback.
func ForgetDirty(s KeyedState) {
	for _, k := range s.Dirty() {
		s.Forget(k)
	}
}
