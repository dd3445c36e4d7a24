package topology

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Limits enforced by [ValidateGraph].
const (
	// MaxNodes is the largest number of distinct nodes (keys and deps).
	MaxNodes = 10000
	// MaxEdges is the largest number of dependency entries, duplicates
	// included.
	MaxEdges = 100000
)

// ErrInvalidGraph is wrapped by every error [ValidateGraph] returns.
var ErrInvalidGraph = errors.New("invalid graph")

// FieldError names the part of the graph that failed and why. It wraps
// [ErrInvalidGraph].
type FieldError struct {
	// Field is a JSON path such as `graph` or `graph["api"][1]`.
	Field  string
	Reason string
}

// Error returns "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns [ErrInvalidGraph].
func (e *FieldError) Unwrap() error { return ErrInvalidGraph }

// Result is the decomposition of a graph. Every slice is non-nil and sorted
// as its comment says, so encoding a Result is deterministic.
type Result struct {
	// Nodes counts distinct nodes: keys and deps.
	Nodes int `json:"nodes"`
	// Edges counts distinct edges; a dep listed twice counts once, a
	// self-loop counts.
	Edges int `json:"edges"`
	// Cycles lists the strongly connected components with more than one
	// node or with a self-loop, each sorted, ordered by first member.
	Cycles [][]string `json:"cycles"`
	// Layers groups nodes by height in the condensation (each cycle
	// collapsed to one node): layer 0 holds nodes with no deps outside
	// their own cycle, layer k nodes whose deepest dep is in layer k-1.
	// Members of one cycle share a layer. Each layer is sorted.
	Layers [][]string `json:"layers"`
	// Tiers classifies nodes by their edges to other nodes.
	Tiers Tiers `json:"tiers"`
	// Critical lists the nodes whose failure hurts most.
	Critical Critical `json:"critical"`
	// LongestChain is a real dependency path (each node depends on the
	// next) through len(Layers) layers, from the top layer down to layer
	// 0. In a graph with cycles it walks through a cycle's members where
	// needed, so it can be longer than len(Layers) nodes. Empty for an
	// empty graph.
	LongestChain []string `json:"longest_chain"`
}

// Tiers classifies nodes by their edges to other nodes; self-loops are
// ignored. Each list is sorted and every node is in exactly one.
type Tiers struct {
	// Entry nodes have deps but nothing depends on them.
	Entry []string `json:"entry"`
	// Core nodes have deps and are depended on.
	Core []string `json:"core"`
	// Foundation nodes are depended on but have no deps.
	Foundation []string `json:"foundation"`
	// Isolated nodes have no edges to other nodes.
	Isolated []string `json:"isolated"`
}

// Critical lists the nodes whose failure hurts most.
type Critical struct {
	// ArticulationPoints are the nodes whose removal disconnects the
	// undirected version of the graph (direction and self-loops ignored),
	// sorted.
	ArticulationPoints []string `json:"articulation_points"`
	// MaxFanIn is the largest number of other nodes depending on one node.
	MaxFanIn int `json:"max_fan_in"`
	// HighestFanIn lists, sorted, the nodes with MaxFanIn dependents;
	// empty when MaxFanIn is 0.
	HighestFanIn []string `json:"highest_fan_in"`
}

// ValidateGraph checks the limits [Decompose] is meant for: no empty node
// name (as a key or a dep), at most [MaxNodes] distinct nodes and at most
// [MaxEdges] dep entries. The error is a *[FieldError] naming the first
// offending entry, in sorted key order, and wraps [ErrInvalidGraph].
func ValidateGraph(g map[string][]string) error {
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	nodes := make(map[string]struct{}, len(g))
	edges := 0
	for _, k := range keys {
		if k == "" {
			return &FieldError{Field: "graph", Reason: "node name must not be empty"}
		}
		nodes[k] = struct{}{}
		for i, d := range g[k] {
			if d == "" {
				return &FieldError{Field: fmt.Sprintf("graph[%q][%d]", k, i), Reason: "node name must not be empty"}
			}
			nodes[d] = struct{}{}
		}
		edges += len(g[k])
		if len(nodes) > MaxNodes {
			return &FieldError{Field: "graph", Reason: fmt.Sprintf("more than %d nodes", MaxNodes)}
		}
		if edges > MaxEdges {
			return &FieldError{Field: "graph", Reason: fmt.Sprintf("more than %d edges", MaxEdges)}
		}
	}
	return nil
}

