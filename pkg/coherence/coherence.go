package coherence

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/rtt-dev/rtt/pkg/topology"
)

// Limits enforced by [ValidateInput].
const (
	// MaxServices is the largest number of entries in system_map.services.
	MaxServices = 10000
	// MaxFlows is the largest number of flows.
	MaxFlows = 100000
	// MaxConstraints is the largest number of constraints.
	MaxConstraints = 1000
)

// Constraint types, which are also the Rule of the violations they produce.
const (
	// TypeForbidEdge forbids any flow from From to To.
	TypeForbidEdge = "forbid_edge"
	// TypeRequireEdge requires at least one flow from From to To.
	TypeRequireEdge = "require_edge"
	// TypeNoCycles forbids cycles among the flows.
	TypeNoCycles = "no_cycles"
	// TypeMaxDepth bounds the longest dependency chain, in hops, by Value.
	TypeMaxDepth = "max_depth"
	// TypeMaxFanout bounds the number of distinct services one service
	// calls by Value.
	TypeMaxFanout = "max_fanout"
)

// Rules of violations that do not come from a constraint.
const (
	// RuleUnknownService means a flow endpoint is not in
	// system_map.services.
	RuleUnknownService = "unknown_service"
	// RuleDanglingFlow means a flow has an empty endpoint or is a
	// self-loop.
	RuleDanglingFlow = "dangling_flow"
	// RuleInvalidConstraint means a constraint is malformed: one
	// [ValidateInput] would reject.
	RuleInvalidConstraint = "invalid_constraint"
)

// ErrInvalidInput is wrapped by every error [ValidateInput] returns.
var ErrInvalidInput = errors.New("invalid coherence input")

// FieldError names the input field that failed and the rule it broke, as in
// `constraints[1].type: unknown constraint "foo"`. It wraps [ErrInvalidInput].
type FieldError struct {
	// Field is a JSON path such as "system_map.services[2]".
	Field  string
	Reason string
}

// Error returns "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns [ErrInvalidInput].
func (e *FieldError) Unwrap() error { return ErrInvalidInput }

// Input is the validate payload.
type Input struct {
	SystemMap   SystemMap    `json:"system_map"`
	Flows       []Flow       `json:"flows"`
	Constraints []Constraint `json:"constraints"`
}

// SystemMap declares the system: how many nodes (machines) it has and which
// services exist. Nodes is reported back but not otherwise checked.
type SystemMap struct {
	Nodes    int      `json:"nodes"`
	Services []string `json:"services"`
}

// Flow is one observed call from a service to another. It is also used as
// the edge a violation concerns.
type Flow struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Constraint is one declared rule. forbid_edge and require_edge use From and
// To; max_depth and max_fanout use Value; no_cycles uses nothing.
type Constraint struct {
	Type  string `json:"type"`
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
	Value *int   `json:"value,omitempty"`
}

// Result is the outcome of [Validate].
type Result struct {
	// Coherent reports that there are no violations.
	Coherent bool `json:"coherent"`
	// Score is in [0,1]; 1 means fully coherent. See docs/diagnostics.md.
	Score float64 `json:"score"`
	// Services, Flows and Constraints count what was checked (distinct
	// non-empty services).
	Services    int `json:"services"`
	Flows       int `json:"flows"`
	Constraints int `json:"constraints"`
	// Violations lists flow violations in flow order, then constraint
	// violations in constraint order. Never nil.
	Violations []Violation `json:"violations"`
	// Isolated lists, sorted, declared services that are an endpoint of no
	// flow. This is information, not a violation. Never nil.
	Isolated []string `json:"isolated"`
}

// Violation is one broken rule and what it concerns.
type Violation struct {
	// Rule is one of the Rule* constants or, for a broken constraint, its
	// type (one of the Type* constants).
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
	// Flow is the index in Input.Flows of the flow concerned, if any.
	Flow *int `json:"flow,omitempty"`
	// Constraint is the index in Input.Constraints of the constraint
	// broken, if any.
	Constraint *int `json:"constraint,omitempty"`
	// Edge is the edge concerned: the flow's, or the constraint's.
	Edge *Flow `json:"edge,omitempty"`
	// Service is the service concerned (unknown_service, max_fanout).
	Service string `json:"service,omitempty"`
	// Path is a cycle (first service repeated at the end) for no_cycles,
	// the longest chain for max_depth.
	Path []string `json:"path,omitempty"`
}

// Penalty weights of the score; see docs/diagnostics.md.
const (
	unknownEndpointPenalty = 0.5
	danglingPenalty        = 1
	constraintPenalty      = 1
)

