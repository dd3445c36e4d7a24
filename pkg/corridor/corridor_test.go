package corridor

import (
	"encoding/json"
	"errors"
	"github.com/rtt-dev/rtt/internal/goldenfile"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := Corridor{Name: "c", Path: []string{"a", "b"}, BudgetMS: 10}
	long := make([]string, MaxHops+1)
	for i := range long {
		long[i] = "h"
	}
	tests := []struct {
		name  string
		c     Corridor
		field string // "" means valid
	}{
		{"valid", ok, ""},
		{"empty name", Corridor{Path: []string{"a", "b"}, BudgetMS: 1}, "name"},
		{"no path", Corridor{Name: "c", BudgetMS: 1}, "path"},
		{"one hop", Corridor{Name: "c", Path: []string{"a"}, BudgetMS: 1}, "path"},
		{"too long", Corridor{Name: "c", Path: long, BudgetMS: 1}, "path"},
		{"empty hop", Corridor{Name: "c", Path: []string{"a", "", "b"}, BudgetMS: 1}, "path[1]"},
		{"zero budget", Corridor{Name: "c", Path: []string{"a", "b"}}, "budget_ms"},
		{"negative budget", Corridor{Name: "c", Path: []string{"a", "b"}, BudgetMS: -1}, "budget_ms"},
		{"NaN budget", Corridor{Name: "c", Path: []string{"a", "b"}, BudgetMS: math.NaN()}, "budget_ms"},
		{"Inf budget", Corridor{Name: "c", Path: []string{"a", "b"}, BudgetMS: math.Inf(1)}, "budget_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldErr(t, Validate(tt.c), tt.field, ErrInvalidCorridor)
		})
	}
}

func TestValidateCorridors(t *testing.T) {
	a := Corridor{Name: "a", Path: []string{"x", "y"}, BudgetMS: 1}
	b := Corridor{Name: "b", Path: []string{"x", "y"}, BudgetMS: 1}
	checkFieldErr(t, ValidateCorridors(nil), "", ErrInvalidCorridor)
	checkFieldErr(t, ValidateCorridors([]Corridor{a, b}), "", ErrInvalidCorridor)
	checkFieldErr(t, ValidateCorridors([]Corridor{a, b, a}), "corridors[2].name", ErrInvalidCorridor)
	checkFieldErr(t, ValidateCorridors([]Corridor{a, {Name: "c"}}), "corridors[1].path", ErrInvalidCorridor)
}

func TestValidateFlow(t *testing.T) {
	tests := []struct {
		name  string
		f     Flow
		field string
	}{
		{"valid", Flow{Path: []string{"a"}, LatencyMS: 0}, ""},
		{"no path", Flow{LatencyMS: 1}, "path"},
		{"empty hop", Flow{Path: []string{"a", ""}}, "path[1]"},
		{"negative latency", Flow{Path: []string{"a"}, LatencyMS: -1}, "latency_ms"},
		{"NaN latency", Flow{Path: []string{"a"}, LatencyMS: math.NaN()}, "latency_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFieldErr(t, ValidateFlow(tt.f), tt.field, ErrInvalidFlow)
		})
	}
}

func checkFieldErr(t *testing.T, err error, field string, sentinel error) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FieldError", err)
	}
	if fe.Field != field {
		t.Errorf("field = %q, want %q (error %q)", fe.Field, field, err)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	if !strings.HasPrefix(err.Error(), field+": ") {
		t.Errorf("error %q does not start with the field name", err)
	}
}

