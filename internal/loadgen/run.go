package loadgen

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

// Stats are the totals of a run.
type Stats struct {
	// Sent counts the beacons posted and answered or given up on:
	// Accepted + Rejected + Errors.
	Sent int64 `json:"sent"`
	// Accepted counts the beacons the server stored, Duplicates those of
	// them it already held (a retry after a lost answer).
	Accepted   int64 `json:"accepted"`
	Duplicates int64 `json:"duplicates"`
	// Rejected counts the beacons the server answered invalid.
	Rejected int64 `json:"rejected"`
	// Errors counts the beacons not stored because the server stayed
	// unavailable or the request failed; LastError is the last such error.
	Errors    int64  `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// Profiles counts the site profiles registered before the first beacon.
	Profiles int `json:"profiles"`
	// Events counts the generated beacons per event type.
	Events map[string]int64 `json:"events"`
	// Changes lists the injected structural changes in order.
	Changes []Change `json:"changes"`
	// Elapsed is the wall time from the first beacon to the last answer.
	Elapsed time.Duration `json:"elapsed"`
}

// Rate is the average of beacons sent per second.
func (s Stats) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// Summary is the run's totals on one line.
func (s Stats) Summary() string {
	line := fmt.Sprintf("sent %d, accepted %d (%d duplicates), rejected %d, errors %d in %s (%.1f/s); %d sites, %d changes injected",
		s.Sent, s.Accepted, s.Duplicates, s.Rejected, s.Errors, s.Elapsed.Round(time.Millisecond), s.Rate(), s.Profiles, len(s.Changes))
	if s.LastError != "" {
		line += "; last error: " + s.LastError
	}
	return line
}

// counters are the live totals, updated by the batcher's senders.
type counters struct {
	sent, accepted, duplicates, rejected, errors atomic.Int64
	mu                                           sync.Mutex
	lastErr                                      string
}

func (c *counters) flushed(items []client.Beacon, res client.BatchResult, err error) {
	n := int64(len(items))
	stored, rejected := int64(res.Accepted), int64(res.Rejected)
	c.accepted.Add(stored)
	c.duplicates.Add(int64(res.Duplicates))
	c.rejected.Add(rejected)
	if failed := n - stored - rejected; failed > 0 {
		c.errors.Add(failed)
	}
	if err != nil {
		c.mu.Lock()
		c.lastErr = err.Error()
		c.mu.Unlock()
	}
	c.sent.Add(n)
}

// Run registers every simulated site's profile, then sends beacons at
// cfg.Rate through the Go client's Batcher until cfg.Count beacons,
// cfg.Duration, or the end of ctx, which is a normal stop: what is buffered
// is still flushed (for up to 30 s). On progress (nil: none) it writes a
// line once the profiles are registered, then rewrites one status line every
// second (carriage return) and ends with a summary line.
//
// Beacon i is scheduled at i/Rate after the start; a run that falls behind
// (a slow server blocks the Batcher) catches up as fast as the server
// allows. Event times (ts), heartbeats, deployments and injected changes
// follow that schedule, not the wall clock, so a seed gives the same beacons
// however fast the server answers.
//
// The error is about the run itself: bad settings or profiles that could not
// be registered. Beacons that could not be stored are counted in
// Stats.Errors.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Stats, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now().UTC().Truncate(time.Millisecond)
	}
	if progress == nil {
		progress = io.Discard
	}
	var opts []client.Option
	if cfg.Token != "" {
		opts = append(opts, client.WithToken(cfg.Token))
	}
	c := client.New(cfg.URL, opts...)
	gen := newGenerator(cfg)
	stats := Stats{Events: map[string]int64{}}
	if err := register(ctx, c, gen.sites); err != nil {
		return stats, err
	}
	stats.Profiles = len(gen.sites)
	rate := "as fast as the server takes them"
	if cfg.Rate > 0 {
		rate = fmt.Sprintf("%g/s", cfg.Rate)
	}
	fmt.Fprintf(progress, "registered %d site profiles; sending beacons to %s at %s in batches of %d\n", len(gen.sites), c.BaseURL(), rate, cfg.Batch)

	var ctr counters
	b := c.NewBatcher(client.BatcherConfig{
		MaxItems:    cfg.Batch,
		MaxDelay:    time.Second,
		Concurrency: cfg.Concurrency,
		OnFlush:     ctr.flushed,
	})
	start := time.Now()
	stopProgress := showProgress(progress, &ctr, start)
	for {
		if cfg.Count > 0 && gen.n >= cfg.Count {
			break
		}
		if cfg.Duration > 0 && (gen.offset() >= cfg.Duration || time.Since(start) >= cfg.Duration) {
			break
		}
		if cfg.Rate > 0 {
			// Sleep only when more than 2 ms ahead: at high rates beacons
			// go out in small bursts instead of one timer per beacon.
			if wait := time.Until(start.Add(gen.offset())); wait > 2*time.Millisecond {
				if sleep(ctx, wait) != nil {
					break
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		bc, changes := gen.next()
		stats.Changes = append(stats.Changes, changes...)
		stats.Events[bc.Event]++
		if err := b.Add(ctx, bc); err != nil {
			break // ctx ended: the beacon stays buffered and Close sends it
		}
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = b.Close(closeCtx) // failures are counted per beacon by ctr
	stopProgress()

	stats.Elapsed = time.Since(start)
	stats.Sent = ctr.sent.Load()
	stats.Accepted = ctr.accepted.Load()
	stats.Duplicates = ctr.duplicates.Load()
	stats.Rejected = ctr.rejected.Load()
	stats.Errors = ctr.errors.Load()
	ctr.mu.Lock()
	stats.LastError = ctr.lastErr
	ctr.mu.Unlock()
	fmt.Fprintf(progress, "\r%s\n", stats.Summary())
	return stats, nil
}

// register sets every site's profile, a few at a time, before any beacon is
// sent. It stops at the first failure.
func register(ctx context.Context, c *client.Client, sites []*site) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan *site)
	var wg sync.WaitGroup
	for range min(8, len(sites)) {
		wg.Go(func() {
			for s := range work {
				if err := c.SetProfile(ctx, s.name, s.profile()); err != nil {
					cancel(fmt.Errorf("registering the profile of %s: %w", s.name, err))
				}
			}
		})
	}
	for _, s := range sites {
		select {
		case work <- s:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// showProgress rewrites one status line on w every second until stop is
// called.
func showProgress(w io.Writer, ctr *counters, start time.Time) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last, lastAt := int64(0), start
		width := 0
		for {
			select {
			case <-done:
				if width > 0 { // clear the line for the summary
					fmt.Fprint(w, "\r"+strings.Repeat(" ", width))
				}
				return
			case now := <-t.C:
				sent := ctr.sent.Load()
				rate := float64(sent-last) / now.Sub(lastAt).Seconds()
				last, lastAt = sent, now
				line := fmt.Sprintf("sent %d  accepted %d  rejected %d  errors %d  rate %.1f/s  elapsed %s",
					sent, ctr.accepted.Load(), ctr.rejected.Load(), ctr.errors.Load(), rate, now.Sub(start).Round(time.Second))
				pad := max(width-len(line), 0)
				width = max(width, len(line))
				fmt.Fprint(w, "\r"+line+strings.Repeat(" ", pad))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
