package drift

import (
	"fmt"
	"testing"
	"time"
)

// t0 is the time of the guide's heartbeat example; beacons of a test come
// every 30 seconds after it.
var t0 = time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)

// Graphs used by the tests. rewired has the nodes and the counts of mesh but
// a different wiring.
var (
	mesh = map[string][]string{
		"ingress": {"api"},
		"api":     {"auth", "db"},
		"auth":    {"db"},
		"db":      {},
	}
	rewired = map[string][]string{
		"ingress": {"auth"},
		"auth":    {"api"},
		"api":     {"db"},
		"db":      {},
	}
)

// typicalGraph is the beacon size the memory budget is stated for: 10 nodes
// and 15 edges.
func typicalGraph() map[string][]string {
	g := make(map[string][]string, 10)
	for i := range 10 {
		from := fmt.Sprintf("svc-%d", i)
		g[from] = append(g[from], fmt.Sprintf("svc-%d", (i+1)%10))
		if i < 5 {
			g[from] = append(g[from], fmt.Sprintf("svc-%d", (i+3)%10))
		}
	}
	return g
}

// beat is one beacon of a test scenario; its id, time and Seq follow from
// its position.
type beat struct {
	counts [NumCounts]float64
	graph  map[string][]string
}

func input(i int, b beat) Input {
	return Input{
		EventID:  fmt.Sprintf("b-%d", i),
		TS:       t0.Add(time.Duration(i) * 30 * time.Second),
		Seq:      uint64(i + 1),
		Features: Features{Counts: b.counts, Graph: b.graph},
	}
}

// run steps one key through beats and returns every measurement and the
// events by beat index.
func run(t *testing.T, p Params, beats []beat) ([]Measurement, map[int]*Event) {
	t.Helper()
	tr := NewTracker(p)
	ms := make([]Measurement, len(beats))
	evs := make(map[int]*Event)
	for i, b := range beats {
		m, ev, applied := tr.Step("site\x00scope", input(i, b))
		if !applied {
			t.Fatalf("beat %d not applied", i)
		}
		ms[i] = m
		if ev != nil {
			evs[i] = ev
		}
	}
	return ms, evs
}

// repeat returns n copies of b.
func repeat(n int, b beat) []beat {
	out := make([]beat, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func concat(parts ...[]beat) []beat {
	var out []beat
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
