package drift

import (
	"testing"
	"time"
)

func TestForgetDropsStateAndDirtyMark(t *testing.T) {
	tr := NewTracker(DefaultParams())
	in := Input{EventID: "e1", TS: time.Unix(100, 0), Seq: 1, Features: Features{Counts: [NumCounts]float64{1, 2, 3, 4, 5}}}
	tr.Step("a", in)
	tr.Step("b", in)
	tr.Forget("a")
	tr.Forget("missing")
	if tr.Has("a") || !tr.Has("b") || tr.Len() != 1 {
		t.Fatalf("after Forget: has a=%v b=%v len=%d", tr.Has("a"), tr.Has("b"), tr.Len())
	}
	if d := tr.Dirty(); len(d) != 1 || d[0] != "b" {
		t.Fatalf("dirty %v", d)
	}
	tr.ClearDirty() // must not touch the forgotten key
	if _, _, applied := tr.Step("a", in); !applied {
		t.Fatal("a forgotten key starts afresh and applies its first beacon")
	}
}
