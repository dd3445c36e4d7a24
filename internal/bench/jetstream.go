package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publishWindow is the most outstanding asynchronous publishes, ingest's
// default RTT_PUBLISH_WINDOW.
const publishWindow = 4096

// benchStream is the raw reference's stream: RTT_BEACONS's config (file
// storage, duplicate window, limits, discard new) under another name and
// subject, on the same NATS server (the one ingest embeds).
const benchStream = "RTT_BENCH"

// phaseJetStream measures figure 1: straight nats.go asynchronous publish
// with Nats-Msg-Id of the beacons, no HTTP.
func (e *env) phaseJetStream(ctx context.Context, rep *Report) error {
	var runs []float64
	for i := range e.cfg.Runs {
		items := e.corpus.Make(e.cfg.Beacons, time.Now())
		rate, err := e.rawJetStream(ctx, items)
		if err != nil {
			return err
		}
		e.logf("raw JetStream publish, run %d: %.0f msg/s", i+1, rate)
		runs = append(runs, rate)
	}
	rep.add(Figure{Name: "raw_jetstream_publish", Value: median(runs), Unit: "msg/s", runs: runs})
	return nil
}

func (e *env) rawJetStream(ctx context.Context, items []Item) (float64, error) {
	cfg := beaconStream()
	cfg.Name, cfg.Subjects, cfg.Description = benchStream, []string{"bench.beacon.>"}, "rtt-bench raw reference"
	_ = e.js.DeleteStream(ctx, benchStream)
	if _, err := e.js.CreateStream(ctx, cfg); err != nil {
		return 0, fmt.Errorf("create %s: %w", benchStream, err)
	}
	defer e.js.DeleteStream(context.WithoutCancel(ctx), benchStream)

	msgs := make([]*nats.Msg, len(items))
	for i, it := range items {
		m := nats.NewMsg("bench." + strings.TrimPrefix(it.Subject, "rtt."))
		m.Data = it.Raw
		m.Header.Set(nats.MsgIdHdr, it.ID)
		msgs[i] = m
	}
	nc, err := nats.Connect(e.natsURL, nats.Name("rtt-bench-publisher"))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	var failed atomic.Int64
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for _, m := range msgs {
		if _, err := js.PublishMsgAsync(m, jetstream.WithStallWait(30*time.Second)); err != nil {
			return 0, fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("acknowledgements still missing after 2 minutes")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("%d publishes failed", n)
	}
	stored, err := e.streamMsgs(ctx, benchStream)
	if err != nil {
		return 0, err
	}
	if stored != uint64(len(items)) {
		return 0, fmt.Errorf("stream holds %d messages, published %d", stored, len(items))
	}
	return float64(len(items)) / elapsed.Seconds(), nil
}
