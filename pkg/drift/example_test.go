package drift_test

import (
	"fmt"
	"time"

	"github.com/rtt-dev/rtt/pkg/drift"
)

// A cluster sends a heartbeat every 30 seconds. A deployment adds a cache
// and grows the structure; the second beacon after it confirms the drift,
// and the new structure becomes the baseline. This is the worked example of
// docs/drift.md.
func ExampleTracker() {
	tr := drift.NewTracker(drift.DefaultParams())
	key := "datacenter-east" + "\x00" + "internal://cluster"

	before := map[string][]string{
		"ingress": {"api"},
		"api":     {"auth", "db"},
		"auth":    {"db"},
	}
	after := map[string][]string{
		"ingress": {"api"},
		"api":     {"auth", "db", "cache"},
		"auth":    {"db"},
		"cache":   {"db"},
	}
	beacons := []drift.Features{
		{Counts: [5]float64{4, 2, 1, 12, 800}, Graph: before},
		{Counts: [5]float64{4, 2, 1, 12, 816}, Graph: before},
		{Counts: [5]float64{4, 2, 1, 15, 1040}, Graph: after}, // the deployment
		{Counts: [5]float64{4, 2, 1, 15, 1040}, Graph: after},
		{Counts: [5]float64{4, 2, 1, 15, 1040}, Graph: after},
	}
	start := time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)
	for i, f := range beacons {
		in := drift.Input{
			EventID:  fmt.Sprintf("b-%d", i+1),
			TS:       start.Add(time.Duration(i) * 30 * time.Second),
			Seq:      uint64(100 + i),
			Features: f,
		}
		m, ev, _ := tr.Step(key, in)
		fmt.Printf("%s magnitude %.4f drifted %v\n", in.EventID, m.Magnitude, m.Drifted)
		if ev != nil {
			fmt.Printf("  event %s (first %s, streak %d): button %+.4f dom %+.4f topology %.4f, +%d nodes +%d edges\n",
				ev.EventID, ev.FirstEventID, ev.Streak, ev.Vector.Button, ev.Vector.DomNodes, ev.Vector.Topology, ev.NodesAdded, ev.EdgesAdded)
			fmt.Printf("  baseline %v -> %v\n", ev.Baseline, ev.Observed)
		}
	}
	// A redelivery of a beacon already applied changes nothing.
	_, _, applied := tr.Step(key, drift.Input{EventID: "b-5", Seq: 104, Features: beacons[4]})
	fmt.Println("redelivery applied:", applied)
	// Output:
	// b-1 magnitude 0.0000 drifted false
	// b-2 magnitude 0.0200 drifted false
	// b-3 magnitude 0.5127 drifted true
	// b-4 magnitude 0.5127 drifted true
	//   event b-4 (first b-3, streak 2): button +0.2500 dom +0.2987 topology 0.3333, +1 nodes +2 edges
	//   baseline [4 2 1 12 800.8] -> [4 2 1 15 1040]
	// b-5 magnitude 0.0000 drifted false
	// redelivery applied: false
}