// ValidateInput rejects malformed input: a negative system_map.nodes, empty
// or duplicate service names, more than [MaxServices] services, [MaxFlows]
// flows or [MaxConstraints] constraints, and constraints of an unknown type
// or with missing, invalid or unexpected fields. Flows with empty endpoints
// are not errors but violations that [Validate] reports. The error is a
// *[FieldError] naming the first bad field and wraps [ErrInvalidInput].
func ValidateInput(in Input) error {
	if in.SystemMap.Nodes < 0 {
		return &FieldError{Field: "system_map.nodes", Reason: fmt.Sprintf("must be >= 0, got %d", in.SystemMap.Nodes)}
	}
	if len(in.SystemMap.Services) > MaxServices {
		return &FieldError{Field: "system_map.services", Reason: fmt.Sprintf("more than %d services", MaxServices)}
	}
	seen := make(map[string]int, len(in.SystemMap.Services))
	for i, s := range in.SystemMap.Services {
		field := fmt.Sprintf("system_map.services[%d]", i)
		if s == "" {
			return &FieldError{Field: field, Reason: "must not be empty"}
		}
		if j, dup := seen[s]; dup {
			return &FieldError{Field: field, Reason: fmt.Sprintf("duplicate service %q (also services[%d])", s, j)}
		}
		seen[s] = i
	}
	if len(in.Flows) > MaxFlows {
		return &FieldError{Field: "flows", Reason: fmt.Sprintf("more than %d flows", MaxFlows)}
	}
	if len(in.Constraints) > MaxConstraints {
		return &FieldError{Field: "constraints", Reason: fmt.Sprintf("more than %d constraints", MaxConstraints)}
	}
	for i, c := range in.Constraints {
		if err := validateConstraint(i, c); err != nil {
			return err
		}
	}
	return nil
}

func validateConstraint(i int, c Constraint) *FieldError {
	bad := func(field, reason string) *FieldError {
		return &FieldError{Field: fmt.Sprintf("constraints[%d].%s", i, field), Reason: reason}
	}
	var needEdge, needValue bool
	switch c.Type {
	case "":
		return bad("type", "required")
	case TypeForbidEdge, TypeRequireEdge:
		needEdge = true
	case TypeMaxDepth, TypeMaxFanout:
		needValue = true
	case TypeNoCycles:
	default:
		return bad("type", fmt.Sprintf("unknown constraint %q", c.Type))
	}
	if needEdge {
		switch {
		case c.From == "":
			return bad("from", "required for "+c.Type)
		case c.To == "":
			return bad("to", "required for "+c.Type)
		case c.From == c.To:
			return bad("to", fmt.Sprintf("must differ from from (%q): a self-loop is never a valid flow", c.From))
		}
	} else {
		if c.From != "" {
			return bad("from", "not allowed for "+c.Type)
		}
		if c.To != "" {
			return bad("to", "not allowed for "+c.Type)
		}
	}
	switch {
	case needValue && c.Value == nil:
		return bad("value", "required for "+c.Type)
	case needValue && *c.Value < 0:
		return bad("value", fmt.Sprintf("must be >= 0, got %d", *c.Value))
	case !needValue && c.Value != nil:
		return bad("value", "not allowed for "+c.Type)
	}
	return nil
}

// Validate checks in and never fails: input [ValidateInput] would reject
// still gets a result, with malformed constraints reported as
// invalid_constraint violations and duplicate services counted once.
//
// Rules: a flow with an empty endpoint or from == to is dangling; a non-empty
// endpoint not in system_map.services is unknown (so with no services
// declared, every endpoint is). Constraints are checked on the graph of the
// non-dangling flows, duplicates counted once: forbid_edge is broken by each
// flow from -> to; require_edge when no such flow exists; no_cycles once per
// cycle; max_depth when the longest dependency chain, with each cycle counted
// as one step, has more than value hops; max_fanout once per service calling
// more than value distinct services.
func Validate(in Input) Result {
	res := Result{
		Flows:       len(in.Flows),
		Constraints: len(in.Constraints),
		Violations:  []Violation{},
		Isolated:    []string{},
	}
	services := make(map[string]bool, len(in.SystemMap.Services))
	for _, s := range in.SystemMap.Services {
		if s != "" {
			services[s] = true
		}
	}
	res.Services = len(services)

	g := newGraph()
	touched := map[string]bool{}
	penalty := 0.0
	for i, f := range in.Flows {
		touched[f.From], touched[f.To] = true, true
		edge := f
		flowPenalty := 0.0
		add := func(rule, service, reason string, p float64) {
			res.Violations = append(res.Violations, Violation{
				Rule: rule, Reason: reason, Flow: ptr(i), Edge: &edge, Service: service,
			})
			flowPenalty += p
		}
		switch {
		case f.From == "" || f.To == "":
			add(RuleDanglingFlow, "", "flow has an empty endpoint", danglingPenalty)
		case f.From == f.To:
			add(RuleDanglingFlow, "", fmt.Sprintf("flow from %q to itself", f.From), danglingPenalty)
		default:
			g.add(i, f.From, f.To)
		}
		endpoints := []string{f.From}
		if f.To != f.From {
			endpoints = append(endpoints, f.To)
		}
		for _, s := range endpoints {
			if s != "" && !services[s] {
				add(RuleUnknownService, s, fmt.Sprintf("service %q is not in system_map.services", s), unknownEndpointPenalty)
			}
		}
		penalty += min(flowPenalty, 1)
	}

	for i, c := range in.Constraints {
		vs := g.check(i, c)
		if len(vs) > 0 {
			penalty += constraintPenalty
		}
		res.Violations = append(res.Violations, vs...)
	}

	for s := range services {
		if !touched[s] {
			res.Isolated = append(res.Isolated, s)
		}
	}
	slices.Sort(res.Isolated)

	res.Coherent = len(res.Violations) == 0
	res.Score = 1
	if total := len(in.Flows) + len(in.Constraints); total > 0 {
		res.Score = math.Round(max(0, 1-penalty/float64(total))*1e6) / 1e6
	}
	return res
}

