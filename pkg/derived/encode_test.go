package derived_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rtt-dev/rtt/pkg/corridor"
	"github.com/rtt-dev/rtt/pkg/derived"
)

var oddStrings = []string{"", "api", "svc \"quoted\"", `back\slash`, "<&>", "tab\tnew\nline", "ünïcode 😀", "\u2028\u2029", "bad \xff utf-8", "\x00\x1f", "a/b"}

var oddFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-6, 9.99e-7, 1e-7, 1.5e-9, 1e20, 1e21, 1.23e21, -2e-8, 123456.789, 0.1 + 0.2, math.MaxFloat64, math.SmallestNonzeroFloat64}

func randomAlignment(rng *rand.Rand) derived.Alignment {
	str := func() string { return oddStrings[rng.IntN(len(oddStrings))] }
	flt := func() float64 {
		if rng.IntN(2) == 0 {
			return oddFloats[rng.IntN(len(oddFloats))]
		}
		return (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(30)-15))
	}
	strs := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		out := make([]string, 1+rng.IntN(4))
		for i := range out {
			out[i] = str()
		}
		return out
	}
	var hops []corridor.Hop
	if rng.IntN(3) > 0 {
		hops = []corridor.Hop{}
		for range rng.IntN(3) {
			hops = append(hops, corridor.Hop{Index: rng.IntN(64) - 1, Expected: str(), Observed: str(), Kind: str()})
		}
	}
	return derived.Alignment{
		RecordID: str(), RunID: str(), Site: str(),
		TS:     time.Date(2026, 1, 19, 10, 0, rng.IntN(60), rng.IntN(1e9)*(rng.IntN(2)), time.UTC),
		Source: str(), SourceEventID: str(), FlowIndex: rng.IntN(1000), Path: strs(),
		RunningScore: flt(), Total: rng.Uint64(), OnTotal: uint64(rng.IntN(100)),
		Alignment: corridor.Alignment{Corridor: str(), Matched: rng.IntN(2) == 0, OnCorridor: rng.IntN(2) == 0, PathMatch: rng.IntN(2) == 0,
			DeviatingHops: hops, LatencyMS: flt(), BudgetMS: flt(), LatencyRatio: flt(), WithinBudget: rng.IntN(2) == 0, Score: flt()},
	}
}

// AppendJSON writes json.Marshal's bytes for every alignment, and its error
// for what it refuses.
func TestAlignmentAppendJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		a := randomAlignment(rng)
		want, werr := json.Marshal(a)
		got, gerr := a.AppendJSON(nil)
		if werr != nil || gerr != nil {
			t.Fatalf("record %d: json.Marshal %v, AppendJSON %v", i, werr, gerr)
		}
		if string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
	bad := randomAlignment(rng)
	bad.Score = math.NaN()
	if _, err := bad.AppendJSON(nil); err == nil {
		t.Fatal("a NaN score must be refused, as json.Marshal refuses it")
	}
	far := randomAlignment(rng)
	far.TS = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := far.AppendJSON(nil); err == nil {
		t.Fatal("a time json.Marshal cannot encode must be refused")
	}
}

func BenchmarkAlignmentEncode(b *testing.B) {
	// A typical record: an off-path flow of a load generator beacon.
	a := derived.Alignment{RecordID: "a-0123456789abcdef0123456789abcdef", Site: "dc-118", TS: time.Date(2026, 11, 26, 2, 16, 0, 123456000, time.UTC),
		Source: "beacon", SourceEventID: "b-5f1e2d3c4b5a69788796a5b4c3d2e1f0", FlowIndex: 1, Path: []string{"ingress", "api", "scheduler", "db-replica"},
		RunningScore: 0.731245, Total: 1234, OnTotal: 1001,
		Alignment: corridor.Alignment{Corridor: "sched", Matched: true, DeviatingHops: []corridor.Hop{{Index: 3, Expected: "db", Observed: "db-replica", Kind: "substitute"}},
			LatencyMS: 16.8, BudgetMS: 40, LatencyRatio: 0.42, WithinBudget: true, Score: 0.75}}
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = a.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
