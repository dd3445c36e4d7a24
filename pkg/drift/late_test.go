package drift

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// batchShuffle permutes s the way concurrent batches of one client reorder
// its beacons: s is cut into batches of 1 to maxBatch beacons, and each
// disjoint pair of neighbouring batches swaps with probability 1/2. No
// beacon moves by more than maxBatch positions.
func batchShuffle[T any](r *rand.Rand, s []T, maxBatch int) []T {
	var batches [][]T
	for len(s) > 0 {
		n := min(1+r.IntN(maxBatch), len(s))
		batches = append(batches, s[:n])
		s = s[n:]
	}
	for i := 0; i+1 < len(batches); i += 2 {
		if r.IntN(2) == 0 {
			batches[i], batches[i+1] = batches[i+1], batches[i]
		}
	}
	return slices.Concat(batches...)
}

// TestShuffledStepChangeFiresOnce is the end-to-end finding: sites whose
// beacons reach the stream slightly out of event-time order around a step
// change, each batch of a site possibly overtaken by the next. Each changed
// site must fire exactly one event, a steady one none.
// The same arrivals restamped in arrival order (what the detector saw before
// it recognized late beacons) are checked to flap, so the test reproduces the
// problem it guards against.
func TestShuffledStepChangeFiresOnce(t *testing.T) {
	const (
		sites   = 8
		changed = 3 // sites 0, 1 and 2 change; site 2 only by its topology
		before  = 12
		after   = 12
		batch   = 3 // beacons move by up to 3 positions
	)
	var flapped, late int
	for seed := range uint64(100) {
		r := rand.New(rand.NewPCG(seed, 5))
		queues := make([][]step, sites)
		for s := range queues {
			key := fmt.Sprintf("site-%d\x00scope", s)
			for i := range before + after {
				c, g := normal, mesh
				if i >= before {
					switch s {
					case 0, 1:
						c = bigger
					case 2:
						g = rewired
					}
				}
				c[DomNodes] += float64(r.IntN(41) - 20) // ±4 %: not drifted
				queues[s] = append(queues[s], step{key, Input{
					EventID:  fmt.Sprintf("s%d-b%d", s, i),
					TS:       t0.Add(time.Duration(i)*30*time.Second + time.Duration(s)*time.Second),
					Features: Features{Counts: c, Graph: g},
				}})
			}
			queues[s] = batchShuffle(r, queues[s], batch)
			for i, st := range queues[s] {
				var was int
				fmt.Sscanf(st.in.EventID, "s%d-b%d", new(int), &was)
				if was < i-batch || was > i+batch {
					t.Fatalf("beacon %s moved to %d", st.in.EventID, i)
				}
			}
		}
		// The sites' arrivals interleave at random; Seq numbers arrivals.
		var stream []step
		for len(stream) < sites*(before+after) {
			s := r.IntN(sites)
			if len(queues[s]) == 0 {
				continue
			}
			st := queues[s][0]
			queues[s] = queues[s][1:]
			st.in.Seq = uint64(len(stream) + 1)
			stream = append(stream, st)
		}

		tr := NewTracker(DefaultParams())
		inOrder := NewTracker(DefaultParams())
		events := map[string][]*Event{}
		inOrderEvents := 0
		for i, s := range stream {
			m, ev, applied := tr.Step(s.key, s.in)
			if !applied {
				t.Fatalf("seed %d: %s not applied", seed, s.in.EventID)
			}
			if m.Late {
				late++
			}
			if ev != nil {
				events[s.key] = append(events[s.key], ev)
			}
			restamped := s.in
			restamped.TS = t0.Add(time.Duration(i) * time.Second)
			if _, ev, _ := inOrder.Step(s.key, restamped); ev != nil {
				inOrderEvents++
			}
		}
		for s := range sites {
			evs := events[fmt.Sprintf("site-%d\x00scope", s)]
			if s >= changed {
				if len(evs) != 0 {
					t.Errorf("seed %d: steady site %d fired %d events, first %+v", seed, s, len(evs), evs[0])
				}
				continue
			}
			if len(evs) != 1 {
				t.Errorf("seed %d: changed site %d fired %d events, want 1", seed, s, len(evs))
				for _, e := range evs {
					t.Logf("  %s (first %s): %v -> %v", e.EventID, e.FirstEventID, e.Baseline, e.Observed)
				}
				continue
			}
			// The event is the change from the old structure to the new.
			e := evs[0]
			if (s == 2) != (e.Vector.Topology > 0) || (s != 2) != (e.Observed[DomNodes] > 700 && e.Baseline[DomNodes] < 600) {
				t.Errorf("seed %d: site %d fired %+v, not the change", seed, s, e)
			}
		}
		if inOrderEvents > changed {
			flapped++
		}
	}
	t.Logf("100 shuffles: %d late beacons; restamped in arrival order, %d of them fire more than one event per change", late, flapped)
	if flapped == 0 {
		t.Fatal("no shuffle made the restamped stream flap: the test does not reproduce the problem")
	}
}

