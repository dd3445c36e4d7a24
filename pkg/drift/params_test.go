package drift

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	with := func(f func(*Params)) Params { p := DefaultParams(); f(&p); return p }
	tests := []struct {
		name   string
		p      Params
		fields []string // named by the error, in order
	}{
		{"zero threshold", with(func(p *Params) { p.Threshold = 0 }), []string{"Threshold"}},
		{"negative threshold", with(func(p *Params) { p.Threshold = -1 }), []string{"Threshold"}},
		{"NaN threshold", with(func(p *Params) { p.Threshold = math.NaN() }), []string{"Threshold"}},
		{"infinite threshold", with(func(p *Params) { p.Threshold = math.Inf(1) }), []string{"Threshold"}},
		{"zero confirm", with(func(p *Params) { p.Confirm = 0 }), []string{"Confirm"}},
		{"huge confirm", with(func(p *Params) { p.Confirm = 1 << 40 }), []string{"Confirm"}},
		{"negative alpha", with(func(p *Params) { p.Alpha = -0.1 }), []string{"Alpha"}},
		{"alpha above 1", with(func(p *Params) { p.Alpha = 1.5 }), []string{"Alpha"}},
		{"NaN alpha", with(func(p *Params) { p.Alpha = math.NaN() }), []string{"Alpha"}},
		{"negative cooldown", with(func(p *Params) { p.Cooldown = -time.Second }), []string{"Cooldown"}},
		{"zero value", Params{}, []string{"Threshold", "Confirm"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("Validate() = %v, want ErrInvalidParams", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.fields) {
				t.Fatalf("Validate() = %q, want %d problems", err, len(tc.fields))
			}
			for i, f := range tc.fields {
				if !strings.Contains(lines[i], " "+f+" ") {
					t.Errorf("problem %q does not name %s", lines[i], f)
				}
			}
		})
	}
	for _, ok := range []Params{
		with(func(p *Params) { p.Alpha = 0 }),
		with(func(p *Params) { p.Alpha = 1 }),
		with(func(p *Params) { p.Confirm = 1; p.Cooldown = time.Hour }),
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v, want nil", ok, err)
		}
	}
}

func TestNewTrackerPanicsOnBadParams(t *testing.T) {
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, ErrInvalidParams) {
			t.Fatalf("recovered %v, want ErrInvalidParams", err)
		}
	}()
	NewTracker(Params{})
}
