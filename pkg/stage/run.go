package stage

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rtt-dev/rtt/pkg/batch"
	"github.com/rtt-dev/rtt/pkg/natsx"
)

// ConsumerOptions say what a stage reads and how it batches.
type ConsumerOptions struct {
	Durable      string
	Stream       string
	Filters      []string // none: the whole stream
	BatchSize    int
	BatchAge     time.Duration
	DrainTimeout time.Duration
}

// Consume creates (or updates) the durable consumer and runs the stage over
// it until ctx ends, then drains. It returns a non-nil error only when the
// subscription fails.
func (s *Stage) Consume(ctx context.Context, o ConsumerOptions) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, o.Stream, jetstream.ConsumerConfig{
		Durable:        o.Durable,
		Description:    "rtt " + s.name,
		FilterSubjects: o.Filters,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        15 * time.Second,
		MaxDeliver:     -1,
		MaxAckPending:  4 * o.BatchSize, // messages; a batch message counts once
	})
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", o.Durable, o.Stream, err)
	}
	s.reg.MustRegister(natsx.NewConsumerCollector(cons))
	return natsx.Batches(ctx, cons, natsx.BatchOptions{
		Size: o.BatchSize, Age: o.BatchAge, Drain: o.DrainTimeout,
		Weight: func(m jetstream.Msg) int { return batch.Count(m.Subject(), m.Headers()) },
	}, s.Flush)
}
