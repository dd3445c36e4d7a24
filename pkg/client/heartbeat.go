package client

import (
	"context"
	"sync"
	"time"
)

// DefaultHeartbeatEvery is Heartbeat's period when none is given: the seed
// guide's "every 30 seconds for active clusters".
const DefaultHeartbeatEvery = 30 * time.Second

// Heartbeat sends fn() with Beacon at once and then every `every` (30 s when
// every is 0 or less) in a background goroutine, until ctx ends or stop is
// called. fn is called from that goroutine for each beacon; leave TS zero
// to get the send time. A send that fails after its retries is passed to the
// WithErrorHandler function, if any, and the next tick goes on; ticks that
// fall due during a slow send are skipped, not queued.
//
// stop cancels a send in flight and returns once the goroutine has ended. It
// may be called more than once and from any goroutine.
func (c *Client) Heartbeat(ctx context.Context, every time.Duration, fn func() Beacon) (stop func()) {
	if every <= 0 {
		every = DefaultHeartbeatEvery
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if _, err := c.Beacon(ctx, fn()); err != nil && ctx.Err() == nil && c.onError != nil {
				c.onError(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(cancel)
		<-done
	}
}
