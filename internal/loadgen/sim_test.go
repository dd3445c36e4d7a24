package loadgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/drift"
)

var testStart = time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)

func testConfig() Config {
	return Config{Sites: 6, Rate: 100, HeartbeatEvery: time.Second, Seed: 7, Start: testStart}.withDefaults()
}

func generate(cfg Config, n int) ([]client.Beacon, []Change) {
	g := newGenerator(cfg)
	var bs []client.Beacon
	var chs []Change
	for range n {
		b, ch := g.next()
		bs = append(bs, b)
		chs = append(chs, ch...)
	}
	return bs, chs
}

func TestSitesAreStableAndCorridorsFollowTheGraph(t *testing.T) {
	for i := range 50 {
		s := newSite(3, i, 50)
		again := newSite(3, i, 50)
		if fmt.Sprint(s.structure, s.graph, s.corridors) != fmt.Sprint(again.structure, again.graph, again.corridors) {
			t.Fatalf("site %d differs between two builds", i)
		}
		if other := newSite(3, i, 60); fmt.Sprint(other.structure) != fmt.Sprint(s.structure) {
			t.Fatalf("site %d depends on the number of sites", i)
		}
		if n := len(s.graph); n < 8 || n > 12 || s.structure.MainCount != int64(n) {
			t.Fatalf("site %d: %d services, main_count %d", i, n, s.structure.MainCount)
		}
		st := s.structure
		if st.NavCount < 8 || st.DomNodes < 16*st.NavCount || st.ButtonCount != int64(len(s.targets)) || st.FormCount < 6*st.MainCount {
			t.Fatalf("site %d: unrealistic structure %+v", i, st)
		}
		if len(s.corridors) < 2 || len(s.corridors) > 4 {
			t.Fatalf("site %d: %d corridors", i, len(s.corridors))
		}
		cs := make([]corridor.Corridor, len(s.corridors))
		for k, c := range s.corridors {
			cs[k] = corridor.Corridor(c)
			for h := 0; h+1 < len(c.Path); h++ {
				if !slices.Contains(s.graph[c.Path[h]], c.Path[h+1]) {
					t.Fatalf("site %d: corridor %s uses %s -> %s, not in the graph %v", i, c.Name, c.Path[h], c.Path[h+1], s.graph)
				}
			}
		}
		if err := corridor.ValidateCorridors(cs); err != nil {
			t.Fatalf("site %d: %v", i, err)
		}
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	cfg := testConfig()
	cfg.ChangeEvery = 3 * time.Second
	a, ca := generate(cfg, 2000)
	b, cb := generate(cfg, 2000)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || fmt.Sprint(ca) != fmt.Sprint(cb) {
		t.Fatal("the same seed gave different beacons")
	}
	cfg.Seed++
	c, _ := generate(cfg, 2000)
	if jc, _ := json.Marshal(c); string(jc) == string(ja) {
		t.Fatal("another seed gave the same beacons")
	}
}

func TestTimelineAndMix(t *testing.T) {
	cfg := testConfig() // 6 sites, 100/s, heartbeat 1 s: 60 s of timeline
	bs, _ := generate(cfg, 6000)
	count := map[string]int{}
	perSite := map[string]map[string]int{}
	for i, b := range bs {
		if want := testStart.Add(time.Duration(i) * 10 * time.Millisecond); !b.TS.Equal(want) {
			t.Fatalf("beacon %d at %v, want %v", i, b.TS, want)
		}
		if b.Scope != Scope || b.Structure.URL != Scope || b.Labels["cluster"] != b.Site {
			t.Fatalf("beacon %d: %+v", i, b)
		}
		count[b.Event]++
		if perSite[b.Site] == nil {
			perSite[b.Site] = map[string]int{}
		}
		perSite[b.Site][b.Event]++
		switch b.Event {
		case EventTopology:
			if len(b.Topology) < 8 {
				t.Fatalf("snapshot without its graph: %+v", b)
			}
		case EventFlow:
			if len(b.Flows) < 1 || len(b.Flows) > 4 {
				t.Fatalf("flow beacon with %d flows", len(b.Flows))
			}
		case EventDeploymentStart, EventDeploymentFinish:
			if b.Labels["deployment"] == "" || b.Labels["target"] == "" {
				t.Fatalf("deployment without its labels: %+v", b.Labels)
			}
		}
	}
	for site, c := range perSite {
		if c[EventHeartbeat] < 59 || c[EventHeartbeat] > 61 {
			t.Errorf("%s: %d heartbeats in 60 s at 1/s", site, c[EventHeartbeat])
		}
		if c[EventTopology] < 9 || c[EventTopology] > 11 {
			t.Errorf("%s: %d snapshots in 60 s, want one every 6 s", site, c[EventTopology])
		}
		if d := c[EventDeploymentStart] - c[EventDeploymentFinish]; d < 0 || d > 1 {
			t.Errorf("%s: %d starts, %d finishes", site, c[EventDeploymentStart], c[EventDeploymentFinish])
		}
	}
	if count[EventDeploymentStart] < 10 || count[EventFlow] < 5000 {
		t.Fatalf("mix %v", count)
	}
}

// TestFlowsMostlyFollowTheirCorridors aligns generated flows with
// pkg/corridor, as the corridor service does.
func TestFlowsMostlyFollowTheirCorridors(t *testing.T) {
	cfg := testConfig()
	g := newGenerator(cfg)
	bs, _ := generate(cfg, 6000)
	var total, onPath, inBudget, on int
	for _, b := range bs {
		var s *site
		for _, x := range g.sites {
			if x.name == b.Site {
				s = x
			}
		}
		cs := make([]corridor.Corridor, len(s.corridors))
		for k, c := range s.corridors {
			cs[k] = corridor.Corridor(c)
		}
		for _, f := range b.Flows {
			a := corridor.Align(cs, corridor.Flow{Path: f.Path, LatencyMS: f.LatencyMS})
			if !a.Matched {
				t.Fatalf("flow %v matches no corridor of %s", f.Path, s.name)
			}
			total++
			if a.PathMatch {
				onPath++
			}
			if a.WithinBudget {
				inBudget++
			}
			if a.OnCorridor {
				on++
			}
		}
	}
	offPath := 1 - float64(onPath)/float64(total)
	over := 1 - float64(inBudget)/float64(total)
	if offPath < 0.04 || offPath > 0.16 || over < 0.05 || over > 0.2 || float64(on)/float64(total) < 0.7 {
		t.Fatalf("%d flows: %.3f off the path, %.3f over budget, %d on corridor", total, offPath, over, on)
	}
}

// TestInjectedChangeIsOneDriftStep runs the generated stream through
// pkg/drift with its default parameters: the changed sites drift once, the
// others never.
func TestInjectedChangeIsOneDriftStep(t *testing.T) {
	cfg := testConfig()
	cfg.ChangeSites = []string{"dc-01", "dc-04"}
	cfg.ChangeAt = 20 * time.Second
	bs, changes := generate(cfg, 6000)
	if len(changes) != 2 || changes[0].Site != "dc-01" || changes[1].Site != "dc-04" || changes[0].Offset != 20*time.Second || changes[0].Index != 2000 {
		t.Fatalf("changes %+v", changes)
	}
	for _, ch := range changes {
		if ch.Rewired.Via == "" || ch.After.DomNodes <= ch.Before.DomNodes || ch.After.NavCount <= ch.Before.NavCount {
			t.Fatalf("change %s", ch)
		}
	}

	tr := drift.NewTracker(drift.DefaultParams())
	events := map[string]int{}
	for i, b := range bs {
		st := b.Structure
		in := drift.Input{EventID: fmt.Sprint(i), TS: b.TS, Seq: uint64(i + 1), Features: drift.Features{
			Counts: [drift.NumCounts]float64{float64(st.NavCount), float64(st.MainCount), float64(st.FormCount), float64(st.ButtonCount), float64(st.DomNodes)},
			Graph:  b.Topology,
		}}
		if _, ev, _ := tr.Step(b.Site+"\x00"+b.Scope, in); ev != nil {
			events[b.Site]++
			if b.TS.Before(testStart.Add(cfg.ChangeAt)) {
				t.Fatalf("drift event for %s before the change: %+v", b.Site, ev)
			}
		}
	}
	if len(events) != 2 || events["dc-01"] != 1 || events["dc-04"] != 1 {
		t.Fatalf("drift events per site %v, want one each for dc-01 and dc-04", events)
	}
}

func TestChangeEveryPicksRandomSitesOnTheTimeline(t *testing.T) {
	cfg := testConfig()
	cfg.ChangeEvery = 10 * time.Second
	_, changes := generate(cfg, 6000) // 60 s
	if len(changes) != 5 {
		t.Fatalf("%d changes in 60 s every 10 s", len(changes))
	}
	for k, ch := range changes {
		if ch.Offset != time.Duration(k+1)*10*time.Second {
			t.Fatalf("change %d at %v", k, ch.Offset)
		}
	}
}

func TestSiteNames(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		want string
	}{{0, 20, "dc-00"}, {19, 20, "dc-19"}, {7, 100, "dc-07"}, {7, 101, "dc-007"}, {999, 1000, "dc-999"}} {
		if got := SiteName(tc.i, tc.n); got != tc.want {
			t.Errorf("SiteName(%d, %d) = %s, want %s", tc.i, tc.n, got, tc.want)
		}
	}
}
