package corridor

import (
	"errors"
	"fmt"
	"math"
)

// MaxHops is the longest path, in hops, that [Validate] and [ValidateFlow]
// accept. Aligning two paths costs time and memory proportional to the product
// of their lengths, so the bound keeps one request cheap.
const MaxHops = 256

// ErrInvalidCorridor is wrapped by every error [Validate] returns.
var ErrInvalidCorridor = errors.New("invalid corridor")

// ErrInvalidFlow is wrapped by every error [ValidateFlow] returns.
var ErrInvalidFlow = errors.New("invalid flow")

// FieldError names the input field that failed and the rule it broke, so an
// HTTP 4xx can say both. It wraps [ErrInvalidCorridor] or [ErrInvalidFlow].
type FieldError struct {
	// Field is the JSON name of the field, e.g. "budget_ms" or "path[2]".
	Field string
	// Reason says which rule failed.
	Reason string

	kind error
}

// Error returns "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns the sentinel error of the kind of input that failed.
func (e *FieldError) Unwrap() error { return e.kind }

// Corridor is a declared route through the system: the hops traffic is
// expected to take, in order, and the end-to-end latency budget.
type Corridor struct {
	Name     string   `json:"name"`
	Path     []string `json:"path"`
	BudgetMS float64  `json:"budget_ms"`
}

// Flow is one observed flow: the hops it took and its end-to-end latency.
// Corridor optionally names the corridor the flow claims to use.
type Flow struct {
	Path      []string `json:"path"`
	LatencyMS float64  `json:"latency_ms"`
	Corridor  string   `json:"corridor,omitempty"`
}

// Kinds of deviating hop.
const (
	// KindExtra is a hop the flow took that the corridor does not have.
	KindExtra = "extra"
	// KindMissing is a corridor hop the flow skipped.
	KindMissing = "missing"
	// KindSubstituted is a corridor hop the flow replaced by another hop.
	KindSubstituted = "substituted"
)

// Hop is one place where a flow's path deviates from its corridor.
//
// Index is a position in the observed path (Flow.Path): the extra or
// substituted hop itself, or, for a missing hop, the position at which the
// expected hop should have appeared (len(Flow.Path) when it is missing at the
// end). Expected is the corridor hop (empty for "extra"), Observed the flow's
// hop (empty for "missing").
type Hop struct {
	Index    int    `json:"index"`
	Expected string `json:"expected,omitempty"`
	Observed string `json:"observed,omitempty"`
	Kind     string `json:"kind"`
}

// Alignment is the result of aligning one flow with one corridor.
//
// Matched reports whether a corridor was found for the flow at all; when it
// is false, Corridor is the name the flow claimed (possibly empty), PathMatch,
// OnCorridor and WithinBudget are false and BudgetMS, LatencyRatio and Score
// are 0. All numbers are finite, so an Alignment always encodes to JSON.
type Alignment struct {
	Corridor string `json:"corridor"`
	Matched  bool   `json:"matched"`
	// OnCorridor is PathMatch && WithinBudget.
	OnCorridor bool `json:"on_corridor"`
	// PathMatch reports that the observed path equals the corridor path.
	PathMatch bool `json:"path_match"`
	// DeviatingHops lists the edits that turn the corridor path into the
	// observed path, in path order. It is empty, never nil, when PathMatch.
	DeviatingHops []Hop   `json:"deviating_hops"`
	LatencyMS     float64 `json:"latency_ms"`
	BudgetMS      float64 `json:"budget_ms"`
	// LatencyRatio is LatencyMS / BudgetMS, rounded to 6 decimal places.
	LatencyRatio float64 `json:"latency_ratio"`
	// WithinBudget reports LatencyMS <= BudgetMS.
	WithinBudget bool `json:"within_budget"`
	// Score is path similarity times latency factor, in [0,1], rounded to 6
	// decimal places; see docs/corridor.md.
	Score float64 `json:"score"`
}