// stepLate steps a beacon that must be late and checks that it changed
// nothing but the key's last applied Seq.
func stepLate(t *testing.T, tr *Tracker, key string, in Input) Measurement {
	t.Helper()
	before, _ := tr.Snapshot(key)
	tr.ClearDirty()
	m, ev, applied := tr.Step(key, in)
	if !applied || !m.Late || ev != nil {
		t.Fatalf("%s: applied %v, %+v, event %+v; want applied, late, no event", in.EventID, applied, m, ev)
	}
	after, _ := tr.Snapshot(key)
	if !bytes.Equal(withoutSeq(before), withoutSeq(after)) {
		t.Fatalf("%s: a late beacon changed the state\nbefore %x\nafter  %x", in.EventID, before, after)
	}
	if got := tr.keys[key].lastSeq; got != in.Seq {
		t.Fatalf("%s: last applied Seq %d, want %d", in.EventID, got, in.Seq)
	}
	if d := tr.Dirty(); !slices.Equal(d, []string{key}) {
		t.Fatalf("%s: Dirty %v; the new last Seq must be stored", in.EventID, d)
	}
	// A redelivery of it is a no-op like any other.
	if m, _, applied := tr.Step(key, in); applied || m != (Measurement{}) {
		t.Fatalf("%s: redelivery applied %v, %+v", in.EventID, applied, m)
	}
	return m
}

// withoutSeq is a version 2 snapshot with its last applied Seq zeroed.
func withoutSeq(b []byte) []byte {
	b = bytes.Clone(b)
	clear(b[2:10])
	return b
}

// at is the beacon of position seq (1-based, its Seq) stamped at slot: a
// beacon delivered at seq whose event time is that of position slot.
func at(seq, slot int, b beat) Input {
	in := input(seq-1, b)
	in.TS = t0.Add(time.Duration(slot) * 30 * time.Second)
	return in
}

