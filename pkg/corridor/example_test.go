package corridor_test

import (
	"fmt"

	"github.com/rtt-dev/rtt/pkg/corridor"
)

func ExampleAlign() {
	corridors := []corridor.Corridor{
		{Name: "api-read", Path: []string{"ingress", "api", "db"}, BudgetMS: 20},
	}
	flow := corridor.Flow{Path: []string{"ingress", "lb", "api", "db"}, LatencyMS: 25}

	a := corridor.Align(corridors, flow)
	fmt.Printf("corridor=%s on_corridor=%v within_budget=%v score=%.2f\n",
		a.Corridor, a.OnCorridor, a.WithinBudget, a.Score)
	for _, h := range a.DeviatingHops {
		fmt.Printf("hop %d: %s %q\n", h.Index, h.Kind, h.Observed)
	}
	// Output:
	// corridor=api-read on_corridor=false within_budget=false score=0.60
	// hop 1: extra "lb"
}

func ExampleScores() {
	scores := corridor.NewScores(0.5)
	corridors := []corridor.Corridor{
		{Name: "api-read", Path: []string{"ingress", "api", "db"}, BudgetMS: 20},
	}
	flows := []corridor.Flow{
		{Path: []string{"ingress", "api", "db"}, LatencyMS: 12},
		{Path: []string{"ingress", "api", "db"}, LatencyMS: 40},
	}
	for i, f := range flows {
		a := corridor.Align(corridors, f)
		running, total, on, _ := scores.Observe("datacenter-east/"+a.Corridor, uint64(i+1), a)
		fmt.Printf("running=%.2f total=%d on=%d\n", running, total, on)
	}
	// A redelivered message (same stream sequence) changes nothing.
	_, _, _, applied := scores.Observe("datacenter-east/api-read", 2, corridor.Alignment{})
	fmt.Println("applied:", applied)
	// Output:
	// running=1.00 total=1 on=1
	// running=0.75 total=2 on=1
	// applied: false
}