// Validate checks a declared corridor: a non-empty name, a path of 2 to
// [MaxHops] non-empty hops and a finite budget greater than 0. The error is a
// *[FieldError] naming the first field that failed and wraps
// [ErrInvalidCorridor].
func Validate(c Corridor) error {
	bad := func(field, reason string) error {
		return &FieldError{Field: field, Reason: reason, kind: ErrInvalidCorridor}
	}
	if c.Name == "" {
		return bad("name", "must not be empty")
	}
	if len(c.Path) < 2 {
		return bad("path", fmt.Sprintf("needs at least 2 hops, got %d", len(c.Path)))
	}
	if len(c.Path) > MaxHops {
		return bad("path", fmt.Sprintf("has %d hops, at most %d allowed", len(c.Path), MaxHops))
	}
	for i, h := range c.Path {
		if h == "" {
			return bad(fmt.Sprintf("path[%d]", i), "must not be empty")
		}
	}
	if !(c.BudgetMS > 0) || math.IsInf(c.BudgetMS, 0) {
		return bad("budget_ms", fmt.Sprintf("must be a finite number > 0, got %v", c.BudgetMS))
	}
	return nil
}

// ValidateCorridors runs [Validate] on each corridor and also rejects
// duplicate names, since a flow names its corridor. Field names in the error
// are prefixed with "corridors[i].".
func ValidateCorridors(cs []Corridor) error {
	seen := make(map[string]int, len(cs))
	for i, c := range cs {
		if err := Validate(c); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				return &FieldError{Field: fmt.Sprintf("corridors[%d].%s", i, fe.Field), Reason: fe.Reason, kind: fe.kind}
			}
			return err
		}
		if j, dup := seen[c.Name]; dup {
			return &FieldError{
				Field:  fmt.Sprintf("corridors[%d].name", i),
				Reason: fmt.Sprintf("duplicate name %q (also corridors[%d])", c.Name, j),
				kind:   ErrInvalidCorridor,
			}
		}
		seen[c.Name] = i
	}
	return nil
}

// ValidateFlow checks an observed flow: a path of 1 to [MaxHops] non-empty
// hops and a finite latency >= 0. The error is a *[FieldError] and wraps
// [ErrInvalidFlow].
func ValidateFlow(f Flow) error {
	bad := func(field, reason string) error {
		return &FieldError{Field: field, Reason: reason, kind: ErrInvalidFlow}
	}
	if len(f.Path) == 0 {
		return bad("path", "must not be empty")
	}
	if len(f.Path) > MaxHops {
		return bad("path", fmt.Sprintf("has %d hops, at most %d allowed", len(f.Path), MaxHops))
	}
	for i, h := range f.Path {
		if h == "" {
			return bad(fmt.Sprintf("path[%d]", i), "must not be empty")
		}
	}
	if !(f.LatencyMS >= 0) || math.IsInf(f.LatencyMS, 0) {
		return bad("latency_ms", fmt.Sprintf("must be a finite number >= 0, got %v", f.LatencyMS))
	}
	return nil
}

// Align picks the corridor for f and scores f against it.
//
// When f.Corridor is set, the corridor with that name is used (the first one
// if names repeat); if there is none, the flow is unmatched: claiming an
// unknown corridor is reported, not silently re-routed. Otherwise the
// candidates are the corridors whose first and last hops equal the flow's, and
// the one with the highest path similarity wins; ties go to the smallest name,
// then to the earliest in corridors. No candidate means Matched=false and
// Score 0.
//
// Align is deterministic and does not modify its arguments. It expects input
// that passed [Validate] and [ValidateFlow] but never panics on other input,
// and its numbers are always finite. Cost is O(len(corridor path) *
// len(f.Path)) per candidate.
func Align(corridors []Corridor, f Flow) Alignment {
	a := Alignment{LatencyMS: finite(f.LatencyMS), DeviatingHops: []Hop{}}
	c, ok := pick(corridors, f)
	if !ok {
		a.Corridor = f.Corridor
		return a
	}
	a.Corridor = c.Name
	a.Matched = true
	a.BudgetMS = finite(c.BudgetMS)

	table := editTable(c.Path, f.Path)
	dist := table[len(c.Path)][len(f.Path)]
	a.DeviatingHops = traceback(table, c.Path, f.Path)
	a.PathMatch = dist == 0

	factor := 0.0
	lat, budget := f.LatencyMS, c.BudgetMS
	if lat >= 0 && !math.IsInf(lat, 0) && budget > 0 && !math.IsInf(budget, 0) {
		a.LatencyRatio = round6(finite(lat / budget))
		a.WithinBudget = lat <= budget
		if a.WithinBudget {
			factor = 1
		} else {
			factor = budget / lat
		}
	}
	a.OnCorridor = a.PathMatch && a.WithinBudget
	a.Score = round6(clamp01(similarity(dist, len(c.Path), len(f.Path)) * factor))
	return a
}

