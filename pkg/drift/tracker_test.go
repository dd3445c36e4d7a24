package drift

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var (
	normal = [NumCounts]float64{3, 1, 2, 10, 500}
	bigger = [NumCounts]float64{3, 1, 2, 10, 800} // dom_nodes +60 %
	zero   = [NumCounts]float64{}                 // the guide's heartbeat
	button = [NumCounts]float64{0, 0, 0, 1, 0}
)

func TestStep(t *testing.T) {
	// noise stays within ±6 % of dom_nodes and ±1 button: magnitude ≤ 0.12.
	var noise []beat
	for i := range 60 {
		c := normal
		c[DomNodes] += float64((i*7)%61 - 30)
		c[ButtonCount] += float64(i%3 - 1)
		noise = append(noise, beat{counts: c, graph: mesh})
	}
	// trend grows dom_nodes by 1 % of its start per beacon.
	var trend []beat
	for i := range 50 {
		c := normal
		c[DomNodes] += float64(5 * i)
		trend = append(trend, beat{counts: c})
	}
	confirm := func(n int) Params { p := DefaultParams(); p.Confirm = n; return p }

	tests := []struct {
		name        string
		params      Params
		beats       []beat
		wantDrifted []int
		wantEvents  []int
	}{
		{
			name:        "step change fires once after Confirm beacons",
			beats:       concat(repeat(3, beat{counts: normal}), repeat(5, beat{counts: bigger})),
			wantDrifted: []int{3, 4},
			wantEvents:  []int{4},
		},
		{
			name:        "Confirm 3 waits for the third drifted beacon",
			params:      confirm(3),
			beats:       concat(repeat(3, beat{counts: normal}), repeat(5, beat{counts: bigger})),
			wantDrifted: []int{3, 4, 5},
			wantEvents:  []int{5},
		},
		{
			name:        "Confirm 1 fires on the first drifted beacon",
			params:      confirm(1),
			beats:       concat(repeat(3, beat{counts: normal}), repeat(5, beat{counts: bigger})),
			wantDrifted: []int{3},
			wantEvents:  []int{3},
		},
		{
			name: "flapping never fires",
			beats: []beat{
				{counts: normal}, {counts: bigger}, {counts: normal}, {counts: bigger},
				{counts: normal}, {counts: bigger}, {counts: normal},
			},
			wantDrifted: []int{1, 3, 5},
		},
		{
			name:  "noise below the threshold never drifts",
			beats: noise,
		},
		{
			name:  "a slow trend is absorbed by the baseline",
			beats: trend,
		},
		{
			name:        "all-zero heartbeats are stable and one new button drifts",
			beats:       concat(repeat(5, beat{counts: zero}), repeat(3, beat{counts: button})),
			wantDrifted: []int{5, 6},
			wantEvents:  []int{6},
		},
		{
			name:        "topology rewiring with equal counts fires",
			beats:       concat(repeat(3, beat{normal, mesh}), repeat(3, beat{normal, rewired})),
			wantDrifted: []int{3, 4},
			wantEvents:  []int{4},
		},
		{
			name: "beacons without a graph neither confirm nor end a topology streak",
			beats: []beat{
				{normal, mesh}, {normal, mesh}, {normal, mesh},
				{normal, rewired}, {normal, nil}, {normal, rewired}, {normal, nil},
			},
			wantDrifted: []int{3, 5},
			wantEvents:  []int{5},
		},
		{
			name: "beacons without a graph end a streak of count drift",
			beats: []beat{
				{normal, mesh}, {normal, mesh}, {normal, mesh},
				{bigger, mesh}, {normal, nil}, {bigger, mesh}, {normal, nil},
			},
			wantDrifted: []int{3, 5},
		},
		{
			name: "a graph that appears later becomes the baseline graph",
			beats: []beat{
				{normal, nil}, {normal, nil}, {normal, mesh},
				{normal, rewired}, {normal, rewired}, {normal, rewired},
			},
			wantDrifted: []int{3, 4},
			wantEvents:  []int{4},
		},
		{
			name:        "going back to the old structure is a change too",
			beats:       concat(repeat(2, beat{counts: normal}), repeat(3, beat{counts: bigger}), repeat(3, beat{counts: normal})),
			wantDrifted: []int{2, 3, 5, 6},
			wantEvents:  []int{3, 6},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.params
			if p == (Params{}) {
				p = DefaultParams()
			}
			ms, evs := run(t, p, tc.beats)
			var drifted, events []int
			for i, m := range ms {
				if m.Drifted {
					drifted = append(drifted, i)
				}
				if evs[i] != nil {
					events = append(events, i)
				}
			}
			if !slices.Equal(drifted, tc.wantDrifted) {
				t.Errorf("drifted beacons %v, want %v", drifted, tc.wantDrifted)
			}
			if !slices.Equal(events, tc.wantEvents) {
				t.Errorf("events at %v, want %v", events, tc.wantEvents)
			}
		})
	}
}