func ptr[T any](v T) *T { return &v }

// graph is the graph of the non-dangling flows, built once and decomposed
// lazily for the constraints that need it.
type graph struct {
	deps  map[string][]string // deduplicated; sorted by decomposed
	edges map[Flow][]int      // flow indexes per edge, ascending
	dec   *topology.Result
}

func newGraph() *graph {
	return &graph{deps: map[string][]string{}, edges: map[Flow][]int{}}
}

// add records flow i, from -> to.
func (g *graph) add(i int, from, to string) {
	e := Flow{From: from, To: to}
	if _, ok := g.edges[e]; !ok {
		g.deps[from] = append(g.deps[from], to)
		if _, ok := g.deps[to]; !ok {
			g.deps[to] = nil
		}
	}
	g.edges[e] = append(g.edges[e], i)
}

func (g *graph) decomposed() *topology.Result {
	if g.dec == nil {
		for k := range g.deps {
			slices.Sort(g.deps[k])
		}
		r := topology.Decompose(g.deps)
		g.dec = &r
	}
	return g.dec
}

// check returns the violations of constraint i.
func (g *graph) check(i int, c Constraint) []Violation {
	if err := validateConstraint(i, c); err != nil {
		return []Violation{{Rule: RuleInvalidConstraint, Reason: err.Error(), Constraint: ptr(i)}}
	}
	var vs []Violation
	add := func(v Violation) {
		v.Rule, v.Constraint = c.Type, ptr(i)
		vs = append(vs, v)
	}
	switch c.Type {
	case TypeForbidEdge:
		e := Flow{From: c.From, To: c.To}
		for _, fi := range g.edges[e] {
			add(Violation{Reason: fmt.Sprintf("flow %s -> %s is forbidden", c.From, c.To), Flow: ptr(fi), Edge: ptr(e)})
		}
	case TypeRequireEdge:
		e := Flow{From: c.From, To: c.To}
		if len(g.edges[e]) == 0 {
			add(Violation{Reason: fmt.Sprintf("required flow %s -> %s is absent", c.From, c.To), Edge: ptr(e)})
		}
	case TypeNoCycles:
		for _, cyc := range g.decomposed().Cycles {
			add(Violation{
				Reason: fmt.Sprintf("services %s form a cycle", strings.Join(cyc, ", ")),
				Path:   g.cyclePath(cyc),
			})
		}
	case TypeMaxDepth:
		d := g.decomposed()
		depth := max(len(d.Layers)-1, 0)
		if depth > *c.Value {
			add(Violation{
				Reason: fmt.Sprintf("dependency depth %d exceeds max_depth %d", depth, *c.Value),
				Path:   d.LongestChain,
			})
		}
	case TypeMaxFanout:
		froms := make([]string, 0, len(g.deps))
		for s, deps := range g.deps {
			if len(deps) > *c.Value {
				froms = append(froms, s)
			}
		}
		slices.Sort(froms)
		for _, s := range froms {
			add(Violation{
				Reason:  fmt.Sprintf("service %q calls %d services, max_fanout is %d", s, len(g.deps[s]), *c.Value),
				Service: s,
			})
		}
	}
	return vs
}

// cyclePath returns a shortest cycle through the first (smallest) member of
// the strongly connected component members, staying inside it, with the
// first service repeated at the end.
func (g *graph) cyclePath(members []string) []string {
	in := make(map[string]bool, len(members))
	for _, m := range members {
		in[m] = true
	}
	s := members[0]
	prev := map[string]string{}
	seen := map[string]bool{s: true}
	queue := []string{s}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.deps[v] {
			if !in[w] {
				continue
			}
			if w == s {
				path := []string{s}
				for p := v; p != s; p = prev[p] {
					path = append(path, p)
				}
				path = append(path, s)
				slices.Reverse(path)
				return path
			}
			if !seen[w] {
				seen[w], prev[w] = true, v
				queue = append(queue, w)
			}
		}
	}
	return append(slices.Clone(members), s) // unreachable for a real component
}
