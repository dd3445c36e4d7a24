package loadgen

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rtt-dev/rtt/pkg/client"
)

// Event types the generator sends.
const (
	EventHeartbeat        = "cluster_heartbeat"
	EventTopology         = "topology_snapshot"
	EventDeploymentStart  = "deployment_start"
	EventDeploymentFinish = "deployment_finish"
	EventFlow             = "flow_observed"
)

// Scope is the scope of every generated beacon (and its structure.url): the
// cluster as a whole, as in the seed guide.
const Scope = "internal://cluster"

// Shape of the simulation, relative to the heartbeat period.
const (
	topologyEveryBeats = 6    // a topology snapshot every 6 heartbeats
	deployMeanBeats    = 10.0 // a deployment every 10 heartbeats per site on average
	offPathShare       = 0.08 // flows that leave their corridor's path
	overBudgetShare    = 0.10 // flows slower than their corridor's budget
	changeGrowth       = 1.4  // an injected change adds 40 % racks and nodes
)

// Corridor is a declared route through a site's services with its latency
// budget, as registered in the site's profile.
type Corridor struct {
	Name     string   `json:"name"`
	Path     []string `json:"path"`
	BudgetMS float64  `json:"budget_ms"`
}

// Profile is what the generator registers for a site with POST
// /profile/{site}.
type Profile struct {
	RTTVersion string     `json:"rtt_version"`
	Supports   []string   `json:"supports"`
	Contact    string     `json:"contact"`
	Corridors  []Corridor `json:"corridors"`
}

// site is one simulated datacenter.
type site struct {
	name      string
	structure client.Structure
	graph     map[string][]string
	order     map[string]int     // topological rank: edges go from lower to higher
	hopMS     map[string]float64 // typical latency a hop adds
	targets   []string           // deploy targets
	corridors []Corridor
	routes    [][]string // the path traffic of each corridor really takes
	deploys   int
	deploying string // deployment id in progress, "" when none
	target    string
}

var (
	middlePool = []string{"auth", "users", "orders", "catalog", "search", "billing", "payments", "inventory", "notifications", "scheduler", "reports", "media"}
	storePool  = []string{"queue", "storage", "index", "db-replica", "blob"}
	targetPool = []string{"canary", "prod-a", "prod-b", "prod-c", "staging", "edge", "batch", "gpu"}
)

// SiteName is the name of simulated site i of n: dc-00, dc-01 ... (more
// digits when n needs them).
func SiteName(i, n int) string {
	width := max(2, len(strconv.Itoa(n-1)))
	return fmt.Sprintf("dc-%0*d", width, i)
}

