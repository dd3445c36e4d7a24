// Package stage runs a stateful JetStream processing stage (drift
// detection, corridor alignment) with effectively-once state: a batch's
// results are published and its state written to a KV bucket before its
// messages are acknowledged, and a batch that cannot be made durable is
// rolled back and redelivered.
package stage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
)

// ErrPoison marks a message that can never be processed; it goes to the
// dead letters.
var ErrPoison = errors.New("poison message")

// Processor is the logic of a stage. Its methods are called from one
// goroutine.
type Processor interface {
	// Process handles one message with its stream sequence and returns
	// the messages to publish. An error wrapping ErrPoison dead-letters the
	// message; any other error fails the batch (rolled back, redelivered).
	Process(ctx context.Context, msg jetstream.Msg, seq uint64) ([]*nats.Msg, error)
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
		mctx, span := s.tracer.Start(otelx.Extract(ctx, m.Headers()), s.name+" process",
			trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attribute.Int64("rtt.stream_seq", int64(seq))))
		res, err := s.p.Process(mctx, m, seq)
		span.End()
		if errors.Is(err, ErrPoison) {
			if derr := natsx.DeadLetter(ctx, s.js, s.name, m, err.Error()); derr != nil {
				fail(derr)
				return
			}
			s.dead.Inc()
			s.log.Error().Str("subject", m.Subject()).Str("reason", err.Error()).Msg("dead letter")
			_ = m.Term()
			settled[i] = true
			continue
		}
		if err != nil {
			fail(err)
			return
		}
		out = append(out, res...)
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
