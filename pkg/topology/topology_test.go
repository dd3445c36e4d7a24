package topology

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/rtt-dev/rtt/internal/goldenfile"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecomposeGuide(t *testing.T) {
	got := Decompose(map[string][]string{"auth": {"api"}, "api": {"db"}, "db": {}})
	want := Result{
		Nodes:        3,
		Edges:        2,
		Cycles:       [][]string{},
		Layers:       [][]string{{"db"}, {"api"}, {"auth"}},
		Tiers:        Tiers{Entry: []string{"auth"}, Core: []string{"api"}, Foundation: []string{"db"}, Isolated: []string{}},
		Critical:     Critical{ArticulationPoints: []string{"api"}, MaxFanIn: 1, HighestFanIn: []string{"api", "db"}},
		LongestChain: []string{"auth", "api", "db"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decompose\n got %+v\nwant %+v", got, want)
	}
}

func TestDecomposeTable(t *testing.T) {
	tests := []struct {
		name  string
		graph map[string][]string
		check func(t *testing.T, r Result)
	}{
		{
			name:  "self-loop is a cycle but not an edge to another node",
			graph: map[string][]string{"a": {"a"}},
			check: func(t *testing.T, r Result) {
				want(t, r.Edges, 1)
				want(t, r.Cycles, [][]string{{"a"}})
				want(t, r.Tiers.Isolated, []string{"a"})
				want(t, r.Critical.MaxFanIn, 0)
				want(t, r.Critical.HighestFanIn, []string{})
				want(t, r.LongestChain, []string{"a"})
			},
		},
		{
			name:  "two-node cycle shares a layer",
			graph: map[string][]string{"a": {"b"}, "b": {"a", "c"}},
			check: func(t *testing.T, r Result) {
				want(t, r.Cycles, [][]string{{"a", "b"}})
				want(t, r.Layers, [][]string{{"c"}, {"a", "b"}})
				want(t, r.Tiers.Core, []string{"a", "b"})
				want(t, r.LongestChain, []string{"a", "b", "c"})
				want(t, r.Critical.ArticulationPoints, []string{"b"})
			},
		},
		{
			name:  "duplicate deps count once",
			graph: map[string][]string{"a": {"b", "b", "b"}},
			check: func(t *testing.T, r Result) {
				want(t, r.Edges, 1)
				want(t, r.Nodes, 2)
			},
		},
		{
			name:  "mutual edge is one undirected edge",
			graph: map[string][]string{"a": {"b"}, "b": {"a"}, "c": {"b"}},
			check: func(t *testing.T, r Result) {
				want(t, r.Critical.ArticulationPoints, []string{"b"})
			},
		},
		{
			name:  "nil graph",
			graph: nil,
			check: func(t *testing.T, r Result) {
				want(t, r.Nodes, 0)
				want(t, r.Layers, [][]string{})
				want(t, r.LongestChain, []string{})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, Decompose(tt.graph)) })
	}
}

func want(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestDeepChain runs a 10000-node chain and a 10000-node ring, deep enough
// to matter if any traversal were recursive.
func TestDeepChain(t *testing.T) {
	const n = MaxNodes
	chain := make(map[string][]string, n)
	ring := make(map[string][]string, n)
	name := func(i int) string { return fmt.Sprintf("n%05d", i) }
	for i := range n - 1 {
		chain[name(i)] = []string{name(i + 1)}
		ring[name(i)] = []string{name(i + 1)}
	}
	ring[name(n-1)] = []string{name(0)}
	if err := ValidateGraph(chain); err != nil {
		t.Fatal(err)
	}

	r := Decompose(chain)
	want(t, len(r.Layers), n)
	want(t, len(r.LongestChain), n)
	want(t, len(r.Critical.ArticulationPoints), n-2)
	want(t, len(r.Cycles), 0)

	r = Decompose(ring)
	want(t, len(r.Cycles), 1)
	want(t, len(r.Cycles[0]), n)
	want(t, len(r.Layers), 1)
	want(t, len(r.Critical.ArticulationPoints), 0)
	want(t, r.LongestChain, []string{name(0)})
}

// TestLongestChainIsAPath checks on a few random-looking graphs that the
// chain follows real edges, never repeats a node and spans every layer.
func TestLongestChainIsAPath(t *testing.T) {
	for seed := range 50 {
		g := map[string][]string{}
		x := uint32(seed*7919 + 1)
		next := func() int { x = x*1664525 + 1013904223; return int(x >> 24) }
		nodes := 3 + seed%20
		for range nodes * 2 {
			a, b := fmt.Sprint(next()%nodes), fmt.Sprint(next()%nodes)
			g[a] = append(g[a], b)
		}
		r := Decompose(g)
		seen := map[string]bool{}
		for i, v := range r.LongestChain {
			if seen[v] {
				t.Fatalf("seed %d: chain %v repeats %s", seed, r.LongestChain, v)
			}
			seen[v] = true
			if i > 0 && !contains(g[r.LongestChain[i-1]], v) {
				t.Fatalf("seed %d: chain %v: %s does not depend on %s", seed, r.LongestChain, r.LongestChain[i-1], v)
			}
		}
		layer := map[string]int{}
		for l, ns := range r.Layers {
			for _, n := range ns {
				layer[n] = l
			}
		}
		if first := r.LongestChain[0]; layer[first] != len(r.Layers)-1 {
			t.Fatalf("seed %d: chain starts in layer %d of %d", seed, layer[first], len(r.Layers))
		}
		if last := r.LongestChain[len(r.LongestChain)-1]; layer[last] != 0 {
			t.Fatalf("seed %d: chain ends in layer %d", seed, layer[last])
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestValidateGraph(t *testing.T) {
	big := map[string][]string{}
	for i := range MaxNodes + 1 {
		big[fmt.Sprint(i)] = nil
	}
	manyEdges := map[string][]string{"a": make([]string, MaxEdges+1)}
	for i := range manyEdges["a"] {
		manyEdges["a"][i] = "b"
	}
	tests := []struct {
		name  string
		g     map[string][]string
		field string
	}{
		{"guide", map[string][]string{"auth": {"api"}, "api": {"db"}, "db": {}}, ""},
		{"nil", nil, ""},
		{"empty key", map[string][]string{"": {"a"}}, "graph"},
		{"empty dep", map[string][]string{"a": {"b", ""}}, `graph["a"][1]`},
		{"too many nodes", big, "graph"},
		{"too many edges", manyEdges, "graph"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateGraph(tt.g)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalidGraph) {
				t.Fatalf("error %v, want a FieldError for %s wrapping ErrInvalidGraph", err, tt.field)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("error %q does not start with the field", err)
			}
		})
	}
}

func TestDecomposeGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var g map[string][]string
			if err := json.Unmarshal(raw, &g); err != nil {
				t.Fatal(err)
			}
			if err := ValidateGraph(g); err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(Decompose(g), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			goldenfile.Check(t, golden, got)
		})
	}
}

func BenchmarkDecompose(b *testing.B) {
	g := map[string][]string{}
	for i := range 2000 {
		g[fmt.Sprint(i)] = []string{fmt.Sprint((i * 7) % 2000), fmt.Sprint((i + 1) % 2000), fmt.Sprint(i / 2)}
	}
	b.ReportAllocs()
	for b.Loop() {
		Decompose(g)
	}
}