// newSite builds site i from its own random stream, so a site looks the same
// whatever the number of sites.
func newSite(seed int64, i, n int) *site {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))
	s := &site{name: SiteName(i, n), order: map[string]int{}, hopMS: map[string]float64{}}

	// Services: ingress -> api -> middle tier -> stores, 8 to 12 in all.
	total := 8 + rng.IntN(5)
	stores := 2 + (total-4)/3 // db, cache and a few more
	middles := total - 2 - stores
	nodes := []string{"ingress", "api"}
	nodes = append(nodes, pick(rng, middlePool, middles)...)
	nodes = append(nodes, "cache", "db")
	nodes = append(nodes, pick(rng, storePool, stores-2)...)
	for r, n := range nodes {
		s.order[n] = r
	}
	mids, data := nodes[2:2+middles], nodes[2+middles:]
	s.graph = make(map[string][]string, len(nodes))
	for _, n := range nodes {
		s.graph[n] = []string{}
	}
	s.graph["ingress"] = []string{"api"}
	s.graph["api"] = append(slices.Clone(mids), "cache")
	for k, m := range mids {
		deps := []string{data[1+rng.IntN(len(data)-1)]} // a store other than cache
		if rng.IntN(2) == 0 {
			deps = appendNew(deps, data[rng.IntN(len(data))])
		}
		if k+1 < len(mids) && rng.IntN(4) == 0 {
			deps = appendNew(deps, mids[k+1+rng.IntN(len(mids)-k-1)])
		}
		s.graph[m] = sortByOrder(deps, s.order)
	}
	if !s.hasParent("db") { // every cluster has its database in use
		s.graph[mids[0]] = sortByOrder(appendNew(s.graph[mids[0]], "db"), s.order)
	}
	if slices.Contains(nodes, "db-replica") {
		s.graph["db"] = []string{"db-replica"}
	}
	if slices.Contains(nodes, "queue") && slices.Contains(nodes, "storage") && s.order["queue"] < s.order["storage"] {
		s.graph["queue"] = []string{"storage"}
	}
	for _, n := range nodes {
		switch {
		case n == "ingress":
			s.hopMS[n] = 1 + rng.Float64()*2
		case n == "api":
			s.hopMS[n] = 2 + rng.Float64()*4
		case slices.Contains(mids, n):
			s.hopMS[n] = 3 + rng.Float64()*15
		default:
			s.hopMS[n] = 1 + rng.Float64()*12
		}
	}

	// The cluster's counts, as the seed guide maps them: racks, services,
	// configurations, deploy targets, nodes.
	racks := 8 + rng.IntN(41)
	s.targets = targetPool[:2+rng.IntN(len(targetPool)-1)]
	s.structure = client.Structure{
		URL:         Scope,
		Title:       "Cluster State",
		NavCount:    int64(racks),
		MainCount:   int64(len(nodes)),
		FormCount:   int64(len(nodes) * (6 + rng.IntN(15))),
		ButtonCount: int64(len(s.targets)),
		DomNodes:    int64(racks * (16 + rng.IntN(25))),
	}

	// Corridors: 2 to 4 distinct routes from ingress to a store.
	want := 2 + rng.IntN(3)
	seen := map[string]bool{}
	for try := 0; len(s.corridors) < want && try < 50; try++ {
		path := s.walk(rng)
		name := strings.Join(path, "-")
		if seen[name] || len(path) < 3 {
			continue
		}
		seen[name] = true
		budget := 0.0
		for _, h := range path {
			budget += s.hopMS[h]
		}
		budget = math.Ceil(budget*1.5/5) * 5
		s.corridors = append(s.corridors, Corridor{Name: name, Path: path, BudgetMS: budget})
		s.routes = append(s.routes, slices.Clone(path))
	}
	return s
}

// hasParent reports whether some node depends on n.
func (s *site) hasParent(n string) bool {
	for _, deps := range s.graph {
		if slices.Contains(deps, n) {
			return true
		}
	}
	return false
}

// walk follows random edges from ingress to a node without dependencies.
func (s *site) walk(rng *rand.Rand) []string {
	path := []string{"ingress"}
	for n := "ingress"; len(s.graph[n]) > 0; {
		n = s.graph[n][rng.IntN(len(s.graph[n]))]
		path = append(path, n)
	}
	return path
}

func pick(rng *rand.Rand, pool []string, n int) []string {
	idx := rng.Perm(len(pool))[:min(n, len(pool))]
	slices.Sort(idx) // keep the pool's order: it is the tiers' order
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = pool[k]
	}
	return out
}

