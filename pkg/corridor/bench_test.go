package corridor

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
)

// benchSite is a site as the load generator (internal/loadgen) makes them:
// three corridors from ingress to a store, named after their path.
func benchSite() []Corridor {
	paths := [][]string{
		{"ingress", "api", "orders", "db", "db-replica"},
		{"ingress", "api", "catalog", "index"},
		{"ingress", "api", "cache"},
	}
	cs := make([]Corridor, len(paths))
	for i, p := range paths {
		name := p[0]
		for _, h := range p[1:] {
			name += "-" + h
		}
		cs[i] = Corridor{Name: name, Path: p, BudgetMS: float64(10 * (i + 3))}
	}
	return cs
}

// benchFlows are flows of benchSite in the load generator's proportions:
// most on their corridor's path, one off the path, one over budget.
func benchFlows() []Flow {
	return []Flow{
		{Path: []string{"ingress", "api", "orders", "db", "db-replica"}, LatencyMS: 23.7},
		{Path: []string{"ingress", "api", "catalog", "index"}, LatencyMS: 16.8},
		{Path: []string{"ingress", "api", "cache"}, LatencyMS: 7.1},
		{Path: []string{"ingress", "api", "orders", "db", "db-replica"}, LatencyMS: 21.2},
		{Path: []string{"ingress", "api", "catalog", "index"}, LatencyMS: 14.9},
		{Path: []string{"ingress", "api", "cache"}, LatencyMS: 6.3},
		{Path: []string{"ingress", "api", "search", "catalog", "index"}, LatencyMS: 19.0}, // off the path
		{Path: []string{"ingress", "api", "cache"}, LatencyMS: 88},                        // over budget
	}
}

// scoreKey is the key the corridor service keeps a running score under
// (services/corridor's ScoreKey).
func scoreKey(site, corridor string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(site + "\x00" + corridor))
}

// BenchmarkStep is the corridor service's work per observed flow: align it
// with the site's corridors and fold the result into the corridor's running
// score, over 1,000 sites in turn.
func BenchmarkStep(b *testing.B) {
	const nsites = 1000
	cs := benchSite()
	flows := benchFlows()
	keys := make([][]string, nsites)
	for i := range keys {
		site := fmt.Sprintf("dc-%04d", i)
		for _, c := range cs {
			keys[i] = append(keys[i], scoreKey(site, c.Name))
		}
	}
	index := map[string]int{}
	for i, c := range cs {
		index[c.Name] = i
	}
	s := NewScores(DefaultAlpha)
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		a := Align(cs, flows[seq%uint64(len(flows))])
		if a.Matched {
			s.Observe(keys[seq%nsites][index[a.Corridor]], seq, a)
		}
		if seq%1000 == 0 { // the service clears after each batch of 1,000
			s.ClearDirty()
		}
	}
}

// scoresBytesPerSite measures the heap the corridor service holds per site
// with n sites: the running scores (one per corridor, three per site) and
// the site's corridors as the service caches them from its profile.
func scoresBytesPerSite(n int) (scores, profiles float64) {
	prof, err := json.Marshal(map[string]any{"corridors": benchSite()})
	if err != nil {
		panic(err)
	}
	flows := benchFlows()
	sites := make([]string, n)
	for i := range sites {
		sites[i] = fmt.Sprintf("datacenter-%06d", i)
	}
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := NewScores(DefaultAlpha)
	var seq uint64
	for _, site := range sites {
		cs := benchSite()
		for _, f := range flows {
			a := Align(cs, f)
			if !a.Matched {
				continue
			}
			seq++
			s.Observe(scoreKey(site, a.Corridor), seq, a)
			if seq%1000 == 0 {
				s.ClearDirty()
			}
		}
	}
	s.ClearDirty()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	// The service's profile cache: site -> corridors, decoded from the
	// profile as the service does.
	cache := make(map[string][]Corridor)
	for _, site := range sites {
		var p struct {
			Corridors []Corridor `json:"corridors"`
		}
		if err := json.Unmarshal(prof, &p); err != nil {
			panic(err)
		}
		cache[site] = p.Corridors
	}
	runtime.GC()
	runtime.ReadMemStats(&m2)
	runtime.KeepAlive(s)
	runtime.KeepAlive(cache)
	runtime.KeepAlive(sites)
	return float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n),
		float64(int64(m2.HeapAlloc)-int64(m1.HeapAlloc)) / float64(n)
}

// BenchmarkScoresMemory100k reports the corridor service's state per site
// at 100,000 sites of three corridors each.
func BenchmarkScoresMemory100k(b *testing.B) {
	var scores, profiles float64
	for b.Loop() {
		scores, profiles = scoresBytesPerSite(100_000)
	}
	b.ReportMetric(scores, "scores-bytes/site")
	b.ReportMetric(profiles, "profile-bytes/site")
	b.ReportMetric(scores+profiles, "bytes/site")
}

// TestScoresMemoryLinear holds the corridor service's share of the 2 KiB
// per site that drift and corridor may keep together (pkg/drift's
// TestMemoryBudget measures drift at about 500 bytes per site, so 1.5 KiB
// here) and checks that the state grows linearly with the sites.
func TestScoresMemoryLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 100,000 sites")
	}
	s10, p10 := scoresBytesPerSite(10_000)
	s100, p100 := scoresBytesPerSite(100_000)
	t.Logf("per site: %.0f + %.0f bytes at 10,000 sites, %.0f + %.0f at 100,000 (scores + profile)", s10, p10, s100, p100)
	if s100+p100 > 1536 {
		t.Errorf("%.0f bytes per site at 100,000 sites, budget 1536 (2 KiB with drift's)", s100+p100)
	}
	if r := (s100 + p100) / (s10 + p10); r > 1.3 {
		t.Errorf("per-site memory grows %.2f times from 10,000 to 100,000 sites: not linear", r)
	}
}
