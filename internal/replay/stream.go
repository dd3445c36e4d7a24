package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
)

// arrivalSlack widens the window of stream timestamps read for an arrival
// selection: ingest stamps Rtt-Received-At just before it publishes, and
// JetStream stamps the message when it stores it, on a clock that may
// differ a little.
const arrivalSlack = time.Minute

// StreamSource reads RTT_BEACONS with an ordered, ephemeral consumer: it
// creates no durable consumer and acknowledges nothing, so the live
// consumers are not disturbed. Beacons published after Read started are
// not read: the slice is what the stream held at that moment.
type StreamSource struct {
	JS jetstream.JetStream
	// Stream defaults to natsx.StreamBeacons.
	Stream string
	// Warn, when set, receives notices (e.g. a selection that may reach
	// past the stream's retention).
	Warn io.Writer
}

// Name implements Source.
func (s *StreamSource) Name() string { return "stream" }

// Read implements Source. It fails with ErrBeyondRetention when an arrival
// selection starts before the oldest beacon the stream still holds and the
// stream has lost older ones; an event-time selection in that case only
// gets a notice on Warn, since event and arrival times may differ.
func (s *StreamSource) Read(ctx context.Context, sel Selection, total func(int64), fn func(Item) error) error {
	name := s.Stream
	if name == "" {
		name = natsx.StreamBeacons
	}
	str, err := s.JS.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("open stream %s: %w", name, err)
	}
	info, err := str.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	st := info.State
	if st.Msgs == 0 {
		return nil
	}
	truncated := st.FirstSeq > 1 // older messages expired or were removed
	if truncated && !sel.ArrivedFrom.IsZero() && sel.ArrivedFrom.Before(st.FirstTime.Truncate(time.Second)) {
		return fmt.Errorf("%w: -arrived-from %s is before the oldest beacon %s still holds (stored %s); use -source clickhouse",
			ErrBeyondRetention, sel.ArrivedFrom.Format(time.RFC3339), name, st.FirstTime.UTC().Format(time.RFC3339))
	}
	if truncated && s.Warn != nil && sel.ArrivedFrom.IsZero() && (sel.From.IsZero() || sel.From.Before(st.FirstTime)) {
		fmt.Fprintf(s.Warn, "notice: %s holds beacons stored since %s only (older ones expired); use -source clickhouse for a complete older slice\n",
			name, st.FirstTime.UTC().Format(time.RFC3339))
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: sel.Subjects(), DeliverPolicy: jetstream.DeliverAllPolicy, InactiveThreshold: time.Minute}
	if !sel.ArrivedFrom.IsZero() {
		start := sel.ArrivedFrom.Add(-arrivalSlack)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := str.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", name, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", name, err)
	}
	defer func() {
		// Ordered consumers are ephemeral; deleting it now rather than
		// after InactiveThreshold keeps the consumer list short.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if info := cons.CachedInfo(); info != nil {
			_ = str.DeleteConsumer(dctx, info.Name)
		}
	}()
	if ci.NumPending == 0 {
		return nil
	}
	expected := int64(ci.NumPending)
	if total != nil {
		total(expected)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	defer it.Stop()
	stopAt := time.Time{}
	if !sel.ArrivedTo.IsZero() {
		stopAt = sel.ArrivedTo.Add(arrivalSlack)
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("read %s: %w", name, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		seq := md.Sequence.Stream
		if seq > st.LastSeq || (!stopAt.IsZero() && md.Timestamp.After(stopAt)) {
			return nil
		}
		received := md.Timestamp.UTC()
		if t, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(natsx.HeaderReceivedAt)); err == nil {
			received = t.UTC()
		}
		items, err := batch.Items(msg.Subject(), msg.Headers(), msg.Data())
		if err != nil {
			return fmt.Errorf("read %s: message %d: %w", name, seq, err)
		}
		if len(items) > 1 && total != nil {
			expected += int64(len(items) - 1)
			total(expected)
		}
		for _, bi := range items {
			item := Item{EventID: bi.EventID, Seq: batch.Pos(seq, bi.Index), Payload: bi.Data, Received: received}
			item.decode()
			if err := fn(item); err != nil {
				return err
			}
		}
		if md.NumPending == 0 || seq == st.LastSeq {
			return nil
		}
	}
}
