package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/internal/loadgen"
	"github.com/rtt-dev/rtt/pkg/beacon"
	"github.com/rtt-dev/rtt/pkg/schema"
	"github.com/rtt-dev/rtt/schemas"
)

// fakeIngest stands in for services/ingest: it validates beacons and
// profiles with the server's own decoder and schemas and answers like
// api.go, keeping what it accepted in memory. It has no JetStream behind it,
// which these tests do not need: they test what the generator sends.
type fakeIngest struct {
	*httptest.Server
	dec     *beacon.Decoder
	schemas *schema.Set

	mu        sync.Mutex
	order     []string // "profile SITE" or "beacons N", in arrival order
	profiles  map[string]loadgen.Profile
	beacons   []*beacon.Beacon
	seen      map[string]bool
	batchSize []int
}

func newFakeIngest(t *testing.T) *fakeIngest {
	t.Helper()
	set, err := schema.Compile(schemas.JSON())
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIngest{dec: beacon.NewDecoder(set), schemas: set, profiles: map[string]loadgen.Profile{}, seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/rtt/profile/{site}", f.postProfile)
	mux.HandleFunc("POST /api/rtt/beacons", f.postBeacons)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"status": "error", "error": "not_found", "message": r.URL.Path})
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIngest) base() string { return f.URL + "/api/rtt" }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeIngest) postProfile(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	buf.ReadFrom(r.Body)
	doc, err := beacon.DecodeJSON(buf.Bytes())
	if err == nil {
		err = f.schemas.Validate(schema.KindProfile, doc)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "error", "error": "invalid", "message": err.Error()})
		return
	}
	var p loadgen.Profile
	_ = json.Unmarshal(buf.Bytes(), &p)
	f.mu.Lock()
	f.profiles[r.PathValue("site")] = p
	f.order = append(f.order, "profile "+r.PathValue("site"))
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (f *fakeIngest) postBeacons(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	buf.ReadFrom(r.Body)
	items, err := beacon.Split(buf.Bytes(), 10000)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": "error", "error": "invalid", "message": err.Error()})
		return
	}
	type result struct {
		Index     int    `json:"index"`
		Status    string `json:"status"`
		EventID   string `json:"event_id,omitempty"`
		Duplicate bool   `json:"duplicate,omitempty"`
		Error     string `json:"error,omitempty"`
	}
	res := make([]result, len(items))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.order = append(f.order, fmt.Sprintf("beacons %d", len(items)))
	f.batchSize = append(f.batchSize, len(items))
	accepted := 0
	for i, raw := range items {
		b, err := f.dec.Decode(raw)
		if err != nil {
			res[i] = result{Index: i, Status: "invalid", Error: err.Error()}
			continue
		}
		accepted++
		res[i] = result{Index: i, Status: "ok", EventID: b.EventID, Duplicate: f.seen[b.EventID]}
		if !f.seen[b.EventID] {
			f.seen[b.EventID] = true
			f.beacons = append(f.beacons, b)
		}
	}
	code, status := http.StatusOK, "ok"
	if accepted < len(items) {
		code, status = http.StatusMultiStatus, "partial"
	}
	writeJSON(w, code, map[string]any{"status": status, "accepted": accepted, "results": res})
}

// stored returns the accepted beacons sorted by ts.
func (f *fakeIngest) stored() []*beacon.Beacon {
	f.mu.Lock()
	defer f.mu.Unlock()
	bs := slices.Clone(f.beacons)
	slices.SortStableFunc(bs, func(a, b *beacon.Beacon) int { return a.Time.Compare(b.Time) })
	return bs
}

var start = time.Date(2026, 1, 19, 15, 30, 0, 0, time.UTC)

