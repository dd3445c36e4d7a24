package replay

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"time"

	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derive"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/drift"
)

// Params are the analysis parameters of a research run.
type Params struct {
	Drift drift.Params
	// CorridorAlpha is the EWMA weight of the corridors' running scores.
	CorridorAlpha float64
	// Corridors are the corridors of each site (Corridors.For); a site
	// without any has its flows recorded unmatched, like a site without a
	// profile in the live pipeline.
	Corridors Corridors
}

// Validate reports the first unusable parameter, naming its flag.
func (p Params) Validate() error {
	// Name the flag of the field at fault: each is checked alone against
	// the defaults.
	for _, f := range []struct {
		flag string
		set  func(*drift.Params)
	}{
		{"-drift-threshold", func(q *drift.Params) { q.Threshold = p.Drift.Threshold }},
		{"-drift-confirm", func(q *drift.Params) { q.Confirm = p.Drift.Confirm }},
		{"-drift-alpha", func(q *drift.Params) { q.Alpha = p.Drift.Alpha }},
		{"-drift-cooldown", func(q *drift.Params) { q.Cooldown = p.Drift.Cooldown }},
	} {
		q := drift.DefaultParams()
		f.set(&q)
		if err := q.Validate(); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	if err := p.Drift.Validate(); err != nil {
		return fmt.Errorf("drift parameters: %w", err)
	}
	if !(p.CorridorAlpha > 0 && p.CorridorAlpha <= 1) {
		return fmt.Errorf("-corridor-alpha: must be in (0, 1], got %v", p.CorridorAlpha)
	}
	for site, cs := range p.Corridors {
		if err := corridor.ValidateCorridors(cs); err != nil {
			return fmt.Errorf("corridors of site %q: %w", site, err)
		}
	}
	return nil
}

// Results receives the derived records of a run in processing order.
type Results interface {
	Drift(rec derived.Drift) error
	Alignment(rec derived.Alignment) error
}

// Analyzer runs the drift detector and the corridor alignment over beacons
// in stream order, as the live drift and corridor services do, starting
// from empty state. It is not safe for concurrent use.
type Analyzer struct {
	runID   string
	params  Params
	tracker *drift.Tracker
	scores  *corridor.Scores
	out     Results
	digest  *Digest

	driftEvents, alignments int64
	sites                   map[string]bool // sites seen, for the record of the corridors used
}

// NewAnalyzer returns an analyzer for run runID sending its records to out
// (nil: only counted and digested). p must be valid.
func NewAnalyzer(runID string, p Params, out Results) *Analyzer {
	return &Analyzer{
		runID: runID, params: p, out: out,
		tracker: drift.NewTracker(p.Drift), scores: corridor.NewScores(p.CorridorAlpha),
		digest: NewDigest(), sites: map[string]bool{},
	}
}

// Step applies one selected beacon. Items whose payload did not decode are
// skipped, as the live services dead-letter them.
func (a *Analyzer) Step(it *Item) error {
	b := it.Beacon
	if b == nil {
		return nil
	}
	a.sites[b.Site] = true
	key := derive.DriftKey(b.Site, b.KeyScope())
	_, ev, applied := a.tracker.Step(key, derive.DriftInput(b, it.EventID, it.Seq))
	if applied && ev != nil {
		// The detection time is the arrival time of the confirming beacon
		// at whole seconds (live: when the drift service processed it), so
		// that records do not depend on when or from where one replays.
		rec := derive.DriftRecord(a.runID, b, *ev, it.Received.Truncate(time.Second))
		if err := a.digest.Drift(rec); err != nil {
			return err
		}
		a.driftEvents++
		if a.out != nil {
			if err := a.out.Drift(rec); err != nil {
				return err
			}
		}
	}
	a.tracker.ClearDirty() // no store to write state to: keep the dirty list from growing
	if len(b.Flows) == 0 {
		return nil
	}
	corridors := a.params.Corridors.For(b.Site)
	for i := range b.Flows {
		rec := derive.Alignment(a.runID, b, it.EventID, i, corridors)
		if rec.Matched {
			running, total, on, applied := a.scores.Observe(derive.ScoreKey(b.Site, rec.Corridor), derive.ScoreSeq(it.Seq, i), rec.Alignment)
			if !applied {
				continue
			}
			rec.RunningScore, rec.Total, rec.OnTotal = running, total, on
		}
		if err := a.digest.Alignment(rec); err != nil {
			return err
		}
		a.alignments++
		if a.out != nil {
			if err := a.out.Alignment(rec); err != nil {
				return err
			}
		}
	}
	a.scores.ClearDirty()
	return nil
}

// Counts returns the drift events and alignment records produced so far.
func (a *Analyzer) Counts() (driftEvents, alignments int64) { return a.driftEvents, a.alignments }

// Digest returns the digest of the records produced so far.
func (a *Analyzer) Digest() string { return a.digest.Sum() }

// SitesSeen returns the sites of the beacons applied, sorted.
func (a *Analyzer) SitesSeen() []string {
	out := make([]string, 0, len(a.sites))
	for s := range a.sites {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Digest is a SHA-256 over a run's derived records in processing order,
// leaving out what names the run rather than the analysis: the run id, the
// record ids made from it, and the detection time. Two runs over the same
// slice with parameters that lead to the same records have the same digest,
// whatever their run ids and wherever their beacons were read from.
type Digest struct {
	h hash.Hash
}

// NewDigest returns the digest of no records.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Drift adds a drift event record. It fails only for a record that does
// not encode as JSON (a non-finite number), which the detector never makes.
func (d *Digest) Drift(rec derived.Drift) error {
	rec.DriftID, rec.RunID, rec.DetectedAt = "", "", time.Time{}
	return d.add('d', rec)
}

// Alignment adds an alignment record; it fails as Drift does.
func (d *Digest) Alignment(rec derived.Alignment) error {
	rec.RecordID, rec.RunID = "", ""
	return d.add('a', rec)
}

func (d *Digest) add(kind byte, rec any) error {
	// encoding/json writes struct fields in declaration order and floats
	// in their shortest exact form: one record, one encoding.
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("digest: record does not encode: %w", err)
	}
	d.h.Write([]byte{kind, ' '})
	d.h.Write(b)
	d.h.Write([]byte{'\n'})
	return nil
}

// Sum returns "sha256:" and the hex digest of the records added so far.
func (d *Digest) Sum() string {
	return "sha256:" + hex.EncodeToString(d.h.Sum(nil))
}
