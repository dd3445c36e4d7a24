package drift

import (
	"fmt"
	"runtime"
	"testing"
)

// bytesPerKey measures the heap a Tracker needs per key, with n keys that
// each got a typical beacon (5 counts and a 10-node, 15-edge graph) and then
// a drifted one, so every key also holds an open streak and its event id.
func bytesPerKey(n int) float64 {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("datacenter-%06d\x00internal://cluster", i)
	}
	base := Input{EventID: "b-0123456789abcdef0123456789abcdef", TS: t0, Features: Features{Counts: normal, Graph: typicalGraph()}}
	drifted := base
	drifted.EventID = "b-fedcba9876543210fedcba9876543210"
	drifted.Features.Counts = bigger

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr := NewTracker(DefaultParams())
	base.Seq, drifted.Seq = 1, 2
	for _, k := range keys {
		tr.Step(k, base)
		tr.Step(k, drifted)
	}
	tr.ClearDirty()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(tr)
	runtime.KeepAlive(keys)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// TestMemoryBudget holds the service's budget: 100,000 sites in under
// 2 KiB each.
func TestMemoryBudget(t *testing.T) {
	const budget = 2048
	got := bytesPerKey(100_000)
	t.Logf("%.0f bytes per key at 100,000 keys", got)
	if got > budget {
		t.Fatalf("%.0f bytes per key, budget %d", got, budget)
	}
}

func BenchmarkTrackerMemory100k(b *testing.B) {
	var per float64
	for b.Loop() {
		per = bytesPerKey(100_000)
	}
	b.ReportMetric(per, "bytes/key")
}

// BenchmarkStep steps 1,000 keys in turn with noisy beacons, the steady
// state of the service.
func BenchmarkStep(b *testing.B) {
	for _, tc := range []struct {
		name  string
		graph map[string][]string
	}{
		{"counts", nil},
		{"graph10x15", typicalGraph()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const nkeys = 1000
			keys := make([]string, nkeys)
			for i := range keys {
				keys[i] = fmt.Sprintf("datacenter-%04d\x00internal://cluster", i)
			}
			ins := make([]Input, 64)
			for i := range ins {
				c := normal
				c[DomNodes] += float64(i%9 - 4)
				// Distinct ids: a key's consecutive beacons are never one
				// beacon stored twice.
				ins[i] = Input{EventID: fmt.Sprintf("b-%032x", i), TS: t0, Features: Features{Counts: c, Graph: tc.graph}}
			}
			tr := NewTracker(DefaultParams())
			var seq uint64
			b.ReportAllocs()
			for b.Loop() {
				seq++
				in := ins[seq%uint64(len(ins))]
				in.Seq = seq
				tr.Step(keys[seq%nkeys], in)
				if seq%4096 == 0 {
					tr.ClearDirty()
				}
			}
		})
	}
}

func BenchmarkSnapshot(b *testing.B) {
	tr := NewTracker(DefaultParams())
	tr.Step("k", Input{Seq: 1, Features: Features{Counts: normal, Graph: typicalGraph()}})
	var size int
	b.ReportAllocs()
	for b.Loop() {
		s, _ := tr.Snapshot("k")
		if err := tr.Load("k", s); err != nil {
			b.Fatal(err)
		}
		size = len(s)
	}
	b.ReportMetric(float64(size), "snapshot-bytes")
}
