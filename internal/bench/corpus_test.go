package bench

import (
	"context"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

func TestCorpusMakesValidUniqueBeacons(t *testing.T) {
	c, err := captureCorpus(context.Background(), 2000, 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mean size %.0f bytes, mix %v, %d profiles", c.MeanSize(), c.Mix(), len(c.profiles))
	if len(c.profiles) != 50 {
		t.Errorf("%d profiles, want 50", len(c.profiles))
	}
	set, err := schema.Compile(schemas.JSON())
	if err != nil {
		t.Fatal(err)
	}
	dec := beacon.NewDecoder(set)
	ts0 := time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)
	seen := map[string]bool{}
	for round := range 2 {
		for i, it := range c.Make(3000, ts0) {
			b, err := dec.Decode(it.Raw)
			if err != nil {
				t.Fatalf("round %d item %d: %v\n%s", round, i, err, it.Raw)
			}
			if b.EventID != it.ID || seen[b.EventID] {
				t.Fatalf("item %d: id %q, want new %q", i, b.EventID, it.ID)
			}
			seen[b.EventID] = true
			if want := ts0.Add(time.Duration(i) * time.Microsecond); !b.Time.Equal(want) {
				t.Fatalf("item %d: ts %v, want %v", i, b.Time, want)
			}
			if b.Subject() != it.Subject {
				t.Fatalf("item %d: subject %q, want %q", i, it.Subject, b.Subject())
			}
		}
	}
}