func appendNew(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

func sortByOrder(nodes []string, order map[string]int) []string {
	slices.SortFunc(nodes, func(a, b string) int { return order[a] - order[b] })
	return nodes
}

// profile is the site's profile: its corridors as declared intent.
func (s *site) profile() Profile {
	return Profile{
		RTTVersion: "1.0",
		Supports:   []string{"coherence", "drift", "corridor"},
		Contact:    "infra+" + s.name + "@datacenter.example",
		Corridors:  slices.Clone(s.corridors),
	}
}

// topology returns a copy of the site's current graph.
func (s *site) topology() map[string][]string {
	g := make(map[string][]string, len(s.graph))
	for n, deps := range s.graph {
		g[n] = slices.Clone(deps)
	}
	return g
}

// Change is one injected structural change.
type Change struct {
	Site string `json:"site"`
	// Offset is when it took effect on the generator's timeline, At the ts
	// of the first beacon that carries it, Index that beacon's number
	// (0-based).
	Offset time.Duration `json:"offset"`
	At     time.Time     `json:"at"`
	Index  int           `json:"index"`
	// Before and After are the site's structure around the change.
	Before client.Structure `json:"before"`
	After  client.Structure `json:"after"`
	// Rewired is the dependency edge From -> To that now goes
	// From -> Via -> To; empty when the graph offered none to rewire.
	Rewired struct{ From, Via, To string } `json:"rewired"`
}

// String describes the change on one line, for logs and the summary.
func (c Change) String() string {
	s := fmt.Sprintf("%s at +%v (%s): racks %d -> %d, nodes %d -> %d", c.Site, c.Offset, c.At.Format(time.RFC3339), c.Before.NavCount, c.After.NavCount, c.Before.DomNodes, c.After.DomNodes)
	if c.Rewired.Via != "" {
		s += fmt.Sprintf(", edge %s -> %s rewired via %s", c.Rewired.From, c.Rewired.To, c.Rewired.Via)
	}
	return s
}

// change applies a structural change to the site: 40 % more racks and
// nodes, and one dependency a -> b rewired to a -> c -> b, preferring an edge
// that a corridor's traffic takes, so that traffic now takes a detour.
func (s *site) change(rng *rand.Rand) Change {
	ch := Change{Site: s.name, Before: s.structure}
	s.structure.NavCount = int64(math.Round(float64(s.structure.NavCount) * changeGrowth))
	s.structure.DomNodes = int64(math.Round(float64(s.structure.DomNodes) * changeGrowth))
	ch.After = s.structure

	type rewire struct{ a, c, b string }
	// Candidates by preference: an edge corridor traffic takes, rerouted
	// through a service of the middle tier; then through any node; then
	// edges no corridor takes.
	var cands [4][]rewire
	nodes := make([]string, 0, len(s.graph))
	for n := range s.graph {
		nodes = append(nodes, n)
	}
	sortByOrder(nodes, s.order)
	for _, a := range nodes {
		for _, b := range s.graph[a] {
			for _, c := range nodes {
				if s.order[a] < s.order[c] && s.order[c] < s.order[b] && !slices.Contains(s.graph[a], c) {
					rank := 0
					if !s.routeUses(a, b) {
						rank = 2
					}
					if s.isStore(c) {
						rank++
					}
					cands[rank] = append(cands[rank], rewire{a, c, b})
				}
			}
		}
	}
	k := 0
	for k < len(cands) && len(cands[k]) == 0 {
		k++
	}
	if k == len(cands) {
		return ch
	}
	r := cands[k][rng.IntN(len(cands[k]))]
	deps := slices.DeleteFunc(slices.Clone(s.graph[r.a]), func(n string) bool { return n == r.b })
	s.graph[r.a] = sortByOrder(append(deps, r.c), s.order)
	s.graph[r.c] = sortByOrder(appendNew(slices.Clone(s.graph[r.c]), r.b), s.order)
	for i, route := range s.routes {
		for k := 0; k+1 < len(route); k++ {
			if route[k] == r.a && route[k+1] == r.b {
				s.routes[i] = slices.Insert(slices.Clone(route), k+1, r.c)
				break
			}
		}
	}
	ch.Rewired.From, ch.Rewired.Via, ch.Rewired.To = r.a, r.c, r.b
	return ch
}

// isStore reports whether n is in the data tier (cache, db and the like).
func (s *site) isStore(n string) bool { return s.order[n] >= s.order["cache"] }

// routeUses reports whether some corridor's traffic takes the edge a -> b.
func (s *site) routeUses(a, b string) bool {
	for _, route := range s.routes {
		for k := 0; k+1 < len(route); k++ {
			if route[k] == a && route[k+1] == b {
				return true
			}
		}
	}
	return false
}

// flow simulates one observed flow: a corridor's real route at a usual
// latency, sometimes off the path or over the budget.
func (s *site) flow(rng *rand.Rand) client.Flow {
	k := rng.IntN(len(s.corridors))
	path := slices.Clone(s.routes[k])
	if rng.Float64() < offPathShare {
		path = s.deviate(rng, path)
	}
	lat := 0.0
	for _, h := range path {
		lat += s.hopMS[h] * (0.75 + 0.5*rng.Float64())
	}
	if rng.Float64() < overBudgetShare {
		lat = s.corridors[k].BudgetMS * (1.2 + rng.Float64())
	}
	return client.Flow{Path: path, LatencyMS: math.Round(lat*10) / 10}
}

// deviate makes a path leave its corridor between its two ends: an extra
// hop, a skipped hop or a substituted hop.
func (s *site) deviate(rng *rand.Rand, path []string) []string {
	others := make([]string, 0, len(s.graph))
	for n := range s.graph {
		if !slices.Contains(path, n) {
			others = append(others, n)
		}
	}
	slices.Sort(others)
	inner := len(path) - 2 // hops between the ends
	switch op := rng.IntN(3); {
	case op == 1 && inner >= 2:
		i := 1 + rng.IntN(inner)
		return slices.Delete(path, i, i+1)
	case op == 2 && inner >= 1 && len(others) > 0:
		path[1+rng.IntN(inner)] = others[rng.IntN(len(others))]
		return path
	case len(others) > 0:
		return slices.Insert(path, len(path)-1, others[rng.IntN(len(others))])
	}
	return path
}

// due is a scheduled event of one site.
type due struct {
	at    time.Duration
	seq   uint64 // breaks ties in scheduling order
	site  int
	event string
	// periodic marks the events that schedule their successor; a topology
	// snapshot announcing a change does not start a second series.
	periodic bool
}

// dueHeap orders due events by time, then by scheduling order.
type dueHeap []due

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// plannedChange is an injection waiting for its time.
type plannedChange struct {
	at   time.Duration
	site int
}

// generator produces the beacon stream. It is deterministic: the same
// settings and seed give the same beacons. Beacon i lies at offset i*step on
// the generator's timeline; scheduled events (heartbeats, snapshots,
// deployments) take the slots when they are due, flow observations fill the
// others.
type generator struct {
	rng   *rand.Rand
	sites []*site
	start time.Time
	step  time.Duration
	beat  time.Duration

	n       int // beacons generated
	queue   dueHeap
	seq     uint64
	changes []plannedChange // sorted by time
	every   time.Duration   // -change-every; 0 never
	nextAny time.Duration   // next random change
}

func newGenerator(cfg Config) *generator {
	g := &generator{
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6c6f616467656e)),
		start: cfg.Start,
		step:  cfg.step(),
		beat:  cfg.HeartbeatEvery,
		every: cfg.ChangeEvery,
	}
	for i := range cfg.Sites {
		g.sites = append(g.sites, newSite(cfg.Seed, i, cfg.Sites))
	}
	// Spread each site's heartbeats and snapshots over the period so that
	// the sites do not all report at once.
	for i := range g.sites {
		off := g.beat * time.Duration(i) / time.Duration(len(g.sites))
		g.schedule(off, i, EventTopology)
		g.schedule(off, i, EventHeartbeat)
		g.schedule(g.deployGap(), i, EventDeploymentStart)
	}
	if g.every > 0 {
		g.nextAny = g.every
	}
	for _, name := range cfg.ChangeSites {
		for i, s := range g.sites {
			if s.name == name {
				g.changes = append(g.changes, plannedChange{at: cfg.ChangeAt, site: i})
			}
		}
	}
	return g
}