// pick returns the corridor Align uses for f.
func pick(corridors []Corridor, f Flow) (Corridor, bool) {
	if f.Corridor != "" {
		for _, c := range corridors {
			if c.Name == f.Corridor {
				return c, true
			}
		}
		return Corridor{}, false
	}
	if len(f.Path) == 0 {
		return Corridor{}, false
	}
	first, last := f.Path[0], f.Path[len(f.Path)-1]
	best, bestDist, bestLen := -1, 0, 0
	for i, c := range corridors {
		if len(c.Path) == 0 || c.Path[0] != first || c.Path[len(c.Path)-1] != last {
			continue
		}
		d := distance(c.Path, f.Path)
		l := max(len(c.Path), len(f.Path))
		if best < 0 {
			best, bestDist, bestLen = i, d, l
			continue
		}
		// Similarity 1-d/l is higher when d/l is lower; compare d/l exactly
		// by cross-multiplying instead of comparing rounded floats.
		lhs, rhs := d*bestLen, bestDist*l
		if lhs < rhs || (lhs == rhs && c.Name < corridors[best].Name) {
			best, bestDist, bestLen = i, d, l
		}
	}
	if best < 0 {
		return Corridor{}, false
	}
	return corridors[best], true
}

// similarity is 1 - dist/max(n, m), and 1 for two empty paths.
func similarity(dist, n, m int) float64 {
	l := max(n, m)
	if l == 0 {
		return 1
	}
	return 1 - float64(dist)/float64(l)
}

// distance is the Levenshtein distance between a and b with unit costs, in
// O(len(b)) memory.
func distance(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// editTable returns the full Levenshtein table d, where d[i][j] is the
// distance between exp[:i] and obs[:j].
func editTable(exp, obs []string) [][]int {
	n, m := len(exp), len(obs)
	cells := make([]int, (n+1)*(m+1))
	d := make([][]int, n+1)
	for i := range d {
		d[i] = cells[i*(m+1) : (i+1)*(m+1)]
		d[i][0] = i
	}
	for j := 0; j <= m; j++ {
		d[0][j] = j
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			sub := d[i-1][j-1]
			if exp[i-1] != obs[j-1] {
				sub++
			}
			d[i][j] = min(sub, d[i-1][j]+1, d[i][j-1]+1)
		}
	}
	return d
}

// traceback walks the table from the end back to the start and returns the
// edits in path order. Where several optimal alignments exist it prefers, at
// each step from the end: a match, then a substitution, then a missing hop,
// then an extra hop. That fixed order makes the result deterministic.
func traceback(d [][]int, exp, obs []string) []Hop {
	hops := []Hop{}
	i, j := len(exp), len(obs)
	for i > 0 || j > 0 {
		switch {
		case i > 0 && j > 0 && exp[i-1] == obs[j-1] && d[i][j] == d[i-1][j-1]:
			i, j = i-1, j-1
		case i > 0 && j > 0 && d[i][j] == d[i-1][j-1]+1:
			hops = append(hops, Hop{Index: j - 1, Expected: exp[i-1], Observed: obs[j-1], Kind: KindSubstituted})
			i, j = i-1, j-1
		case i > 0 && d[i][j] == d[i-1][j]+1:
			hops = append(hops, Hop{Index: j, Expected: exp[i-1], Kind: KindMissing})
			i--
		default:
			hops = append(hops, Hop{Index: j - 1, Observed: obs[j-1], Kind: KindExtra})
			j--
		}
	}
	for l, r := 0, len(hops)-1; l < r; l, r = l+1, r-1 {
		hops[l], hops[r] = hops[r], hops[l]
	}
	return hops
}

// finite maps NaN to 0 and ±Inf to ±MaxFloat64 so results always encode to
// JSON.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

// round6 rounds x to 6 decimal places, so results read well and carry no
// floating-point noise such as 0.16000000000000003.
func round6(x float64) float64 {
	if math.Abs(x) >= 1e12 {
		return x
	}
	return math.Round(x*1e6) / 1e6
}

// clamp01 maps x into [0,1], NaN to 0.
func clamp01(x float64) float64 {
	if !(x > 0) {
		return 0
	}
	if x > 1 {
		return 1
	}
	return x
}