func TestStepChangeEvent(t *testing.T) {
	_, evs := run(t, DefaultParams(), concat(repeat(3, beat{normal, mesh}), repeat(2, beat{bigger, rewired})))
	want := &Event{
		EventID:      "b-4",
		FirstEventID: "b-3",
		TS:           t0.Add(4 * 30 * time.Second),
		FirstTS:      t0.Add(3 * 30 * time.Second),
		Magnitude:    math.Sqrt(0.6*0.6 + (1-1.0/6)*(1-1.0/6)),
		Vector:       Vector{DomNodes: 0.6, Topology: 1 - 1.0/6},
		Baseline:     normal,
		Observed:     bigger,
		Streak:       2,
		EdgesAdded:   2, // ingress->auth, auth->api
		EdgesRemoved: 3, // ingress->api, api->auth, auth->db
	}
	if got := evs[4]; !reflect.DeepEqual(got, want) {
		t.Fatalf("event\n got %+v\nwant %+v", got, want)
	}
}

func TestEventNodeDiff(t *testing.T) {
	grown := map[string][]string{
		"ingress": {"api"},
		"api":     {"auth", "db", "cache"},
		"auth":    {"db"},
		"cache":   {"db"},
		"db":      {},
	}
	shrunk := map[string][]string{"ingress": {"api"}, "api": {}}
	p := DefaultParams()
	p.Confirm = 1
	_, evs := run(t, p, []beat{{normal, mesh}, {normal, grown}, {normal, shrunk}})
	if e := evs[1]; e == nil || e.NodesAdded != 1 || e.NodesRemoved != 0 || e.EdgesAdded != 2 || e.EdgesRemoved != 0 {
		t.Errorf("growing event %+v, want 1 node and 2 edges added", e)
	}
	if e := evs[2]; e == nil || e.NodesAdded != 0 || e.NodesRemoved != 3 || e.EdgesAdded != 0 || e.EdgesRemoved != 5 {
		t.Errorf("shrinking event %+v, want 3 nodes and 5 edges removed", e)
	}
}

func TestBaselineFollowsNormalBeacons(t *testing.T) {
	tr := NewTracker(DefaultParams())
	tr.Step("k", input(0, beat{counts: normal}))
	c := normal
	c[DomNodes] = 600 // +20 %: not drifted, so it moves the baseline by Alpha
	m, _, _ := tr.Step("k", input(1, beat{counts: c}))
	if m.Drifted || m.Vector.DomNodes != 0.2 {
		t.Fatalf("measurement %+v, want dom_nodes 0.2 and not drifted", m)
	}
	if got := tr.keys["k"].base[DomNodes]; got != 505 {
		t.Fatalf("baseline dom_nodes %v, want 500 + 0.05·100 = 505", got)
	}
}

func TestRedeliveryIgnored(t *testing.T) {
	tr := NewTracker(DefaultParams())
	for i := range 4 {
		tr.Step("k", input(i, beat{counts: normal}))
	}
	drifted := input(4, beat{counts: bigger})
	if m, ev, applied := tr.Step("k", drifted); !applied || !m.Drifted || ev != nil {
		t.Fatalf("first delivery: applied %v, %+v, event %v", applied, m, ev)
	}
	tr.ClearDirty()
	before, _ := tr.Snapshot("k")

	// A redelivery of the drifted beacon must not count as the second
	// drifted beacon of the streak, and an older beacon must not apply.
	for _, in := range []Input{drifted, input(2, beat{counts: bigger})} {
		m, ev, applied := tr.Step("k", in)
		if applied || ev != nil || m != (Measurement{}) {
			t.Fatalf("Seq %d: applied %v, %+v, event %v; want nothing", in.Seq, applied, m, ev)
		}
	}
	if after, _ := tr.Snapshot("k"); !bytes.Equal(before, after) {
		t.Fatal("a redelivery changed the state")
	}
	if d := tr.Dirty(); len(d) != 0 {
		t.Fatalf("a redelivery made %v dirty", d)
	}
	if _, ev, _ := tr.Step("k", input(5, beat{counts: bigger})); ev == nil {
		t.Fatal("the next new drifted beacon did not confirm the streak")
	}
}

