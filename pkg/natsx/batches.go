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

// BatchOptions say when Batches flushes.
type BatchOptions struct {
	Size  int           // flush once the batch weighs this much
	Age   time.Duration // flush at the latest this long after a batch's first message arrived
	Drain time.Duration // how long shutdown may spend flushing what was delivered
	// Weight is what one message counts for against Size (a message of
	// RTT_BEACONS carries one beacon or many); nil counts 1 per message.
	Weight func(jetstream.Msg) int
	// Settle, when set, is called before Batches returns, while the flush
	// context is still live (bounded by Drain on shutdown): a flush that
	// hands batches to another goroutine waits there for the last ones.
	Settle func()
}

// pullBytes is how many bytes a weighted consumer asks the server for at
// most: above the largest message any rtt server takes (8 MiB), so that one
// always fits.
const pullBytes = 16 << 20

// Batches reads cons and calls flush with batches of up to o.Size (by
// weight), and at the latest o.Age after the first message of a batch
// arrived. When ctx ends it drains: messages already delivered to this
// process are still flushed (bounded by o.Drain), then it returns nil. It
// returns an error when the subscription fails for another reason.
func Batches(ctx context.Context, cons jetstream.Consumer, o BatchOptions, flush FlushFunc) error {
	size, age, drainTimeout := o.Size, o.Age, o.Drain
	var pull jetstream.PullMessagesOpt = jetstream.PullMaxMessages(2 * size)
	weight := o.Weight
	if weight == nil {
		weight = func(jetstream.Msg) int { return 1 }
	} else {
		// Messages weigh more than one: bound the prefetch by bytes.
		pull = jetstream.PullMaxBytes(max(pullBytes, 2*size<<10))
	}
	it, err := cons.Messages(pull)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer it.Stop()
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	if o.Settle != nil {
		defer o.Settle()
	}
	batch := make([]jetstream.Msg, 0, min(size, 4096))
	weighed := 0
	var oldest time.Time
	draining := false
	doFlush := func() {
		if len(batch) > 0 {
			flush(flushCtx, batch)
			batch, weighed = make([]jetstream.Msg, 0, min(size, 4096)), 0
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
			weighed += weight(msg)
			if weighed >= size {
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