func TestLateBeaconNeverFiresOrResetsAStreak(t *testing.T) {
	const key = "k"
	confirm := func(n int) Params { p := DefaultParams(); p.Confirm = n; return p }
	start := func(p Params, beats ...beat) *Tracker {
		tr := NewTracker(p)
		for i, b := range beats {
			if m, _, _ := tr.Step(key, at(i+1, i, b)); m.Late {
				t.Fatalf("in-order beacon %d is late", i)
			}
		}
		return tr
	}
	n := beat{counts: normal}
	big := beat{counts: bigger}

	t.Run("a late normal beacon does not end a streak", func(t *testing.T) {
		tr := start(DefaultParams(), n, n, n)
		tr.Step(key, at(4, 4, big)) // streak 1; slot 3 is still on its way
		if m := stepLate(t, tr, key, at(5, 3, n)); m.Drifted {
			t.Fatalf("the old structure measured %+v", m)
		}
		_, ev, _ := tr.Step(key, at(6, 5, big))
		if ev == nil || ev.Streak != 2 || ev.FirstEventID != "b-3" || ev.EventID != "b-5" {
			t.Fatalf("event %+v, want the streak b-3, b-5", ev)
		}
	})

	t.Run("a late drifted beacon does not confirm a streak", func(t *testing.T) {
		tr := start(DefaultParams(), n, n, n)
		tr.Step(key, at(4, 4, big))
		if m := stepLate(t, tr, key, at(5, 3, big)); !m.Drifted {
			t.Fatalf("the new structure measured %+v", m)
		}
		if st := tr.keys[key]; st.streak != 1 || st.firstID != "b-3" {
			t.Fatalf("streak %d from %s", st.streak, st.firstID)
		}
		// The streak is still open and still needs a second in-order beacon.
		if _, ev, _ := tr.Step(key, at(6, 5, n)); ev != nil {
			t.Fatalf("event %+v", ev)
		}
	})

	t.Run("a late drifted beacon never fires, even with Confirm 1", func(t *testing.T) {
		tr := start(confirm(1), n, n)
		stepLate(t, tr, key, at(3, 0, big))
		stepLate(t, tr, key, at(4, 0, big))
	})

	t.Run("a late drifted beacon does not start a streak", func(t *testing.T) {
		tr := start(confirm(2), n, n, n)
		stepLate(t, tr, key, at(4, 1, big))
		if _, ev, _ := tr.Step(key, at(5, 3, big)); ev != nil {
			t.Fatalf("one in-order drifted beacon after a late one fired %+v", ev)
		}
	})

	t.Run("old beacons arriving after an event do not flap it back", func(t *testing.T) {
		tr := start(DefaultParams(), n, n, n)
		tr.Step(key, at(4, 4, big))
		if _, ev, _ := tr.Step(key, at(5, 5, big)); ev == nil {
			t.Fatal("no event")
		}
		for i, slot := range []int{3, 2} {
			if m := stepLate(t, tr, key, at(6+i, slot, n)); !m.Drifted {
				t.Fatalf("the old structure against the new baseline measured %+v", m)
			}
		}
		if m, ev, _ := tr.Step(key, at(8, 6, big)); m.Drifted || ev != nil {
			t.Fatalf("the new structure measured %+v, event %+v", m, ev)
		}
	})

	t.Run("a late beacon does not move the baseline or its graph", func(t *testing.T) {
		tr := start(DefaultParams(), beat{normal, mesh}, beat{normal, mesh})
		c := normal
		c[DomNodes] = 600 // +20 %: not drifted, would blend
		m := stepLate(t, tr, key, at(3, 0, beat{c, rewired}))
		if m.Vector.DomNodes != 0.2 || m.Vector.Topology == 0 || !m.Drifted {
			t.Fatalf("measurement %+v, want dom +0.2 and the rewiring", m)
		}
		if m, _, _ := tr.Step(key, at(4, 2, beat{normal, mesh})); m.Magnitude != 0 {
			t.Fatalf("after the late beacon the baseline measures %+v", m)
		}
	})

	t.Run("a late beacon does not end a held-back streak", func(t *testing.T) {
		p := DefaultParams()
		p.Cooldown = 150 * time.Second
		tr := start(p, n, n, big, big) // event at slot 3
		tr.Step(key, at(5, 5, n))      // streak 1, cooling down until slot 8
		tr.Step(key, at(6, 6, n))      // streak 2, held back
		stepLate(t, tr, key, at(7, 4, big))
		tr.Step(key, at(8, 7, n)) // streak 3, held back
		if _, ev, _ := tr.Step(key, at(9, 8, n)); ev == nil || ev.Streak != 4 || ev.FirstEventID != "b-4" {
			t.Fatalf("event %+v, want the held-back streak of 4 from b-4", ev)
		}
	})

	t.Run("equal event times are not late", func(t *testing.T) {
		tr := start(DefaultParams(), n, n, n)
		if m, _, _ := tr.Step(key, at(4, 2, big)); m.Late || !m.Drifted {
			t.Fatalf("measurement %+v", m)
		}
		if m, ev, _ := tr.Step(key, at(5, 2, big)); m.Late || ev == nil {
			t.Fatalf("measurement %+v, event %+v", m, ev)
		}
	})
}