func TestRunRegistersProfilesFirstAndSendsTheMix(t *testing.T) {
	f := newFakeIngest(t)
	cfg := loadgen.Config{URL: f.base(), Sites: 5, Rate: 2000, Count: 800, Batch: 40, HeartbeatEvery: 25 * time.Millisecond, Seed: 3, Start: start}
	var progress bytes.Buffer
	stats, err := loadgen.Run(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sent != 800 || stats.Accepted != 800 || stats.Rejected != 0 || stats.Errors != 0 || stats.Duplicates != 0 || stats.Profiles != 5 {
		t.Fatalf("stats %+v", stats)
	}
	if !strings.Contains(progress.String(), "sent 800, accepted 800") {
		t.Fatalf("no summary line in %q", progress.String())
	}

	f.mu.Lock()
	order := slices.Clone(f.order)
	profiles := f.profiles
	f.mu.Unlock()
	for i, o := range order {
		if (i < 5) != strings.HasPrefix(o, "profile ") {
			t.Fatalf("requests in order %v: the 5 profiles must come first", order)
		}
	}
	bs := f.stored()
	if len(bs) != 800 {
		t.Fatalf("server stored %d beacons", len(bs))
	}
	mix := map[string]int{}
	for _, b := range bs {
		mix[b.Event]++
		p, ok := profiles[b.Site]
		if !ok {
			t.Fatalf("beacon of %s, which has no profile", b.Site)
		}
		if p.RTTVersion == "" || p.Contact == "" || len(p.Supports) == 0 || len(p.Corridors) < 2 {
			t.Fatalf("profile of %s: %+v", b.Site, p)
		}
		if b.Event == loadgen.EventTopology {
			for _, c := range p.Corridors {
				for h := 0; h+1 < len(c.Path); h++ {
					if !slices.Contains(b.Topology[c.Path[h]], c.Path[h+1]) {
						t.Fatalf("%s: corridor %s uses %s -> %s, missing from the topology", b.Site, c.Name, c.Path[h], c.Path[h+1])
					}
				}
			}
		}
	}
	for ev, want := range map[string]int{loadgen.EventHeartbeat: 60, loadgen.EventTopology: 10, loadgen.EventDeploymentStart: 2, loadgen.EventDeploymentFinish: 1, loadgen.EventFlow: 500} {
		if mix[ev] < want {
			t.Errorf("%d %s beacons, want at least %d (mix %v)", mix[ev], ev, want, mix)
		}
	}
	for ev, n := range stats.Events {
		if mix[ev] != int(n) {
			t.Errorf("stats count %d %s, server %d", n, ev, mix[ev])
		}
	}
	for _, n := range f.batchSize {
		if n > 40 {
			t.Fatalf("batch of %d beacons, -batch is 40", n)
		}
	}
}

func TestInjectedChangeAltersOnlyTheChosenSites(t *testing.T) {
	f := newFakeIngest(t)
	cfg := loadgen.Config{URL: f.base(), Sites: 5, Rate: 4000, Count: 1000, HeartbeatEvery: 25 * time.Millisecond,
		ChangeSites: []string{"dc-01", "dc-03"}, ChangeAt: 100 * time.Millisecond, Seed: 5, Start: start}
	stats, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := start.Add(cfg.ChangeAt)
	if len(stats.Changes) != 2 || stats.Changes[0].Site != "dc-01" || stats.Changes[1].Site != "dc-03" || !stats.Changes[0].At.Equal(at) {
		t.Fatalf("changes %+v", stats.Changes)
	}

	type phase struct {
		structures map[beacon.Structure]int
		graphs     map[string]int
	}
	phases := map[string]*[2]phase{} // per site: before, after
	for _, b := range f.stored() {
		p := phases[b.Site]
		if p == nil {
			p = &[2]phase{{map[beacon.Structure]int{}, map[string]int{}}, {map[beacon.Structure]int{}, map[string]int{}}}
			phases[b.Site] = p
		}
		k := 0
		if !b.Time.Before(at) {
			k = 1
		}
		p[k].structures[b.Structure]++
		if b.Topology != nil {
			g, _ := json.Marshal(b.Topology)
			p[k].graphs[string(g)]++
		}
	}
	for site, p := range phases {
		if len(p[0].structures) != 1 || len(p[1].structures) != 1 || len(p[0].graphs) != 1 || len(p[1].graphs) != 1 {
			t.Fatalf("%s: the structure or topology is not stable within a phase: %v", site, p)
		}
		var before, after beacon.Structure
		for s := range p[0].structures {
			before = s
		}
		for s := range p[1].structures {
			after = s
		}
		sameGraph := fmt.Sprint(p[0].graphs) == fmt.Sprint(p[1].graphs)
		changed := site == "dc-01" || site == "dc-03"
		if !changed {
			if before != after || !sameGraph {
				t.Fatalf("%s changed without an injection: %+v -> %+v", site, before, after)
			}
			continue
		}
		if after.DomNodes < before.DomNodes*13/10 || after.NavCount <= before.NavCount || sameGraph {
			t.Fatalf("%s: no step change: %+v -> %+v, same graph %v", site, before, after, sameGraph)
		}
	}
}

func TestRunRoughlyKeepsTheRate(t *testing.T) {
	f := newFakeIngest(t)
	cfg := loadgen.Config{URL: f.base(), Sites: 3, Rate: 200, Count: 100, Batch: 10, Start: start}
	t0 := time.Now()
	stats, err := loadgen.Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 100 beacons at 200/s take half a second; allow a factor of 2.
	if d := time.Since(t0); d < 250*time.Millisecond || d > time.Second {
		t.Fatalf("100 beacons at 200/s took %v", d)
	}
	if stats.Accepted != 100 {
		t.Fatalf("stats %+v", stats)
	}
}

func TestRunStopsWithItsContextAndFlushes(t *testing.T) {
	f := newFakeIngest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	stats, err := loadgen.Run(ctx, loadgen.Config{URL: f.base(), Sites: 2, Rate: 500, Batch: 1000, Start: start}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var generated int64
	for _, n := range stats.Events {
		generated += n
	}
	if generated < 50 || stats.Accepted != generated || int64(len(f.stored())) != generated {
		t.Fatalf("generated %d, stats %+v, stored %d", generated, stats, len(f.stored()))
	}
}

func TestRunSameSeedSameBeacons(t *testing.T) {
	ids := func(seed int64) []string {
		f := newFakeIngest(t)
		cfg := loadgen.Config{URL: f.base(), Sites: 4, Rate: 5000, Count: 300, ChangeEvery: 20 * time.Millisecond, Seed: seed, Start: start}
		if _, err := loadgen.Run(context.Background(), cfg, nil); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, b := range f.stored() {
			out = append(out, b.EventID)
		}
		return out
	}
	a, b, c := ids(9), ids(9), ids(10)
	if !slices.Equal(a, b) || len(a) != 300 {
		t.Fatal("the same seed and start gave different beacons")
	}
	if slices.Equal(a, c) {
		t.Fatal("another seed gave the same beacons")
	}
}

func TestRunFailsWhenProfilesCannotBeRegistered(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"status": "error", "error": "unauthorized", "message": "send the header Authorization: Bearer <token>"})
	}))
	defer srv.Close()
	_, err := loadgen.Run(context.Background(), loadgen.Config{URL: srv.URL + "/api/rtt", Count: 10, Start: start}, nil)
	if err == nil || !strings.Contains(err.Error(), "registering the profile") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v", err)
	}
}