func TestAlign(t *testing.T) {
	main := Corridor{Name: "main", Path: []string{"ingress", "api", "db"}, BudgetMS: 20}
	tests := []struct {
		name      string
		corridors []Corridor
		flow      Flow
		want      Alignment
	}{
		{
			name:      "exact and within budget",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api", "db"}, LatencyMS: 12},
			want: Alignment{Corridor: "main", Matched: true, OnCorridor: true, PathMatch: true,
				DeviatingHops: []Hop{}, LatencyMS: 12, BudgetMS: 20, LatencyRatio: 0.6, WithinBudget: true, Score: 1},
		},
		{
			name:      "exact path at the budget",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api", "db"}, LatencyMS: 20},
			want: Alignment{Corridor: "main", Matched: true, OnCorridor: true, PathMatch: true,
				DeviatingHops: []Hop{}, LatencyMS: 20, BudgetMS: 20, LatencyRatio: 1, WithinBudget: true, Score: 1},
		},
		{
			name:      "exact path over budget",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api", "db"}, LatencyMS: 40},
			want: Alignment{Corridor: "main", Matched: true, PathMatch: true,
				DeviatingHops: []Hop{}, LatencyMS: 40, BudgetMS: 20, LatencyRatio: 2, Score: 0.5},
		},
		{
			name:      "extra hop",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "lb", "api", "db"}, LatencyMS: 10},
			want: Alignment{Corridor: "main", Matched: true,
				DeviatingHops: []Hop{{Index: 1, Observed: "lb", Kind: KindExtra}},
				LatencyMS:     10, BudgetMS: 20, LatencyRatio: 0.5, WithinBudget: true, Score: 0.75},
		},
		{
			name:      "missing hop at the end of the middle",
			corridors: []Corridor{{Name: "c", Path: []string{"a", "b", "c", "d"}, BudgetMS: 10}},
			flow:      Flow{Path: []string{"a", "b", "d"}, LatencyMS: 10},
			want: Alignment{Corridor: "c", Matched: true,
				DeviatingHops: []Hop{{Index: 2, Expected: "c", Kind: KindMissing}},
				LatencyMS:     10, BudgetMS: 10, LatencyRatio: 1, WithinBudget: true, Score: 0.75},
		},
		{
			name:      "substituted hop",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api-v2", "db"}, LatencyMS: 30},
			want: Alignment{Corridor: "main", Matched: true,
				DeviatingHops: []Hop{{Index: 1, Expected: "api", Observed: "api-v2", Kind: KindSubstituted}},
				LatencyMS:     30, BudgetMS: 20, LatencyRatio: 1.5, Score: (1 - 1.0/3) * (20.0 / 30)},
		},
		{
			name:      "claimed corridor is used even with other endpoints",
			corridors: []Corridor{main, {Name: "other", Path: []string{"x", "y"}, BudgetMS: 5}},
			flow:      Flow{Path: []string{"ingress", "api", "db"}, LatencyMS: 5, Corridor: "other"},
			want: Alignment{Corridor: "other", Matched: true,
				// Gaps go as early as the traceback allows.
				DeviatingHops: []Hop{
					{Index: 0, Observed: "ingress", Kind: KindExtra},
					{Index: 1, Expected: "x", Observed: "api", Kind: KindSubstituted},
					{Index: 2, Expected: "y", Observed: "db", Kind: KindSubstituted},
				},
				LatencyMS: 5, BudgetMS: 5, LatencyRatio: 1, WithinBudget: true, Score: 0},
		},
		{
			name:      "claimed corridor unknown",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api", "db"}, LatencyMS: 5, Corridor: "nope"},
			want:      Alignment{Corridor: "nope", DeviatingHops: []Hop{}, LatencyMS: 5},
		},
		{
			name:      "endpoints differ",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api", "cache"}, LatencyMS: 5},
			want:      Alignment{DeviatingHops: []Hop{}, LatencyMS: 5},
		},
		{
			name: "no corridors",
			flow: Flow{Path: []string{"a", "b"}, LatencyMS: 5},
			want: Alignment{DeviatingHops: []Hop{}, LatencyMS: 5},
		},
		{
			name: "best similarity wins over input order",
			corridors: []Corridor{
				{Name: "a-long", Path: []string{"a", "x", "y", "z", "b"}, BudgetMS: 10},
				{Name: "b-short", Path: []string{"a", "x", "b"}, BudgetMS: 10},
			},
			flow: Flow{Path: []string{"a", "x", "b"}, LatencyMS: 1},
			want: Alignment{Corridor: "b-short", Matched: true, OnCorridor: true, PathMatch: true,
				DeviatingHops: []Hop{}, LatencyMS: 1, BudgetMS: 10, LatencyRatio: 0.1, WithinBudget: true, Score: 1},
		},
		{
			name: "tie goes to the smaller name",
			corridors: []Corridor{
				{Name: "zz", Path: []string{"a", "x", "b"}, BudgetMS: 10},
				{Name: "aa", Path: []string{"a", "y", "b"}, BudgetMS: 10},
			},
			flow: Flow{Path: []string{"a", "q", "b"}, LatencyMS: 1},
			want: Alignment{Corridor: "aa", Matched: true,
				DeviatingHops: []Hop{{Index: 1, Expected: "y", Observed: "q", Kind: KindSubstituted}},
				LatencyMS:     1, BudgetMS: 10, LatencyRatio: 0.1, WithinBudget: true, Score: 1 - 1.0/3},
		},
		{
			name:      "invalid latency scores 0 but stays finite",
			corridors: []Corridor{main},
			flow:      Flow{Path: []string{"ingress", "api", "db"}, LatencyMS: math.Inf(1)},
			want: Alignment{Corridor: "main", Matched: true, PathMatch: true,
				DeviatingHops: []Hop{}, LatencyMS: math.MaxFloat64, BudgetMS: 20},
		},
		{
			name:      "zero latency over zero-length flow path on a claimed corridor",
			corridors: []Corridor{main},
			flow:      Flow{Corridor: "main"},
			want: Alignment{Corridor: "main", Matched: true,
				DeviatingHops: []Hop{
					{Index: 0, Expected: "ingress", Kind: KindMissing},
					{Index: 0, Expected: "api", Kind: KindMissing},
					{Index: 0, Expected: "db", Kind: KindMissing},
				},
				BudgetMS: 20, WithinBudget: true, Score: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Align(tt.corridors, tt.flow)
			if math.Abs(got.Score-tt.want.Score) > 1e-6 {
				t.Errorf("Score = %v, want %v", got.Score, tt.want.Score)
			}
			got.Score = tt.want.Score
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Align\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTracebackRebuildsPath checks that applying the deviating hops to the
// corridor path gives back the observed path, and that the number of hops is
// the edit distance.
func TestTracebackRebuildsPath(t *testing.T) {
	paths := [][]string{
		{}, {"a"}, {"a", "b"}, {"b", "a"}, {"a", "b", "c", "d"}, {"a", "c", "b", "d"},
		{"a", "a", "a"}, {"x", "y", "z"}, {"a", "b", "b", "c"}, {"d", "c", "b", "a"},
	}
	for _, exp := range paths {
		for _, obs := range paths {
			d := editTable(exp, obs)
			hops := traceback(d, exp, obs)
			if len(hops) != distance(exp, obs) {
				t.Errorf("%v -> %v: %d hops, distance %d", exp, obs, len(hops), distance(exp, obs))
			}
			if got := apply(exp, hops); !reflect.DeepEqual(got, obs) && !(len(got) == 0 && len(obs) == 0) {
				t.Errorf("%v -> %v: hops %+v rebuild %v", exp, obs, hops, got)
			}
		}
	}
}

// apply rebuilds the observed path from the corridor path and the hops.
func apply(exp []string, hops []Hop) []string {
	var out []string
	i := 0 // next corridor hop
	for _, h := range hops {
		// Copy matched hops until the observed position of this edit.
		for len(out) < h.Index && i < len(exp) {
			out = append(out, exp[i])
			i++
		}
		switch h.Kind {
		case KindExtra:
			out = append(out, h.Observed)
		case KindMissing:
			i++
		case KindSubstituted:
			out = append(out, h.Observed)
			i++
		}
	}
	return append(out, exp[i:]...)
}

type alignCase struct {
	Comment   string     `json:"comment"`
	Corridors []Corridor `json:"corridors"`
	Flows     []Flow     `json:"flows"`
}

func TestAlignGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "align", "*.json"))
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
			var c alignCase
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			results := make([]Alignment, 0, len(c.Flows))
			for _, f := range c.Flows {
				results = append(results, Align(c.Corridors, f))
			}
			got, err := json.MarshalIndent(results, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			goldenfile.Check(t, golden, got)
		})
	}
}