// TestLateBeaconsChangeNoEvent inserts random late beacons into random
// in-order streams: the events, the measurements of the in-order beacons and
// the final state (but for the last applied Seq) must not change.
func TestLateBeaconsChangeNoEvent(t *testing.T) {
	structures := []beat{{normal, mesh}, {bigger, mesh}, {normal, rewired}, {bigger, nil}, {normal, nil}, {zero, typicalGraph()}}
	totalLate, totalEvents := 0, 0
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 6))
		p := DefaultParams()
		p.Confirm = 1 + r.IntN(3)
		if r.IntN(2) == 0 {
			p.Cooldown = 90 * time.Second
		}
		cur := structures[0]
		var plain, mixed []Input
		for i := range 40 {
			if r.IntN(4) == 0 {
				cur = structures[r.IntN(len(structures))]
			}
			in := input(i, cur)
			in.Seq = uint64(10 * (i + 1))
			if i > 0 && r.IntN(3) == 0 {
				in.TS = plain[i-1].TS // equal times are in order
			}
			plain = append(plain, in)
			mixed = append(mixed, in)
			for j := 0; i > 0 && j < r.IntN(3); j++ {
				// Stamped before this beacon, delivered after it.
				late := input(i, structures[r.IntN(len(structures))])
				late.EventID += fmt.Sprintf("-late%d", j)
				late.TS = in.TS.Add(-time.Duration(1 + r.Int64N(int64(i)*int64(30*time.Second))))
				late.Seq = in.Seq + uint64(1+j)
				mixed = append(mixed, late)
			}
		}
		a, b := NewTracker(p), NewTracker(p)
		var evA, evB []*Event
		var mA, mB []Measurement
		for _, in := range plain {
			m, ev, _ := a.Step("k", in)
			mA = append(mA, m)
			if ev != nil {
				evA = append(evA, ev)
			}
		}
		for _, in := range mixed {
			m, ev, applied := b.Step("k", in)
			isLate := in.Seq%10 != 0
			if !applied || m.Late != isLate {
				t.Fatalf("seed %d: %s applied %v, late %v", seed, in.EventID, applied, m.Late)
			}
			if isLate {
				totalLate++
				continue
			}
			mB = append(mB, m)
			if ev != nil {
				evB = append(evB, ev)
			}
		}
		totalEvents += len(evA)
		if !reflect.DeepEqual(evA, evB) || !reflect.DeepEqual(mA, mB) {
			t.Fatalf("seed %d: late beacons changed the outcome: %d events without them, %d with", seed, len(evA), len(evB))
		}
		sa, _ := a.Snapshot("k")
		sb, _ := b.Snapshot("k")
		if !bytes.Equal(withoutSeq(sa), withoutSeq(sb)) {
			t.Fatalf("seed %d: late beacons changed the final state", seed)
		}
	}
	if totalLate < 1000 || totalEvents < 200 {
		t.Fatalf("too tame: %d late beacons, %d events", totalLate, totalEvents)
	}
}

func TestStateStaysSmall(t *testing.T) {
	// 160 bytes is a malloc size class: the state of a key takes exactly one
	// small allocation, plus its graph, key and streak id.
	if s := reflect.TypeFor[state]().Size(); s > 160 {
		t.Fatalf("state is %d bytes, more than 160", s)
	}
}

// A beacon that reaches the stream again under a new position (re-sent
// inside another batch) is recognised by its event id when it is its key's
// newest: it neither extends a streak nor fires an event. Without the rule,
// one drifted beacon sent twice would confirm a drift with Confirm 2.
func TestResentNewestBeaconChangesNothing(t *testing.T) {
	p := DefaultParams()
	p.Confirm = 2
	tr := NewTracker(p)
	tr.Step("k", input(0, beat{counts: normal}))
	tr.Step("k", input(1, beat{counts: normal}))
	drifted := input(2, beat{counts: bigger})
	if m, ev, applied := tr.Step("k", drifted); !applied || !m.Drifted || ev != nil {
		t.Fatalf("first drifted beacon: %+v %v %v", m, ev, applied)
	}
	before, _ := tr.Snapshot("k")
	again := drifted
	again.Seq = 10 // the same beacon, stored again further on
	if m, ev, applied := tr.Step("k", again); applied || ev != nil || m != (Measurement{}) {
		t.Fatalf("re-sent beacon: %+v %v applied=%v; want it ignored", m, ev, applied)
	}
	if after, _ := tr.Snapshot("k"); !bytes.Equal(before, after) {
		t.Fatal("a re-sent beacon changed the state")
	}
	// The next distinct drifted beacon confirms the streak as usual.
	next := input(3, beat{counts: bigger})
	next.Seq = 11
	if _, ev, _ := tr.Step("k", next); ev == nil || ev.Streak != 2 {
		t.Fatalf("the second distinct drifted beacon must fire with streak 2, got %+v", ev)
	}
}
