package replay

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Pass is one pass over a slice: read from Source, keep what Selection
// matches, at Pace, into Outputs and Analyzer.
type Pass struct {
	Source    Source
	Selection Selection
	// Pace replays at the original arrival pace times this factor (2 is
	// twice as fast as recorded); 0 is as fast as possible.
	Pace     float64
	Outputs  []Output
	Analyzer *Analyzer // nil: no analysis
	// Progress, when set, shows a progress line (rate, time left).
	Progress io.Writer
}

// Stats count what a pass did.
type Stats struct {
	// Read counts the beacons the source delivered, Selected those the
	// selection matched, Unreadable those whose stored payload did not
	// decode (skipped, as the live services dead-letter them).
	Read, Selected, Unreadable int64
	// FirstTS and LastTS bound the event times of the selected beacons.
	FirstTS, LastTS time.Time
	Elapsed         time.Duration
}

// Run makes the pass. It returns ctx's error when ctx ends first; the
// outputs are neither closed nor aborted (the caller does either).
func (p *Pass) Run(ctx context.Context) (Stats, error) {
	var st Stats
	start := time.Now()
	var prog *progress
	if p.Progress != nil {
		prog = startProgress(p.Progress)
		defer prog.finish()
	}
	pacer := newPacer(p.Pace)
	var total func(int64)
	if prog != nil {
		total = prog.setTotal
	}
	err := p.Source.Read(ctx, p.Selection, total, func(it Item) error {
		st.Read++
		if prog != nil {
			prog.add(1)
		}
		if it.Beacon == nil {
			st.Unreadable++
			return nil
		}
		if !p.Selection.Match(it.Beacon, it.Received) {
			return nil
		}
		if err := pacer.wait(ctx, it.Received); err != nil {
			return err
		}
		st.Selected++
		if st.FirstTS.IsZero() || it.Beacon.Time.Before(st.FirstTS) {
			st.FirstTS = it.Beacon.Time
		}
		if it.Beacon.Time.After(st.LastTS) {
			st.LastTS = it.Beacon.Time
		}
		for _, o := range p.Outputs {
			if err := o.Write(&it); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		if p.Analyzer != nil {
			if err := p.Analyzer.Step(&it); err != nil {
				return err
			}
		}
		return nil
	})
	st.Elapsed = time.Since(start)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return st, err
}

// pacer sleeps so that beacons come at their recorded arrival pace times a
// factor.
type pacer struct {
	factor    float64
	first     time.Time // arrival time of the first beacon
	wallStart time.Time
}

func newPacer(factor float64) *pacer { return &pacer{factor: factor} }

func (p *pacer) wait(ctx context.Context, arrived time.Time) error {
	if p.factor <= 0 {
		return nil
	}
	if p.wallStart.IsZero() {
		p.first, p.wallStart = arrived, time.Now()
		return nil
	}
	offset := arrived.Sub(p.first)
	if offset <= 0 {
		return nil
	}
	d := time.Until(p.wallStart.Add(time.Duration(float64(offset) / p.factor)))
	if d <= time.Millisecond {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