func (g *generator) schedule(at time.Duration, site int, event string) {
	g.seq++
	heap.Push(&g.queue, due{at: at, seq: g.seq, site: site, event: event, periodic: true})
}

// announce schedules a one-off event.
func (g *generator) announce(at time.Duration, site int, event string) {
	g.seq++
	heap.Push(&g.queue, due{at: at, seq: g.seq, site: site, event: event})
}

// deployGap is a random time until a site's next deployment: exponential
// with a mean of deployMeanBeats heartbeats.
func (g *generator) deployGap() time.Duration {
	return time.Duration(g.rng.ExpFloat64() * deployMeanBeats * float64(g.beat))
}

// offset is the timeline position of the next beacon.
func (g *generator) offset() time.Duration { return time.Duration(g.n) * g.step }

// next returns the next beacon and the changes injected just before it.
func (g *generator) next() (client.Beacon, []Change) {
	off := g.offset()
	ts := g.start.Add(off)
	var changes []Change
	apply := func(i int) {
		ch := g.sites[i].change(g.rng)
		ch.Offset, ch.At, ch.Index = off, ts, g.n
		changes = append(changes, ch)
		g.announce(off, i, EventTopology) // show the new topology at once
	}
	for len(g.changes) > 0 && g.changes[0].at <= off {
		apply(g.changes[0].site)
		g.changes = g.changes[1:]
	}
	for g.every > 0 && g.nextAny <= off {
		apply(g.rng.IntN(len(g.sites)))
		g.nextAny += g.every
	}

	var b client.Beacon
	if len(g.queue) > 0 && g.queue[0].at <= off {
		d := heap.Pop(&g.queue).(due)
		b = g.scheduled(d)
	} else {
		s := g.sites[g.rng.IntN(len(g.sites))]
		b = g.base(s, EventFlow)
		b.Flows = make([]client.Flow, 1+g.rng.IntN(4))
		for k := range b.Flows {
			b.Flows[k] = s.flow(g.rng)
		}
	}
	b.TS = ts
	g.n++
	return b, changes
}

