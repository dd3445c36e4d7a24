package derive_test

import (
	"fmt"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/derive"
	"github.com/rtt-dev/rtt/pkg/drift"
)

// A drift detector fed through derive gives the records the drift service
// publishes.
func Example() {
	tr := drift.NewTracker(drift.DefaultParams())
	for i, nodes := range []int{100, 100, 160, 160} {
		b, _ := beacon.FromStored(fmt.Appendf(nil, `{"site":"dc-01","session":"s","event":"cluster_heartbeat","ts":"2026-01-19T10:00:0%dZ",
			"structure":{"url":"internal://cluster","title":"t","nav_count":4,"main_count":12,"form_count":2,"button_count":3,"dom_nodes":%d}}`, i, nodes))
		id := fmt.Sprintf("b-%d", i)
		_, ev, _ := tr.Step(derive.DriftKey(b.Site, b.KeyScope()), derive.DriftInput(b, id, uint64(i+1)))
		if ev != nil {
			rec := derive.DriftRecord("", b, *ev, time.Time{})
			fmt.Printf("%s %s: magnitude %.2f, confirmed by %s, started at %s\n", rec.Site, rec.Scope, rec.Magnitude, rec.EventID, rec.FirstEventID)
		}
	}
	// Output: dc-01 internal://cluster: magnitude 0.60, confirmed by b-3, started at b-2
}
