package replay

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derived"
	"github.com/rtt-dev/rtt/pkg/drift"
)

// items returns a small slice: two sites, heartbeats every 5 s, site a's
// structure grows by half at beacon 10, and every fifth beacon carries a
// flow.
func items(t *testing.T) []Item {
	t.Helper()
	start := time.Date(2026, 1, 19, 10, 0, 0, 0, time.UTC)
	var out []Item
	seq := uint64(0)
	for i := range 20 {
		for _, site := range []string{"a", "b"} {
			seq++
			nodes := 100
			if site == "a" && i >= 10 {
				nodes = 150
			}
			flows := ""
			if i%5 == 4 {
				flows = `,"flows":[{"path":["ingress","api","db"],"latency_ms":12.5},{"path":["ingress","db"],"latency_ms":80}]`
			}
			ts := start.Add(time.Duration(i) * 5 * time.Second)
			payload := fmt.Sprintf(`{"site":%q,"session":"s","event":"cluster_heartbeat","ts":%q%s,"structure":{"url":"internal://cluster","title":"t","nav_count":4,"main_count":10,"form_count":2,"button_count":3,"dom_nodes":%d}}`,
				site, ts.Format(time.RFC3339), flows, nodes)
			it := Item{EventID: fmt.Sprintf("e-%s-%02d", site, i), Received: ts.Add(300 * time.Millisecond), Seq: seq, Payload: []byte(payload)}
			it.decode()
			if it.Err != nil {
				t.Fatal(it.Err)
			}
			out = append(out, it)
		}
	}
	return out
}

type collect struct {
	drifts []derived.Drift
	aligns []derived.Alignment
}

func (c *collect) Drift(r derived.Drift) error         { c.drifts = append(c.drifts, r); return nil }
func (c *collect) Alignment(r derived.Alignment) error { c.aligns = append(c.aligns, r); return nil }

func testParams() Params {
	return Params{Drift: drift.DefaultParams(), CorridorAlpha: corridor.DefaultAlpha, Corridors: Corridors{
		AnySite: {{Name: "read", Path: []string{"ingress", "api", "db"}, BudgetMS: 50}},
	}}
}

func analyze(t *testing.T, runID string, p Params) (*Analyzer, *collect) {
	t.Helper()
	var c collect
	an := NewAnalyzer(runID, p, &c)
	for _, it := range items(t) {
		if err := an.Step(&it); err != nil {
			t.Fatal(err)
		}
	}
	return an, &c
}

func TestAnalyzerFindsTheChange(t *testing.T) {
	an, c := analyze(t, "run-1", testParams())
	if len(c.drifts) != 1 {
		t.Fatalf("drift events %+v, want one", c.drifts)
	}
	d := c.drifts[0]
	if d.Site != "a" || d.Scope != "internal://cluster" || d.EventID != "e-a-11" || d.FirstEventID != "e-a-10" || d.RunID != "run-1" ||
		d.DriftID != derived.DriftID("run-1", "a", "internal://cluster", "e-a-11") {
		t.Errorf("drift event %+v", d)
	}
	if want := time.Date(2026, 1, 19, 10, 0, 55, 0, time.UTC); !d.DetectedAt.Equal(want) {
		t.Errorf("detected at %v, want the confirming beacon's arrival at whole seconds %v", d.DetectedAt, want)
	}
	if len(c.aligns) != 16 {
		t.Fatalf("%d alignment records, want 16", len(c.aligns))
	}
	on, matched := 0, 0
	for _, a := range c.aligns {
		if a.Matched {
			matched++
		}
		if a.OnCorridor {
			on++
		}
	}
	if matched != 16 || on != 8 {
		t.Errorf("matched %d, on corridor %d; want 16 and 8", matched, on)
	}
	if last := c.aligns[len(c.aligns)-1]; last.Total != 8 || last.OnTotal != 4 {
		t.Errorf("running counts of the last record %d/%d, want 4/8", last.OnTotal, last.Total)
	}
	if dr, al := an.Counts(); dr != 1 || al != 16 {
		t.Errorf("Counts = %d, %d", dr, al)
	}
	if s := an.SitesSeen(); fmt.Sprint(s) != "[a b]" {
		t.Errorf("SitesSeen = %v", s)
	}
}

func TestDigest(t *testing.T) {
	a1, _ := analyze(t, "run-1", testParams())
	a2, _ := analyze(t, "run-2", testParams())
	if a1.Digest() != a2.Digest() {
		t.Errorf("the same slice and parameters under two run ids: %s and %s", a1.Digest(), a2.Digest())
	}
	p := testParams()
	p.Drift.Threshold = 0.6
	a3, c3 := analyze(t, "run-3", p)
	if len(c3.drifts) != 0 || a3.Digest() == a1.Digest() {
		t.Errorf("threshold 0.6: %d drift events, digest %s (0.25: %s)", len(c3.drifts), a3.Digest(), a1.Digest())
	}
	p = testParams()
	p.Corridors = p.Corridors.mustBudgets(t, map[string]float64{"read": 10})
	if a4, _ := analyze(t, "run-4", p); a4.Digest() == a1.Digest() {
		t.Error("another corridor budget gives the same digest")
	}
	if empty := NewDigest().Sum(); empty != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("digest of nothing %s", empty)
	}
}

func (c Corridors) mustBudgets(t *testing.T, b map[string]float64) Corridors {
	t.Helper()
	out, err := c.WithBudgets(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDigestGolden pins the digest's definition: a change of it makes
// digests of old runs incomparable with new ones, so it must be deliberate.
func TestDigestGolden(t *testing.T) {
	d := NewDigest()
	ts := time.Date(2026, 1, 19, 10, 0, 0, 0, time.UTC)
	if err := d.Drift(derived.Drift{DriftID: "ignored", RunID: "ignored", Site: "a", Scope: "s", Cluster: "a", DetectedAt: time.Now(),
		Event: drift.Event{EventID: "e2", FirstEventID: "e1", TS: ts, FirstTS: ts.Add(-time.Second), Magnitude: 0.5, Streak: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Alignment(derived.Alignment{RecordID: "ignored", RunID: "ignored", Site: "a", TS: ts, Source: "beacon", SourceEventID: "e2",
		Path: []string{"x", "y"}, RunningScore: 1, Total: 1, OnTotal: 1,
		Alignment: corridor.Alignment{Corridor: "read", Matched: true, OnCorridor: true, PathMatch: true, DeviatingHops: []corridor.Hop{}, LatencyMS: 1, BudgetMS: 2, LatencyRatio: 0.5, WithinBudget: true, Score: 1}}); err != nil {
		t.Fatal(err)
	}
	const want = "sha256:1a317502fa81725282d52688f67f5f784742b751aa69eef943232b6585063588"
	if got := d.Sum(); got != want {
		t.Errorf("golden digest %s, want %s", got, want)
	}
}

func TestParamsValidateNamesTheFlag(t *testing.T) {
	p := testParams()
	p.Drift.Threshold = 0
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "-drift-threshold") {
		t.Errorf("threshold 0: %v", err)
	}
	p = testParams()
	p.CorridorAlpha = 2
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "-corridor-alpha") {
		t.Errorf("corridor alpha 2: %v", err)
	}
}
