package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// FlushFunc handles a batch of messages and settles each one (ack, nak or
// term). It returns when the batch is settled; ctx ends only on shutdown
// timeout.
type FlushFunc func(ctx context.Context, msgs []jetstream.Msg)

// Batches reads cons and calls flush with up to size messages, and at the
// latest age after the first message of a batch arrived. When ctx ends it
// drains: messages already delivered to this process are still flushed
// (bounded by drainTimeout), then it returns nil. It returns an error when
// the subscription fails for another reason.
func Batches(ctx context.Context, cons jetstream.Consumer, size int, age, drainTimeout time.Duration, flush FlushFunc) error {
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * size))
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer it.Stop()
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	batch := make([]jetstream.Msg, 0, size)
	var oldest time.Time
	draining := false
	doFlush := func() {
		if len(batch) > 0 {
			flush(flushCtx, batch)
			batch = make([]jetstream.Msg, 0, size)
		}
	}
	for {
		if !draining && ctx.Err() != nil {
			draining = true
			it.Drain()
			t := time.AfterFunc(drainTimeout, cancelFlush)
			defer t.Stop()
		}
		wait := age
		if len(batch) > 0 {
			wait = time.Until(oldest.Add(age))
		}
		if wait <= 0 {
			doFlush()
			continue
		}
		nextCtx, cancel := context.WithTimeout(flushCtx, wait)
		if !draining {
			nextCtx, cancel = context.WithTimeout(ctx, wait)
		}
		msg, err := it.Next(jetstream.NextContext(nextCtx))
		cancel()
		switch {
		case err == nil:
			if len(batch) == 0 {
				oldest = time.Now()
			}
			batch = append(batch, msg)
			if len(batch) >= size {
				doFlush()
			}
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			doFlush()
			if draining {
				return nil
			}
			return fmt.Errorf("consumer subscription closed: %w", err)
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			doFlush()
			if draining && flushCtx.Err() != nil {
				return nil
			}
		default:
			// Missed heartbeats and reconnects are reported and recovered
			// by the iterator itself; keep what we hold and go on.
			doFlush()
		}
	}
}
