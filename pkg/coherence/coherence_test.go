package coherence

import (
	"encoding/json"
	"errors"
	"github.com/rtt-dev/rtt/internal/goldenfile"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestValidateGuide(t *testing.T) {
	in := Input{
		SystemMap: SystemMap{Nodes: 128, Services: []string{"auth", "api", "db"}},
		Flows:     []Flow{{From: "api", To: "db"}},
	}
	if err := ValidateInput(in); err != nil {
		t.Fatal(err)
	}
	got := Validate(in)
	want := Result{Coherent: true, Score: 1, Services: 3, Flows: 1, Violations: []Violation{}, Isolated: []string{"auth"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate\n got %+v\nwant %+v", got, want)
	}
}

func TestValidateRules(t *testing.T) {
	svc := SystemMap{Services: []string{"a", "b", "c", "d"}}
	tests := []struct {
		name  string
		in    Input
		rules []string
		score float64
	}{
		{"empty input", Input{}, nil, 1},
		{"unknown endpoint", Input{SystemMap: svc, Flows: []Flow{{"a", "x"}}}, []string{RuleUnknownService}, 0.5},
		{"both endpoints unknown", Input{SystemMap: svc, Flows: []Flow{{"x", "y"}, {"a", "b"}}},
			[]string{RuleUnknownService, RuleUnknownService}, 0.5},
		{"no services declared", Input{Flows: []Flow{{"a", "b"}}}, []string{RuleUnknownService, RuleUnknownService}, 0},
		{"empty endpoint", Input{SystemMap: svc, Flows: []Flow{{"a", ""}}}, []string{RuleDanglingFlow}, 0},
		{"self-loop of an unknown service", Input{SystemMap: svc, Flows: []Flow{{"x", "x"}}},
			[]string{RuleDanglingFlow, RuleUnknownService}, 0},
		{"forbid_edge kept", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}},
			Constraints: []Constraint{{Type: TypeForbidEdge, From: "b", To: "a"}}}, nil, 1},
		{"forbid_edge broken by two flows costs one constraint", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}, {"a", "b"}},
			Constraints: []Constraint{{Type: TypeForbidEdge, From: "a", To: "b"}}},
			[]string{TypeForbidEdge, TypeForbidEdge}, 1 - 1.0/3},
		{"require_edge not met by the reverse flow", Input{SystemMap: svc, Flows: []Flow{{"b", "a"}},
			Constraints: []Constraint{{Type: TypeRequireEdge, From: "a", To: "b"}}}, []string{TypeRequireEdge}, 0.5},
		{"self-loop is not a cycle for no_cycles", Input{SystemMap: svc, Flows: []Flow{{"a", "a"}},
			Constraints: []Constraint{{Type: TypeNoCycles}}}, []string{RuleDanglingFlow}, 0.5},
		{"two cycles, one constraint", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}, {"b", "a"}, {"c", "d"}, {"d", "c"}},
			Constraints: []Constraint{{Type: TypeNoCycles}}}, []string{TypeNoCycles, TypeNoCycles}, 0.8},
		{"max_depth met", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}, {"b", "c"}},
			Constraints: []Constraint{{Type: TypeMaxDepth, Value: ptr(2)}}}, nil, 1},
		{"max_depth broken", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}, {"b", "c"}},
			Constraints: []Constraint{{Type: TypeMaxDepth, Value: ptr(1)}}}, []string{TypeMaxDepth}, 1 - 1.0/3},
		{"max_depth 0 with no flows", Input{SystemMap: svc,
			Constraints: []Constraint{{Type: TypeMaxDepth, Value: ptr(0)}}}, nil, 1},
		{"max_fanout counts distinct targets", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}, {"a", "b"}, {"a", "c"}},
			Constraints: []Constraint{{Type: TypeMaxFanout, Value: ptr(2)}}}, nil, 1},
		{"max_fanout broken", Input{SystemMap: svc, Flows: []Flow{{"a", "b"}, {"a", "c"}, {"a", "d"}},
			Constraints: []Constraint{{Type: TypeMaxFanout, Value: ptr(2)}}}, []string{TypeMaxFanout}, 0.75},
		{"malformed constraint", Input{SystemMap: svc, Constraints: []Constraint{{Type: "foo"}}},
			[]string{RuleInvalidConstraint}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Validate(tt.in)
			var rules []string
			for _, v := range r.Violations {
				rules = append(rules, v.Rule)
			}
			if !reflect.DeepEqual(rules, tt.rules) {
				t.Errorf("rules = %v, want %v", rules, tt.rules)
			}
			if diff := r.Score - tt.score; diff > 1e-6 || diff < -1e-6 {
				t.Errorf("score = %v, want %v", r.Score, tt.score)
			}
			if r.Coherent != (len(tt.rules) == 0) {
				t.Errorf("coherent = %v with %d violations", r.Coherent, len(r.Violations))
			}
		})
	}
}