func FuzzAlign(f *testing.F) {
	f.Add("ingress,api,db", "ingress,api,db", 12.0, 20.0, "")
	f.Add("a,b,c,d", "a,c,b,d", 30.0, 20.0, "")
	f.Add("a,b", "x", -1.0, 0.0, "c")
	f.Fuzz(func(t *testing.T, corridorPath, flowPath string, latency, budget float64, claim string) {
		cs := []Corridor{{Name: "c", Path: split(corridorPath), BudgetMS: budget}}
		fl := Flow{Path: split(flowPath), LatencyMS: latency, Corridor: claim}
		a := Align(cs, fl)
		if !(a.Score >= 0 && a.Score <= 1) {
			t.Fatalf("score %v outside [0,1]", a.Score)
		}
		if _, err := json.Marshal(a); err != nil {
			t.Fatalf("alignment does not encode: %v", err)
		}
		if a.OnCorridor != (a.PathMatch && a.WithinBudget) {
			t.Fatalf("on_corridor %v, path_match %v, within_budget %v", a.OnCorridor, a.PathMatch, a.WithinBudget)
		}
		if a.Matched && !reflect.DeepEqual(apply(cs[0].Path, a.DeviatingHops), fl.Path) &&
			!(len(fl.Path) == 0 && len(apply(cs[0].Path, a.DeviatingHops)) == 0) {
			t.Fatalf("hops %+v do not rebuild %v from %v", a.DeviatingHops, fl.Path, cs[0].Path)
		}
	})
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Split(s, ",")
}

func BenchmarkAlign(b *testing.B) {
	corridors := []Corridor{
		{Name: "read", Path: []string{"edge", "gateway", "api", "cache", "db"}, BudgetMS: 50},
		{Name: "write", Path: []string{"edge", "gateway", "api", "queue", "worker", "db"}, BudgetMS: 200},
		{Name: "search", Path: []string{"edge", "gateway", "search", "index", "db"}, BudgetMS: 80},
		{Name: "admin", Path: []string{"vpn", "admin", "db"}, BudgetMS: 500},
	}
	flow := Flow{Path: []string{"edge", "gateway", "mesh", "api", "queue", "db"}, LatencyMS: 120}
	b.ReportAllocs()
	for b.Loop() {
		Align(corridors, flow)
	}
}
