package coherence_test

import (
	"fmt"

	"github.com/rtt-dev/rtt/pkg/coherence"
)

func ExampleValidate() {
	fanout := 1
	in := coherence.Input{
		SystemMap: coherence.SystemMap{Nodes: 128, Services: []string{"auth", "api", "db"}},
		Flows:     []coherence.Flow{{From: "api", To: "db"}, {From: "api", To: "cache"}},
		Constraints: []coherence.Constraint{
			{Type: coherence.TypeMaxFanout, Value: &fanout},
		},
	}
	if err := coherence.ValidateInput(in); err != nil {
		fmt.Println(err)
		return
	}
	r := coherence.Validate(in)
	fmt.Printf("coherent=%v score=%.4f isolated=%v\n", r.Coherent, r.Score, r.Isolated)
	for _, v := range r.Violations {
		fmt.Printf("%s: %s\n", v.Rule, v.Reason)
	}
	// Output:
	// coherent=false score=0.5000 isolated=[auth]
	// unknown_service: service "cache" is not in system_map.services
	// max_fanout: service "api" calls 2 services, max_fanout is 1
}
