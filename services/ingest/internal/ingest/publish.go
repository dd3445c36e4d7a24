package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher stores messages durably. It is what ingest needs of JetStream.
type Publisher interface {
	// Publish stores every message and reports, per message, the
	// acknowledgement or the error. It returns once all are settled.
	Publish(ctx context.Context, msgs []*nats.Msg) []PubResult
}

// PubResult is the outcome of one publish.
type PubResult struct {
	Seq       uint64
	Duplicate bool
	Err       error
}

// ErrUnavailable marks a publish JetStream did not acknowledge: the message
// may or may not be stored, and the client should retry with the same
// event id.
var ErrUnavailable = errors.New("JetStream did not acknowledge")

// JetStreamPublisher publishes with JetStream, one message synchronously or
// many asynchronously with a bounded window of outstanding acknowledgements.
type JetStreamPublisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

// NewJetStreamPublisher returns a publisher over js; each batch waits at
// most timeout for its acknowledgements.
func NewJetStreamPublisher(js jetstream.JetStream, timeout time.Duration) *JetStreamPublisher {
	return &JetStreamPublisher{js: js, timeout: timeout}
}

// Publish implements Publisher.
func (p *JetStreamPublisher) Publish(ctx context.Context, msgs []*nats.Msg) []PubResult {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out := make([]PubResult, len(msgs))
	if len(msgs) == 1 {
		ack, err := p.js.PublishMsg(ctx, msgs[0])
		out[0] = result(ack, err)
		return out
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, m := range msgs {
		// A full window waits for room rather than failing the item.
		f, err := p.js.PublishMsgAsync(m, jetstream.WithStallWait(p.timeout))
		if err != nil {
			out[i] = PubResult{Err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			out[i] = result(ack, nil)
		case err := <-f.Err():
			out[i] = result(nil, err)
		case <-ctx.Done():
			out[i] = PubResult{Err: fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())}
		}
	}
	return out
}

func result(ack *jetstream.PubAck, err error) PubResult {
	if err != nil {
		return PubResult{Err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
	}
	return PubResult{Seq: ack.Sequence, Duplicate: ack.Duplicate}
}