// scheduled makes the beacon of a due event and schedules the site's next
// one of its kind.
func (g *generator) scheduled(d due) client.Beacon {
	s := g.sites[d.site]
	b := g.base(s, d.event)
	switch d.event {
	case EventHeartbeat:
		g.schedule(d.at+g.beat, d.site, EventHeartbeat)
	case EventTopology:
		b.Topology = s.topology()
		if d.periodic {
			g.schedule(d.at+topologyEveryBeats*g.beat, d.site, EventTopology)
		}
	case EventDeploymentStart:
		s.deploys++
		s.deploying = fmt.Sprintf("%s-deploy-%d", s.name, s.deploys)
		s.target = s.targets[g.rng.IntN(len(s.targets))]
		b.Labels["deployment"], b.Labels["target"] = s.deploying, s.target
		g.schedule(d.at+g.beat*time.Duration(2+g.rng.IntN(3)), d.site, EventDeploymentFinish)
	case EventDeploymentFinish:
		outcome := "success"
		if g.rng.IntN(20) == 0 {
			outcome = "rolled_back"
		}
		b.Labels["deployment"], b.Labels["target"], b.Labels["outcome"] = s.deploying, s.target, outcome
		s.deploying = ""
		g.schedule(d.at+g.deployGap(), d.site, EventDeploymentStart)
	}
	return b
}

// base is a beacon of the site with its current structure and labels.
func (g *generator) base(s *site, event string) client.Beacon {
	return client.Beacon{
		Site:      s.name,
		Session:   fmt.Sprintf("%s-%d", s.name, g.start.Unix()),
		Event:     event,
		Scope:     Scope,
		Structure: s.structure,
		Labels:    map[string]string{"cluster": s.name},
	}
}