func TestMainFlagsAndEnvironment(t *testing.T) {
	f := newFakeIngest(t)
	t.Setenv("RTT_URL", f.base())
	t.Setenv("RTT_LOADGEN_BATCH", "7")
	var stdout, stderr bytes.Buffer
	err := loadgen.Main(context.Background(), []string{"-sites", "3", "-rate", "2000", "-count", "60", "-change-sites", "dc-02", "-change-at", "10ms", "-seed", "4"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "injected change: dc-02 at +10ms") || !strings.Contains(stdout.String(), "sent 60, accepted 60") {
		t.Fatalf("stdout %q", stdout.String())
	}
	if len(f.profiles) != 3 {
		t.Fatalf("%d profiles", len(f.profiles))
	}
	for _, n := range f.batchSize {
		if n > 7 {
			t.Fatalf("batch of %d, RTT_LOADGEN_BATCH is 7", n)
		}
	}

	for _, args := range [][]string{{"-sites", "0"}, {"-change-sites", "dc-99"}, {"-batch", "0"}, {"extra"}} {
		if err := loadgen.Main(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("Main%q: no error", args)
		}
	}
	stderr.Reset()
	if err := loadgen.Main(context.Background(), []string{"-h"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "RTT_LOADGEN_<FLAG>") {
		t.Fatalf("-h: %v %s", err, stderr.String())
	}
}
