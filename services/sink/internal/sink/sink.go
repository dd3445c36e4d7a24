package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
	"github.com/rtt-dev/rtt/pkg/otelx"
)

// Writer turns batches of messages into INSERTs and settles the messages:
// ack after the rows are in, term after a dead letter, nak when the sink
// shuts down before ClickHouse took them.
type Writer struct {
	w       BatchWriter
	js      jetstream.JetStream
	log     zerolog.Logger
	m       *metrics
	backoff time.Duration // first retry pause; doubles up to maxBackoff
	tracer  trace.Tracer
}

const maxBackoff = 5 * time.Second

type metrics struct {
	rows       *prometheus.CounterVec
	batchRows  prometheus.Histogram
	insert     *prometheus.HistogramVec
	failures   *prometheus.CounterVec
	deadLetter prometheus.Counter
	retrying   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_sink_rows_total", Help: "Rows inserted into ClickHouse, by table.",
		}, []string{"table"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rtt_sink_batch_messages", Help: "Messages per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		insert: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rtt_sink_insert_seconds", Help: "Duration of successful INSERTs, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"table"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rtt_sink_insert_failures_total", Help: "Failed INSERTs by table and kind (retryable or rejected).",
		}, []string{"table", "kind"}),
		deadLetter: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rtt_sink_dead_letters_total", Help: "Messages the sink sent to rtt.dlq.sink.",
		}),
		retrying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rtt_sink_retrying", Help: "1 while an INSERT is being retried (ClickHouse unreachable or failing).",
		}),
	}
	reg.MustRegister(m.rows, m.batchRows, m.insert, m.failures, m.deadLetter, m.retrying)
	return m
}

// pending is one message of a batch and what became of it.
type pending struct {
	msg     jetstream.Msg
	seq     uint64
	multi   bool // carries several records: one bad record does not settle it
	settled bool
}

// owner is the record that made a row: message i of the batch, record
// item of that message.
type owner struct{ msg, item int }

// rowBatch is a batch of messages turned into rows, waiting for its INSERTs.
type rowBatch struct {
	ps     []pending
	spans  []trace.Span
	order  []*Table
	tables map[*Table]*tableRows
}

type tableRows struct {
	rows   [][]any
	owners []owner
}

// Flush writes msgs and settles each one. It retries INSERTs that failed for
// a retryable reason until they succeed or ctx ends (then it naks what is
// left, so nothing is lost); records ClickHouse rejects go to the dead
// letters, and a message is acknowledged once each of its records is
// inserted or dead-lettered.
func (w *Writer) Flush(ctx context.Context, msgs []jetstream.Msg) {
	w.commit(ctx, w.prepare(ctx, msgs))
}

// Pipeline returns a flush that turns a batch into rows and hands it to a
// goroutine that inserts it and settles its messages, so that the next
// batch is decoded while ClickHouse takes this one (one batch waits at
// most). wait returns once every batch handed over is settled; call it
// after the last flush.
func (w *Writer) Pipeline() (flush func(ctx context.Context, msgs []jetstream.Msg), wait func()) {
	type job struct {
		ctx context.Context
		b   *rowBatch
	}
	jobs := make(chan job)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for j := range jobs {
			w.commit(j.ctx, j.b)
		}
	}()
	flush = func(ctx context.Context, msgs []jetstream.Msg) {
		jobs <- job{ctx, w.prepare(ctx, msgs)}
	}
	wait = func() {
		close(jobs)
		<-done
	}
	return flush, wait
}

// prepare turns msgs into rows by table; messages that cannot become rows
// at all are dead-lettered and settled here.
func (w *Writer) prepare(ctx context.Context, msgs []jetstream.Msg) *rowBatch {
	w.m.batchRows.Observe(float64(len(msgs)))
	b := &rowBatch{ps: make([]pending, len(msgs)), spans: make([]trace.Span, len(msgs)), tables: map[*Table]*tableRows{}}
	// One span per message, in the message's trace, ending once settled.
	for i, msg := range msgs {
		_, b.spans[i] = w.tracer.Start(otelx.Extract(ctx, msg.Headers()), "sink insert", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("rtt.subject", msg.Subject()), attribute.String("rtt.event_id", msg.Headers().Get(natsx.HeaderEventID))))
	}
	ps := b.ps
	for i, msg := range msgs {
		ps[i].msg = msg
		if md, err := msg.Metadata(); err == nil {
			ps[i].seq = md.Sequence.Stream
		}
		ps[i].multi = RowsOf(msg.Subject(), msg.Headers()) > 1
		rows, bad, err := Rows(Message{Subject: msg.Subject(), Header: msg.Headers(), Data: msg.Data(), Seq: ps[i].seq})
		if err != nil {
			w.deadLetter(ctx, &ps[i], err.Error())
			continue
		}
		for _, r := range bad {
			if !w.deadLetterItem(ctx, &ps[i], r.Index, r.EventID, r.Data, r.Err.Error()) {
				break
			}
		}
		if ps[i].settled {
			continue
		}
		for _, r := range rows {
			tr := b.tables[r.Table]
			if tr == nil {
				tr = &tableRows{}
				b.tables[r.Table] = tr
				b.order = append(b.order, r.Table)
			}
			tr.rows = append(tr.rows, r.Values)
			tr.owners = append(tr.owners, owner{i, r.Item})
		}
	}
	return b
}

// commit inserts b's rows and settles its messages.
func (w *Writer) commit(ctx context.Context, b *rowBatch) {
	defer func() {
		for _, s := range b.spans {
			s.End()
		}
	}()
	for _, t := range b.order {
		tr := b.tables[t]
		if !w.insert(ctx, t, tr.rows, tr.owners, b.ps) {
			w.nakUnsettled(b.ps)
			return
		}
	}
	for i := range b.ps {
		if !b.ps[i].settled {
			_ = b.ps[i].msg.Ack()
			b.ps[i].settled = true
		}
	}
}

