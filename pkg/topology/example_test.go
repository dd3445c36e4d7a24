package topology_test

import (
	"fmt"

	"github.com/rtt-dev/rtt/pkg/topology"
)

func ExampleDecompose() {
	graph := map[string][]string{"auth": {"api"}, "api": {"db"}, "db": {}}
	if err := topology.ValidateGraph(graph); err != nil {
		fmt.Println(err)
		return
	}
	r := topology.Decompose(graph)
	fmt.Println("layers:", r.Layers)
	fmt.Println("entry:", r.Tiers.Entry, "foundation:", r.Tiers.Foundation)
	fmt.Println("articulation points:", r.Critical.ArticulationPoints)
	fmt.Println("longest chain:", r.LongestChain)
	// Output:
	// layers: [[db] [api] [auth]]
	// entry: [auth] foundation: [db]
	// articulation points: [api]
	// longest chain: [auth api db]
}