func TestCooldown(t *testing.T) {
	// Beacons every 30 s; a step change at 3 fires at 4. Another at 6 would
	// confirm at 7, 90 s after the first event.
	beats := concat(
		repeat(3, beat{counts: normal}),
		repeat(3, beat{counts: bigger}),
		repeat(6, beat{counts: normal}),
	)
	tests := []struct {
		cooldown   time.Duration
		wantEvents []int
		wantStreak int // of the second event
	}{
		{0, []int{4, 7}, 2},
		{90 * time.Second, []int{4, 7}, 2},
		{91 * time.Second, []int{4, 8}, 3},
		{150 * time.Second, []int{4, 9}, 4},
		{time.Hour, []int{4}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.cooldown.String(), func(t *testing.T) {
			p := DefaultParams()
			p.Cooldown = tc.cooldown
			_, evs := run(t, p, beats)
			var got []int
			for i := range beats {
				if evs[i] != nil {
					got = append(got, i)
				}
			}
			if !slices.Equal(got, tc.wantEvents) {
				t.Fatalf("events at %v, want %v", got, tc.wantEvents)
			}
			if len(got) > 1 {
				e := evs[got[1]]
				// A held-back change is reported against the baseline before
				// it, from the first beacon of the change.
				if e.Streak != tc.wantStreak || e.FirstEventID != "b-6" || e.Baseline != bigger || e.Observed != normal {
					t.Fatalf("second event %+v", e)
				}
			}
		})
	}
}

func TestCooldownEventTimeBeforeLastEvent(t *testing.T) {
	p := DefaultParams()
	p.Confirm = 1
	p.Cooldown = time.Minute
	tr := NewTracker(p)
	tr.Step("k", input(0, beat{counts: normal}))
	if _, ev, _ := tr.Step("k", input(1, beat{counts: bigger})); ev == nil {
		t.Fatal("no first event")
	}
	late := input(2, beat{counts: normal})
	late.TS = t0.Add(-time.Hour) // delivered later, stamped earlier
	if _, ev, _ := tr.Step("k", late); ev != nil {
		t.Fatalf("event %+v stamped before the previous one passed the cooldown", ev)
	}
}

func TestDirty(t *testing.T) {
	tr := NewTracker(DefaultParams())
	for i, k := range []string{"c", "a", "b", "a"} {
		tr.Step(k, input(i, beat{counts: normal}))
	}
	if got := tr.Dirty(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Dirty %v", got)
	}
	snap, _ := tr.Snapshot("a")
	tr.ClearDirty()
	if got := tr.Dirty(); len(got) != 0 {
		t.Fatalf("Dirty after ClearDirty %v", got)
	}
	tr.Step("b", input(9, beat{counts: normal}))
	if err := tr.Load("d", snap); err != nil {
		t.Fatal(err)
	}
	if got := tr.Dirty(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Dirty %v, want [b] (Load does not dirty)", got)
	}
	if tr.Len() != 4 || !tr.Has("d") || tr.Has("e") {
		t.Fatalf("Len %d, Has(d) %v, Has(e) %v", tr.Len(), tr.Has("d"), tr.Has("e"))
	}
}

func TestKeysAreCopied(t *testing.T) {
	// The caller's strings may point into a message buffer that is reused.
	buf := []byte("site\x00scope")
	id := []byte("b-1")
	p := DefaultParams()
	p.Confirm = 3
	tr := NewTracker(p)
	tr.Step(unsafe.String(&buf[0], len(buf)), input(0, beat{counts: normal}))
	in := input(1, beat{counts: bigger})
	in.EventID = unsafe.String(&id[0], len(id))
	tr.Step(unsafe.String(&buf[0], len(buf)), in)
	copy(buf, "XXXX")
	copy(id, "XXX")
	st := tr.keys["site\x00scope"]
	if st == nil || st.key != "site\x00scope" || st.firstID != "b-1" || tr.Dirty()[0] != "site\x00scope" {
		t.Fatalf("state %+v, Dirty %q: a string of the caller was kept", st, tr.Dirty())
	}
}

func TestBadCountsAreClamped(t *testing.T) {
	tr := NewTracker(DefaultParams())
	tr.Step("k", input(0, beat{counts: [NumCounts]float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, 5}}))
	for i := range 3 {
		tr.Step("k", input(i+1, beat{counts: normal}))
	}
	for i, b := range tr.keys["k"].base {
		if math.IsNaN(b) || math.IsInf(b, 0) || math.Abs(b) > MaxCount {
			t.Fatalf("baseline %s is %v", CountNames[i], b)
		}
	}
	if _, ok := tr.Snapshot("k"); !ok {
		t.Fatal("no snapshot")
	}
}

func TestFeaturesValidate(t *testing.T) {
	if err := (Features{Counts: normal, Graph: mesh}).Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		counts [NumCounts]float64
		field  string
	}{
		{[NumCounts]float64{math.NaN(), 0, 0, 0, 0}, "nav_count"},
		{[NumCounts]float64{0, math.Inf(1), 0, 0, 0}, "main_count"},
		{[NumCounts]float64{0, 0, 0, 0, 2e15}, "dom_nodes"},
	}
	for _, tc := range tests {
		err := Features{Counts: tc.counts}.Validate()
		if !errors.Is(err, ErrInvalidFeatures) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate(%v) = %v, want an error naming %s", tc.counts, err, tc.field)
		}
	}
}
