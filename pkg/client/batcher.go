package client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed is returned by Batcher.Add after Close.
var ErrClosed = errors.New("rtt: batcher closed")

// BatcherConfig configures a Batcher. Zero fields take the defaults.
type BatcherConfig struct {
	// MaxItems flushes the buffer when it holds this many beacons (default
	// 500; the server accepts up to 10,000 per request by default).
	MaxItems int
	// MaxDelay flushes the buffer at least this often, so a beacon waits at
	// most about MaxDelay before it is sent (default 1 s).
	MaxDelay time.Duration
	// Concurrency is how many batches may be in flight at once (default 2).
	// Add blocks while that many are in flight and one more is waiting.
	Concurrency int
	// OnFlush, when set, is called after each batch with its beacons (as
	// given to Add, with TS filled), the result and the error of
	// Client.Beacons. It is called from the Batcher's sending goroutines,
	// concurrently when Concurrency is above 1, and must not call Add.
	OnFlush func(items []Beacon, res BatchResult, err error)
}

// Batcher buffers beacons and sends them with Client.Beacons when MaxItems
// have gathered or MaxDelay has passed, whichever comes first. It is safe for
// concurrent use. Batches may complete out of order when Concurrency is
// above 1.
type Batcher struct {
	c     *Client
	cfg   BatcherConfig
	queue chan []Beacon
	ctx   context.Context // the senders' context, cancelled by a Close that times out
	abort context.CancelFunc

	mu       sync.Mutex
	buf      []Beacon
	closed   bool
	err      error          // the first flush error
	handoffs sync.WaitGroup // Add and tick calls handing a batch to the queue

	stopTick   chan struct{}
	tickerDone chan struct{}
	senders    sync.WaitGroup
}

// NewBatcher starts a Batcher sending through c. Call Close to flush and
// stop it.
func (c *Client) NewBatcher(cfg BatcherConfig) *Batcher {
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = 500
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	ctx, abort := context.WithCancel(context.Background())
	b := &Batcher{
		c:          c,
		cfg:        cfg,
		queue:      make(chan []Beacon, 1),
		ctx:        ctx,
		abort:      abort,
		stopTick:   make(chan struct{}),
		tickerDone: make(chan struct{}),
	}
	for range cfg.Concurrency {
		b.senders.Add(1)
		go b.send()
	}
	go b.tick()
	return b
}

// Add buffers one beacon, setting a zero TS to now. When the buffer is full
// it hands the batch to a sender, blocking while every sender is busy; it
// returns ctx's error if ctx ends first (the beacon stays buffered) and
// ErrClosed after Close.
func (b *Batcher) Add(ctx context.Context, bc Beacon) error {
	if bc.TS.IsZero() {
		bc.TS = time.Now()
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.buf = append(b.buf, bc)
	if len(b.buf) < b.cfg.MaxItems {
		b.mu.Unlock()
		return nil
	}
	// The buffer may hold more than MaxItems after a requeue: hand over
	// MaxItems, keep the rest.
	full := b.buf[:b.cfg.MaxItems:b.cfg.MaxItems]
	b.buf = append(make([]Beacon, 0, b.cfg.MaxItems), b.buf[b.cfg.MaxItems:]...)
	b.handoffs.Add(1)
	b.mu.Unlock()
	defer b.handoffs.Done()
	select {
	case b.queue <- full:
		return nil
	case <-ctx.Done():
		b.requeue(full)
		return ctx.Err()
	case <-b.ctx.Done():
		return ErrClosed
	}
}

// requeue puts a batch that could not be handed over back in front of the
// buffer.
func (b *Batcher) requeue(items []Beacon) {
	b.mu.Lock()
	b.buf = append(items, b.buf...)
	b.mu.Unlock()
}

// take removes up to MaxItems beacons from the buffer.
func (b *Batcher) take() []Beacon {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) == 0 {
		return nil
	}
	n := min(len(b.buf), b.cfg.MaxItems)
	items := b.buf[:n:n]
	b.buf = append(make([]Beacon, 0, b.cfg.MaxItems), b.buf[n:]...)
	return items
}

func (b *Batcher) tick() {
	defer close(b.tickerDone)
	t := time.NewTicker(b.cfg.MaxDelay)
	defer t.Stop()
	for {
		select {
		case <-b.stopTick:
			return
		case <-t.C:
		}
		if items := b.take(); items != nil {
			select {
			case b.queue <- items:
			case <-b.stopTick:
				b.requeue(items)
				return
			}
		}
	}
}

func (b *Batcher) send() {
	defer b.senders.Done()
	for items := range b.queue {
		res, err := b.c.Beacons(b.ctx, items)
		if err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
		if b.cfg.OnFlush != nil {
			b.cfg.OnFlush(items, res, err)
		}
	}
}

// Close stops accepting beacons, sends what is buffered and waits for every
// batch in flight. If ctx ends first it cancels the sends still running and
// returns ctx's error. Otherwise it returns the first error any batch had
// (see Client.Beacons), or nil. Close may be called more than once; later
// calls wait likewise.
func (b *Batcher) Close(ctx context.Context) error {
	b.mu.Lock()
	first := !b.closed
	b.closed = true
	b.mu.Unlock()
	if first {
		close(b.stopTick)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if first {
			<-b.tickerDone
			b.handoffs.Wait()
		drain:
			for items := b.take(); items != nil; items = b.take() {
				select {
				case b.queue <- items:
				case <-b.ctx.Done():
					break drain
				}
			}
			close(b.queue)
		}
		b.senders.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		b.abort()
		<-done
		return ctx.Err()
	}
	b.abort()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