// insert writes rows into t, retrying retryable failures with backoff. It
// returns false when ctx ended first.
func (w *Writer) insert(ctx context.Context, t *Table, rows [][]any, owners []owner, ps []pending) bool {
	pause := w.backoff
	for attempt := 0; ; attempt++ {
		start := time.Now()
		err := w.w.Write(ctx, t, rows)
		switch {
		case err == nil:
			w.m.insert.WithLabelValues(t.Name).Observe(time.Since(start).Seconds())
			w.m.rows.WithLabelValues(t.Name).Add(float64(len(rows)))
			w.m.retrying.Set(0)
			if attempt > 0 {
				w.log.Info().Str("table", t.Name).Int("rows", len(rows)).Int("attempts", attempt+1).Msg("insert succeeded after retries")
			} else {
				w.log.Info().Str("table", t.Name).Int("rows", len(rows)).Dur("took", time.Since(start)).Msg("batch inserted")
			}
			return true
		case errors.Is(err, ErrRejected):
			w.m.failures.WithLabelValues(t.Name, "rejected").Inc()
			if len(rows) == 1 {
				o := owners[0]
				p := &ps[o.msg]
				if !p.multi {
					w.deadLetter(ctx, p, err.Error())
					return true
				}
				id, data := record(p.msg, o.item)
				w.deadLetterItem(ctx, p, o.item, id, data, err.Error())
				return true
			}
			// Find the rows ClickHouse refuses by inserting one at a time.
			for i, r := range rows {
				if !w.insert(ctx, t, [][]any{r}, owners[i:i+1], ps) {
					return false
				}
			}
			return true
		}
		w.m.failures.WithLabelValues(t.Name, "retryable").Inc()
		w.m.retrying.Set(1)
		w.log.Warn().Err(err).Str("table", t.Name).Int("rows", len(rows)).Dur("retry_in", pause).Msg("insert failed, will retry")
		for _, o := range owners {
			if !ps[o.msg].settled {
				_ = ps[o.msg].msg.InProgress()
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pause):
		}
		pause = min(2*pause, maxBackoff)
	}
}

// record returns the event id (beacons only) and payload of record item of
// a message of several: a beacon of a batch or a line of coalesced derived
// records.
func record(msg jetstream.Msg, item int) (eventID string, data []byte) {
	if batch.IsBatch(msg.Subject()) {
		if items, err := batch.Items(msg.Subject(), msg.Headers(), msg.Data()); err == nil && item < len(items) {
			return items[item].EventID, items[item].Data
		}
		return "", nil
	}
	if lines := bytes.Split(msg.Data(), []byte{'\n'}); item < len(lines) {
		return "", lines[item]
	}
	return "", nil
}

func (w *Writer) nakUnsettled(ps []pending) {
	for i := range ps {
		if !ps[i].settled {
			_ = ps[i].msg.Nak()
			ps[i].settled = true
		}
	}
}

// deadLetter sends p's message to rtt.dlq.sink and terminates it. A dead
// letter that itself cannot be written is logged and terminated, never
// dead-lettered again.
func (w *Writer) deadLetter(ctx context.Context, p *pending, reason string) {
	if p.settled {
		return
	}
	p.settled = true
	log := w.log.Error().Str("subject", p.msg.Subject()).Str("reason", reason)
	if strings.HasPrefix(p.msg.Subject(), "rtt.dlq.") {
		log.Msg("dead letter cannot be stored; dropped")
		_ = p.msg.Term()
		return
	}
	if err := natsx.DeadLetter(ctx, w.js, "sink", p.msg, reason); err != nil {
		// Not dead-lettered: leave it for redelivery rather than lose it.
		w.log.Error().Err(err).Msg("dead-letter publish failed; message will be redelivered")
		_ = p.msg.NakWithDelay(time.Second)
		return
	}
	w.m.deadLetter.Inc()
	log.Msg("dead letter")
	_ = p.msg.TermWithReason(truncate(reason, 200))
}

// deadLetterItem sends record index of p's message to rtt.dlq.sink; the
// message's other records go on. When the dead letter cannot be written
// the message is left for redelivery (its rows already inserted collapse
// by their keys) and it returns false.
func (w *Writer) deadLetterItem(ctx context.Context, p *pending, index int, eventID string, data []byte, reason string) bool {
	if p.settled {
		return false
	}
	if err := natsx.DeadLetterItem(ctx, w.js, "sink", p.msg, index, eventID, data, reason); err != nil {
		w.log.Error().Err(err).Msg("dead-letter publish failed; message will be redelivered")
		_ = p.msg.NakWithDelay(time.Second)
		p.settled = true
		return false
	}
	w.m.deadLetter.Inc()
	w.log.Error().Str("subject", p.msg.Subject()).Int("index", index).Str("event_id", eventID).Str("reason", reason).Msg("dead letter")
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// consumerSpec is one durable consumer of the sink. Each reads its whole
// stream: a subject filter equal to the stream's subjects would only cost
// the server a slower delivery path.
type consumerSpec struct {
	durable string
	stream  string
}

var consumers = []consumerSpec{
	{"sink-beacons", natsx.StreamBeacons},
	{"sink-control", natsx.StreamControl},
	{"sink-derived", natsx.StreamDerived},
	{"sink-dlq", natsx.StreamDLQ},
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, c consumerSpec, maxAckPending int) (jetstream.Consumer, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, c.stream, jetstream.ConsumerConfig{
		Durable:       c.durable,
		Description:   "rtt sink into ClickHouse",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       15 * time.Second,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.durable, c.stream, err)
	}
	return cons, nil
}
