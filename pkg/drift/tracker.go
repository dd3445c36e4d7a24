package drift

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Bits of state.flags. The low three are part of the snapshot.
const (
	hasGraph  uint8 = 1 << 0 // graph holds a baseline graph
	hasEvent  uint8 = 1 << 1 // eventTS holds the time of the key's last event
	topoOnly  uint8 = 1 << 2 // no beacon of the open streak drifted on its counts alone
	snapFlags       = hasGraph | hasEvent | topoOnly
	dirty     uint8 = 1 << 7 // changed since the last ClearDirty; not persisted
)

// idHash is the 64-bit FNV-1a hash of an event id, never 0 for a non-empty
// id; 0 stands for none.
func idHash(id string) uint64 {
	if id == "" {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return max(h, 1)
}

// state is everything the Tracker knows about one key. It is kept small:
// 152 bytes (a 160-byte allocation) plus 8 bytes per node and per edge of
// the baseline graph.
type state struct {
	key      string // the map key, shared with the map, for the dirty list
	base     [NumCounts]float64
	graph    fingerprint
	lastSeq  uint64
	newestTS int64  // Unix ns of the newest event time applied; 0 when unknown (version 1 snapshot)
	newestID uint64 // idHash of the event id of the newest beacon applied; 0 when unknown (versions 1, 2)
	firstTS  int64  // Unix ns of the streak's first beacon
	eventTS  int64  // Unix ns of the key's last event
	firstID  string // event id of the streak's first beacon
	streak   uint32 // drifted beacons in a row, saturating
	flags    uint8
}

// Tracker holds the drift state of many keys. The zero value is not usable;
// call NewTracker. A Tracker is not safe for concurrent use: the service
// gives each one to a single goroutine or guards it with a mutex.
type Tracker struct {
	p     Params
	keys  map[string]*state
	dirty []string // keys with the dirty flag, in the order they got it
	fp    fingerprinter
}

// NewTracker returns an empty Tracker. It panics if p.Validate fails:
// validate configuration before building a Tracker from it.
func NewTracker(p Params) *Tracker {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return &Tracker{p: p, keys: make(map[string]*state)}
}

// Params returns the parameters the Tracker was built with.
func (t *Tracker) Params() Params { return t.p }

// Len returns the number of keys the Tracker holds.
func (t *Tracker) Len() int { return len(t.keys) }

// Has reports whether the Tracker holds state for key, so a caller can load
// a key's stored state lazily before its first Step.
func (t *Tracker) Has(key string) bool {
	_, ok := t.keys[key]
	return ok
}

// Step applies one beacon to key's state and returns its measurement, the
// event it confirmed if any, and applied=true.
//
// When in.Seq is not above the last Seq applied to key, the beacon is a
// redelivery whose effect the state already holds: Step changes nothing and
// returns applied=false, a zero Measurement and no event. The first beacon
// of a key sets its baseline and measures as zero.
//
// A beacon with the event id of the newest beacon applied to key (not late)
// is a re-send of it that reached the stream again, for example inside
// another batch: like a redelivery, Step changes nothing and returns
// applied=false.
//
// A beacon whose event time in.TS is before the newest event time already
// applied to key is late (it was overtaken in the stream by a newer one):
// Step measures it and returns the Measurement with Late set, records its
// Seq as applied, and changes nothing else: it neither extends nor ends a
// streak, does not move the baseline and never fires. An event time equal to
// the newest is not late.
//
// Counts outside ±MaxCount are clamped and NaN reads as 0. The rules
// (streaks, baseline updates, cooldown, late beacons) are in the package
// documentation and docs/drift.md.
func (t *Tracker) Step(key string, in Input) (m Measurement, ev *Event, applied bool) {
	st := t.keys[key]
	if st != nil && in.Seq <= st.lastSeq {
		return Measurement{}, nil, false
	}
	id := idHash(in.EventID)
	if st != nil && id != 0 && id == st.newestID {
		return Measurement{}, nil, false
	}
	x := clampCounts(in.Features.Counts)
	var g *fingerprint
	if in.Features.Graph != nil {
		g = t.fp.of(in.Features.Graph)
	}
	ts := unixNano(in.TS)

	if st == nil {
		// The map keeps its own copy of the key: the caller's string may
		// point into a message buffer that would otherwise stay alive.
		st = &state{key: strings.Clone(key), base: x, lastSeq: in.Seq, newestTS: ts, newestID: id}
		st.setGraph(g)
		t.keys[st.key] = st
		t.touch(st)
		return Measurement{}, nil, true
	}
	// Even a late beacon is applied: its Seq makes a redelivery of it a
	// no-op, so the key is dirty.
	st.lastSeq = in.Seq
	t.touch(st)

	m, countPart := st.measure(x, g)
	m.Drifted = m.Magnitude >= t.p.Threshold
	if ts < st.newestTS {
		// Overtaken by a newer beacon of the key: applying it would put an
		// older structure after a newer one and make a step change flap.
		m.Late = true
		return m, nil, true
	}
	st.newestTS, st.newestID = ts, id
	if !m.Drifted {
		if g == nil && st.streak > 0 && st.flags&topoOnly != 0 {
			// The streak is about the topology and this beacon cannot see
			// it: it neither confirms nor ends the streak.
			return m, nil, true
		}
		st.endStreak()
		st.blend(x, t.p.Alpha)
		st.setGraph(g)
		return m, nil, true
	}

	if st.streak == 0 {
		st.firstID = strings.Clone(in.EventID)
		st.firstTS = ts
		st.flags |= topoOnly
	}
	if countPart >= t.p.Threshold {
		st.flags &^= topoOnly
	}
	if st.streak < math.MaxUint32 {
		st.streak++
	}
	if int64(st.streak) < int64(t.p.Confirm) || t.coolingDown(st, ts) {
		return m, nil, true
	}

	ev = &Event{
		EventID:      in.EventID,
		FirstEventID: st.firstID,
		TS:           time.Unix(0, ts).UTC(),
		FirstTS:      time.Unix(0, st.firstTS).UTC(),
		Magnitude:    m.Magnitude,
		Vector:       m.Vector,
		Baseline:     st.base,
		Observed:     x,
		Streak:       int(st.streak),
	}
	if g != nil && st.flags&hasGraph != 0 {
		common := intersect(g.nodeSet(), st.graph.nodeSet())
		ev.NodesAdded = len(g.nodeSet()) - common
		ev.NodesRemoved = len(st.graph.nodeSet()) - common
		common = intersect(g.edgeSet(), st.graph.edgeSet())
		ev.EdgesAdded = len(g.edgeSet()) - common
		ev.EdgesRemoved = len(st.graph.edgeSet()) - common
	}
	// The change is acknowledged: the new structure is the baseline.
	st.base = x
	st.setGraph(g)
	st.endStreak()
	st.eventTS = ts
	st.flags |= hasEvent
	return m, ev, true
}

// measure returns the drift of x and g from the baseline, and the norm of
// the count components alone.
func (st *state) measure(x [NumCounts]float64, g *fingerprint) (m Measurement, countPart float64) {
	var d [NumCounts]float64
	var sum float64
	for i := range x {
		d[i] = (x[i] - st.base[i]) / max(math.Abs(st.base[i]), 1)
		// The explicit conversion rounds the product, so no platform fuses
		// it into a multiply-add and the sum is the same bits everywhere.
		sum += float64(d[i] * d[i])
	}
	countPart = math.Sqrt(sum)
	var topo float64
	if g != nil && st.flags&hasGraph != 0 {
		topo = jaccardDistance(g.edgeSet(), st.graph.edgeSet())
		sum += float64(topo * topo)
	}
	m.Vector = Vector{Nav: d[NavCount], Main: d[MainCount], Form: d[FormCount], Button: d[ButtonCount], DomNodes: d[DomNodes], Topology: topo}
	m.Magnitude = math.Sqrt(sum)
	return m, countPart
}

// blend moves the baseline counts towards x by the EWMA weight alpha.
func (st *state) blend(x [NumCounts]float64, alpha float64) {
	for i := range x {
		st.base[i] += float64(alpha * (x[i] - st.base[i]))
	}
}

// setGraph makes g the baseline graph; a nil g (a beacon without topology)
// keeps the old one.
func (st *state) setGraph(g *fingerprint) {
	if g == nil {
		return
	}
	st.graph.set(g)
	st.flags |= hasGraph
}

func (st *state) endStreak() {
	st.streak = 0
	st.firstID = ""
	st.firstTS = 0
	st.flags &^= topoOnly
}

// coolingDown reports whether an event at ts would come less than Cooldown
// after the key's previous event. An event time before the previous event
// counts as too close.
func (t *Tracker) coolingDown(st *state, ts int64) bool {
	if t.p.Cooldown <= 0 || st.flags&hasEvent == 0 {
		return false
	}
	if ts < st.eventTS {
		return true
	}
	// Unsigned, because the difference of two int64 can overflow int64.
	return uint64(ts)-uint64(st.eventTS) < uint64(t.p.Cooldown)
}

func (t *Tracker) touch(st *state) {
	if st.flags&dirty == 0 {
		st.flags |= dirty
		t.dirty = append(t.dirty, st.key)
	}
}

// Dirty returns the keys changed by Step since the last ClearDirty, sorted.
// Load does not make a key dirty: it sets the state the store already has.
func (t *Tracker) Dirty() []string {
	keys := slices.Clone(t.dirty)
	slices.Sort(keys)
	return keys
}

// ClearDirty forgets which keys changed, typically after their snapshots
// were stored.
func (t *Tracker) ClearDirty() {
	for _, k := range t.dirty {
		t.keys[k].flags &^= dirty
	}
	clear(t.dirty)
	t.dirty = t.dirty[:0]
}

func clampCounts(c [NumCounts]float64) [NumCounts]float64 {
	for i, x := range c {
		switch {
		case math.IsNaN(x):
			c[i] = 0
		case x > MaxCount:
			c[i] = MaxCount
		case x < -MaxCount:
			c[i] = -MaxCount
		}
	}
	return c
}

// The range of time that Unix nanoseconds in an int64 can hold.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// unixNano is t.UnixNano, clamped where that is undefined.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Forget drops key's state, as if it had never been seen (the caller then
// reloads it from its store). Used to undo steps whose effects could not be
// made durable.
func (t *Tracker) Forget(key string) {
	st, ok := t.keys[key]
	if !ok {
		return
	}
	if st.flags&dirty != 0 {
		t.dirty = slices.DeleteFunc(t.dirty, func(k string) bool { return k == key })
	}
	delete(t.keys, key)
}
