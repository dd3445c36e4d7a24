package derive_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derive"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/drift"
)

func stored(t *testing.T, payload string) *beacon.Beacon {
	t.Helper()
	b, err := beacon.FromStored([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKeys(t *testing.T) {
	// The live services' KV keys: changing them orphans stored state.
	if got, want := derive.DriftKey("dc-01", "internal://cluster"), base64.RawURLEncoding.EncodeToString([]byte("dc-01\x00internal://cluster")); got != want {
		t.Errorf("DriftKey = %s, want %s", got, want)
	}
	if got, want := derive.ScoreKey("dc-01", "read"), base64.RawURLEncoding.EncodeToString([]byte("dc-01\x00read")); got != want {
		t.Errorf("ScoreKey = %s, want %s", got, want)
	}
	if got := derive.ScoreSeq(7, 3); got != 7<<10|3 {
		t.Errorf("ScoreSeq(7, 3) = %d", got)
	}
}

func TestDriftRecord(t *testing.T) {
	b := stored(t, `{"site":"dc-01","session":"s","event":"e","ts":"2026-01-19T10:00:00.5+01:00","labels":{"cluster":"east"},"topology":{"a":["b"]},
		"structure":{"url":"internal://cluster","title":"t","nav_count":1,"main_count":2,"form_count":3,"button_count":4,"dom_nodes":5}}`)
	in := derive.DriftInput(b, "e-1", 42)
	if in.EventID != "e-1" || in.Seq != 42 || !in.TS.Equal(time.Date(2026, 1, 19, 9, 0, 0, 5e8, time.UTC)) ||
		in.Features.Counts != [drift.NumCounts]float64{1, 2, 3, 4, 5} || len(in.Features.Graph["a"]) != 1 {
		t.Errorf("DriftInput = %+v", in)
	}
	at := time.Date(2026, 1, 19, 9, 0, 1, 0, time.UTC)
	rec := derive.DriftRecord("run", b, drift.Event{EventID: "e-1", Magnitude: 0.5}, at)
	want := derived.Drift{DriftID: derived.DriftID("run", "dc-01", "internal://cluster", "e-1"), RunID: "run", Site: "dc-01",
		Scope: "internal://cluster", Cluster: "east", DetectedAt: at, Event: drift.Event{EventID: "e-1", Magnitude: 0.5}}
	if rec.DriftID != want.DriftID || rec.Scope != want.Scope || rec.Cluster != want.Cluster || rec.Magnitude != 0.5 || !rec.DetectedAt.Equal(at) {
		t.Errorf("DriftRecord = %+v", rec)
	}
	if c := derive.Cluster(&beacon.Beacon{Site: "s"}); c != "s" {
		t.Errorf("Cluster without label = %q", c)
	}
}

func TestAlignment(t *testing.T) {
	b := stored(t, `{"site":"dc-01","session":"s","event":"flow_observed","ts":"2026-01-19T10:00:00Z",
		"flows":[{"path":["ingress","api","db"],"latency_ms":12},{"path":["ingress",""],"latency_ms":1,"corridor":"read"}],
		"structure":{"url":"u","title":"t","nav_count":0,"main_count":0,"form_count":0,"button_count":0,"dom_nodes":0}}`)
	cs := []corridor.Corridor{{Name: "read", Path: []string{"ingress", "api", "db"}, BudgetMS: 50}}
	a := derive.Alignment("", b, "e-9", 0, cs)
	if !a.Matched || !a.OnCorridor || a.RecordID != derived.AlignmentID("", "dc-01", "e-9", 0) || a.SourceEventID != "e-9" ||
		a.Source != "beacon" || a.FlowIndex != 0 || a.RunningScore != 0 {
		t.Errorf("aligned flow %+v", a)
	}
	bad := derive.Alignment("", b, "e-9", 1, cs) // an empty hop: invalid, recorded unmatched
	if bad.Matched || bad.Corridor != "read" || bad.LatencyMS != 1 || bad.DeviatingHops != nil {
		t.Errorf("invalid flow %+v", bad)
	}
}

func TestProfileCorridors(t *testing.T) {
	cs, err := derive.ProfileCorridors([]byte(`{"rtt_version":"1.0","corridors":[{"name":"read","path":["a","b"],"budget_ms":5}]}`))
	if err != nil || len(cs) != 1 || cs[0].Name != "read" {
		t.Errorf("ProfileCorridors = %v, %v", cs, err)
	}
	if cs, err := derive.ProfileCorridors([]byte(`{"rtt_version":"1.0"}`)); err != nil || cs != nil {
		t.Errorf("no corridors: %v, %v", cs, err)
	}
	if _, err := derive.ProfileCorridors([]byte(`{"corridors":[{"name":"x","path":["a"],"budget_ms":5}]}`)); !errors.Is(err, corridor.ErrInvalidCorridor) {
		t.Errorf("invalid corridors: %v", err)
	}
	if _, err := derive.ProfileCorridors([]byte(`not json`)); err == nil {
		t.Error("unreadable profile accepted")
	}
}