func TestNoCyclesPath(t *testing.T) {
	in := Input{
		SystemMap:   SystemMap{Services: []string{"a", "b", "c", "d"}},
		Flows:       []Flow{{"b", "c"}, {"c", "d"}, {"d", "b"}, {"c", "b"}, {"a", "b"}},
		Constraints: []Constraint{{Type: TypeNoCycles}},
	}
	r := Validate(in)
	if len(r.Violations) != 1 {
		t.Fatalf("violations = %+v", r.Violations)
	}
	if got, want := r.Violations[0].Path, []string{"b", "c", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cycle path = %v, want %v", got, want)
	}
}

func TestValidateInput(t *testing.T) {
	ok := SystemMap{Nodes: 3, Services: []string{"a", "b"}}
	tests := []struct {
		name string
		in   Input
		err  string // "" means valid
	}{
		{"valid", Input{SystemMap: ok, Constraints: []Constraint{
			{Type: TypeForbidEdge, From: "a", To: "b"}, {Type: TypeRequireEdge, From: "b", To: "a"},
			{Type: TypeNoCycles}, {Type: TypeMaxDepth, Value: ptr(0)}, {Type: TypeMaxFanout, Value: ptr(4)},
		}}, ""},
		{"flows with empty endpoints are not errors", Input{Flows: []Flow{{"", ""}}}, ""},
		{"negative nodes", Input{SystemMap: SystemMap{Nodes: -1}}, "system_map.nodes: must be >= 0, got -1"},
		{"empty service", Input{SystemMap: SystemMap{Services: []string{"a", ""}}}, "system_map.services[1]: must not be empty"},
		{"duplicate service", Input{SystemMap: SystemMap{Services: []string{"a", "b", "a"}}},
			`system_map.services[2]: duplicate service "a" (also services[0])`},
		{"unknown type", Input{Constraints: []Constraint{{Type: TypeNoCycles}, {Type: "foo"}}},
			`constraints[1].type: unknown constraint "foo"`},
		{"missing type", Input{Constraints: []Constraint{{}}}, "constraints[0].type: required"},
		{"missing from", Input{Constraints: []Constraint{{Type: TypeForbidEdge, To: "b"}}},
			"constraints[0].from: required for forbid_edge"},
		{"missing to", Input{Constraints: []Constraint{{Type: TypeRequireEdge, From: "a"}}},
			"constraints[0].to: required for require_edge"},
		{"self-loop edge", Input{Constraints: []Constraint{{Type: TypeRequireEdge, From: "a", To: "a"}}},
			`constraints[0].to: must differ from from ("a"): a self-loop is never a valid flow`},
		{"value on edge", Input{Constraints: []Constraint{{Type: TypeForbidEdge, From: "a", To: "b", Value: ptr(1)}}},
			"constraints[0].value: not allowed for forbid_edge"},
		{"missing value", Input{Constraints: []Constraint{{Type: TypeMaxDepth}}}, "constraints[0].value: required for max_depth"},
		{"negative value", Input{Constraints: []Constraint{{Type: TypeMaxFanout, Value: ptr(-2)}}},
			"constraints[0].value: must be >= 0, got -2"},
		{"from on no_cycles", Input{Constraints: []Constraint{{Type: TypeNoCycles, From: "a"}}},
			"constraints[0].from: not allowed for no_cycles"},
		{"too many constraints", Input{Constraints: make([]Constraint, MaxConstraints+1)},
			"constraints: more than 1000 constraints"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateInput(tt.in)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var fe *FieldError
			if err == nil || err.Error() != tt.err || !errors.Is(err, ErrInvalidInput) || !errors.As(err, &fe) {
				t.Fatalf("error = %v, want %q wrapping ErrInvalidInput", err, tt.err)
			}
		})
	}
}

func TestValidateGolden(t *testing.T) {
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
			var input Input
			if err := json.Unmarshal(raw, &input); err != nil {
				t.Fatal(err)
			}
			type golden struct {
				InputError string `json:"input_error"`
				Result     Result `json:"result"`
			}
			g := golden{Result: Validate(input)}
			if err := ValidateInput(input); err != nil {
				g.InputError = err.Error()
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := strings.TrimSuffix(in, ".json") + ".golden"
			goldenfile.Check(t, path, got)
		})
	}
}

func BenchmarkValidate(b *testing.B) {
	in := Input{SystemMap: SystemMap{Services: []string{"a", "b", "c", "d", "e"}}}
	for i := range 1000 {
		in.Flows = append(in.Flows, Flow{From: string(rune('a' + i%5)), To: string(rune('a' + (i*3+1)%5))})
	}
	in.Constraints = []Constraint{{Type: TypeNoCycles}, {Type: TypeMaxDepth, Value: ptr(3)}, {Type: TypeMaxFanout, Value: ptr(2)}}
	b.ReportAllocs()
	for b.Loop() {
		Validate(in)
	}
}