// graph is the indexed form of the input: nodes sorted by name, so index
// order is name order, and deduplicated, sorted adjacency.
type graph struct {
	names    []string
	out      [][]int // deps of each node, without self-loops
	selfLoop []bool
}

func build(g map[string][]string) graph {
	set := make(map[string]struct{}, len(g))
	for k, deps := range g {
		set[k] = struct{}{}
		for _, d := range deps {
			set[d] = struct{}{}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	gr := graph{names: names, out: make([][]int, len(names)), selfLoop: make([]bool, len(names))}
	for k, deps := range g {
		v := index[k]
		for _, d := range deps {
			w := index[d]
			if w == v {
				gr.selfLoop[v] = true
				continue
			}
			gr.out[v] = append(gr.out[v], w)
		}
	}
	for v := range gr.out {
		slices.Sort(gr.out[v])
		gr.out[v] = slices.Compact(gr.out[v])
	}
	return gr
}

// Decompose analyses graph, which maps each node to the nodes it depends on.
// Deps that are not keys are nodes too. It never fails: call [ValidateGraph]
// first to bound the work. It does not modify graph.
func Decompose(graph map[string][]string) Result {
	g := build(graph)
	n := len(g.names)
	res := Result{
		Nodes:        n,
		Cycles:       [][]string{},
		Layers:       [][]string{},
		LongestChain: []string{},
		Tiers:        Tiers{Entry: []string{}, Core: []string{}, Foundation: []string{}, Isolated: []string{}},
		Critical:     Critical{ArticulationPoints: []string{}, HighestFanIn: []string{}},
	}
	if n == 0 {
		return res
	}

	in := make([]int, n)
	for v, deps := range g.out {
		res.Edges += len(deps)
		if g.selfLoop[v] {
			res.Edges++
		}
		for _, w := range deps {
			in[w]++
		}
	}

	comp, members := scc(g.out)
	for _, ms := range members {
		if len(ms) > 1 || g.selfLoop[ms[0]] {
			res.Cycles = append(res.Cycles, g.namesOf(ms))
		}
	}
	slices.SortFunc(res.Cycles, func(a, b []string) int { return strings.Compare(a[0], b[0]) })

	height := heights(g.out, comp, members)
	top := slices.Max(height)
	res.Layers = make([][]string, top+1)
	for i := range res.Layers {
		res.Layers[i] = []string{}
	}
	for v := range n { // index order is name order, so layers come out sorted
		h := height[comp[v]]
		res.Layers[h] = append(res.Layers[h], g.names[v])
	}

	for v := range n {
		name := g.names[v]
		hasOut, hasIn := len(g.out[v]) > 0, in[v] > 0
		switch {
		case hasOut && hasIn:
			res.Tiers.Core = append(res.Tiers.Core, name)
		case hasOut:
			res.Tiers.Entry = append(res.Tiers.Entry, name)
		case hasIn:
			res.Tiers.Foundation = append(res.Tiers.Foundation, name)
		default:
			res.Tiers.Isolated = append(res.Tiers.Isolated, name)
		}
	}

	res.Critical.ArticulationPoints = g.namesOf(articulationPoints(undirected(g.out)))
	res.Critical.MaxFanIn = slices.Max(in)
	if res.Critical.MaxFanIn > 0 {
		for v := range n {
			if in[v] == res.Critical.MaxFanIn {
				res.Critical.HighestFanIn = append(res.Critical.HighestFanIn, g.names[v])
			}
		}
	}

	res.LongestChain = g.namesOf(longestChain(g.out, comp, members, height))
	return res
}

func (g graph) namesOf(vs []int) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = g.names[v]
	}
	return out
}

// scc returns the strongly connected components of out by Tarjan's
// algorithm, run with an explicit stack. comp[v] is v's component; members[c]
// lists component c's nodes in ascending order. Components are numbered in
// the order Tarjan completes them, which is a reverse topological order: every
// component a component depends on has a smaller number.
func scc(out [][]int) (comp []int, members [][]int) {
	n := len(out)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp = make([]int, n)
	for v := range index {
		index[v] = -1
	}
	var stack []int
	type frame struct{ v, next int }
	var call []frame
	counter := 0
	visit := func(v int) {
		index[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		onStack[v] = true
		call = append(call, frame{v: v})
	}
	for s := range n {
		if index[s] >= 0 {
			continue
		}
		visit(s)
		for len(call) > 0 {
			top := &call[len(call)-1]
			v := top.v
			if top.next < len(out[v]) {
				w := out[v][top.next]
				top.next++
				if index[w] < 0 {
					visit(w)
				} else if onStack[w] {
					low[v] = min(low[v], index[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				low[u] = min(low[u], low[v])
			}
			if low[v] != index[v] {
				continue
			}
			c := len(members)
			var ms []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = c
				ms = append(ms, w)
				if w == v {
					break
				}
			}
			slices.Sort(ms)
			members = append(members, ms)
		}
	}
	return comp, members
}

// heights returns, per component, the length in components of the longest
// path from it down to a component without deps: 0 for such a component.
func heights(out [][]int, comp []int, members [][]int) []int {
	h := make([]int, len(members))
	// Components are in reverse topological order: deps first.
	for c, ms := range members {
		for _, v := range ms {
			for _, w := range out[v] {
				if d := comp[w]; d != c {
					h[c] = max(h[c], h[d]+1)
				}
			}
		}
	}
	return h
}

// longestChain returns a dependency path that descends one layer at each
// step between components, from the smallest node of the highest layer down
// to layer 0. Between components it takes the edge x -> y with the smallest
// (y, x); inside a component it walks the shortest path (BFS, neighbours in
// name order) from where it entered to x.
func longestChain(out [][]int, comp []int, members [][]int, height []int) []int {
	if len(out) == 0 {
		return []int{}
	}
	top := slices.Max(height)
	u := -1
	for v := range out {
		if height[comp[v]] == top {
			u = v
			break
		}
	}
	chain := []int{u}
	for height[comp[u]] > 0 {
		c := comp[u]
		x, y := -1, -1
		for _, a := range members[c] {
			for _, b := range out[a] {
				if comp[b] == c || height[comp[b]] != height[c]-1 {
					continue
				}
				if y < 0 || b < y || (b == y && a < x) {
					x, y = a, b
				}
			}
		}
		chain = append(chain, innerPath(out, comp, u, x)[1:]...)
		chain = append(chain, y)
		u = y
	}
	return chain
}

// innerPath returns the shortest path from a to b that stays inside their
// component, both ends included. a and b must be in the same component.
func innerPath(out [][]int, comp []int, a, b int) []int {
	if a == b {
		return []int{a}
	}
	prev := map[int]int{a: a}
	queue := []int{a}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range out[v] {
			if comp[w] != comp[a] {
				continue
			}
			if _, seen := prev[w]; seen {
				continue
			}
			prev[w] = v
			if w == b {
				path := []int{b}
				for p := b; p != a; {
					p = prev[p]
					path = append(path, p)
				}
				slices.Reverse(path)
				return path
			}
			queue = append(queue, w)
		}
	}
	return []int{a, b} // unreachable for nodes of one component
}

// undirected returns the adjacency of out with directions dropped,
// deduplicated and sorted.
func undirected(out [][]int) [][]int {
	und := make([][]int, len(out))
	for v, deps := range out {
		for _, w := range deps {
			und[v] = append(und[v], w)
			und[w] = append(und[w], v)
		}
	}
	for v := range und {
		slices.Sort(und[v])
		und[v] = slices.Compact(und[v])
	}
	return und
}

// articulationPoints returns, ascending, the cut vertices of the undirected
// graph und (Hopcroft-Tarjan with an explicit stack).
func articulationPoints(und [][]int) []int {
	n := len(und)
	disc := make([]int, n) // 0 means not visited
	low := make([]int, n)
	parent := make([]int, n)
	isAP := make([]bool, n)
	type frame struct{ v, next int }
	var call []frame
	timer := 0
	for root := range n {
		if disc[root] != 0 {
			continue
		}
		timer++
		disc[root], low[root], parent[root] = timer, timer, -1
		call = append(call[:0], frame{v: root})
		children := 0
		for len(call) > 0 {
			top := &call[len(call)-1]
			v := top.v
			if top.next < len(und[v]) {
				w := und[v][top.next]
				top.next++
				if disc[w] == 0 {
					timer++
					disc[w], low[w], parent[w] = timer, timer, v
					if v == root {
						children++
					}
					call = append(call, frame{v: w})
				} else if w != parent[v] {
					low[v] = min(low[v], disc[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				u := call[len(call)-1].v
				low[u] = min(low[u], low[v])
				if u != root && low[v] >= disc[u] {
					isAP[u] = true
				}
			}
		}
		if children > 1 {
			isAP[root] = true
		}
	}
	var aps []int
	for v, ok := range isAP {
		if ok {
			aps = append(aps, v)
		}
	}
	return aps
}
