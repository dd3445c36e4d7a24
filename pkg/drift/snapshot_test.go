package drift

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// step is one delivery to a Tracker.
type step struct {
	key string
	in  Input
}

// scenario returns n deliveries to 16 keys: noisy structures with occasional
// step changes, rewired graphs, one-beacon outliers, beacons without a graph,
// gaps in Seq and redeliveries of earlier beacons.
func scenario(seed uint64, n int) []step {
	r := rand.New(rand.NewPCG(seed, 1))
	graphs := []map[string][]string{mesh, rewired, typicalGraph(), {}}
	type truth struct {
		counts [NumCounts]float64
		graph  int
		past   []Input
	}
	keys := make([]truth, 16)
	for i := range keys {
		keys[i].counts = [NumCounts]float64{float64(r.IntN(5)), 1, float64(r.IntN(4)), float64(5 + r.IntN(20)), float64(100 + r.IntN(2000))}
		keys[i].graph = r.IntN(len(graphs))
	}
	var steps []step
	var seq uint64
	for i := range n {
		k := r.IntN(len(keys))
		key := fmt.Sprintf("site-%d\x00scope", k)
		tr := &keys[k]
		if len(tr.past) > 0 && r.IntN(20) == 0 {
			steps = append(steps, step{key, tr.past[r.IntN(len(tr.past))]})
			continue
		}
		switch r.IntN(60) {
		case 0:
			tr.counts[r.IntN(NumCounts)] += float64(3 + r.IntN(1000))
		case 1:
			tr.graph = r.IntN(len(graphs))
		}
		c := tr.counts
		for j := range c {
			c[j] += math.Round(c[j] * 0.05 * (2*r.Float64() - 1))
		}
		if r.IntN(30) == 0 {
			c[DomNodes] *= 2
		}
		var g map[string][]string
		if r.IntN(4) != 0 {
			g = graphs[tr.graph]
		}
		seq += uint64(1 + r.IntN(3))
		in := Input{
			EventID:  fmt.Sprintf("b-%d", seq),
			TS:       t0.Add(time.Duration(i) * 10 * time.Second),
			Seq:      seq,
			Features: Features{Counts: c, Graph: g},
		}
		tr.past = append(tr.past, in)
		steps = append(steps, step{key, in})
	}
	return steps
}

type outcome struct {
	m       Measurement
	ev      *Event
	applied bool
}

// TestRestartContinuesExactly runs a scenario once without interruption and
// once the way the service does: after every few beacons the dirty keys are
// stored, and at random flushes the Tracker is thrown away and rebuilt from
// the store. Both runs must produce the same outputs.
func TestRestartContinuesExactly(t *testing.T) {
	cooled := DefaultParams()
	cooled.Cooldown = 5 * time.Minute
	for _, p := range []Params{DefaultParams(), cooled} {
		t.Run(fmt.Sprintf("cooldown %v", p.Cooldown), func(t *testing.T) {
			steps := scenario(7, 5000)
			a := NewTracker(p)
			want := make([]outcome, len(steps))
			var events, redeliveries, topology int
			for i, s := range steps {
				m, ev, applied := a.Step(s.key, s.in)
				want[i] = outcome{m, ev, applied}
				if ev != nil {
					events++
					if ev.Vector.Topology > 0 {
						topology++
					}
				}
				if !applied {
					redeliveries++
				}
			}
			if events < 10 || topology < 3 || redeliveries < 100 {
				t.Fatalf("scenario too tame: %d events (%d with topology), %d redeliveries", events, topology, redeliveries)
			}

			r := rand.New(rand.NewPCG(3, 4))
			store := map[string][]byte{}
			b := NewTracker(p)
			restarts := 0
			for i, s := range steps {
				m, ev, applied := b.Step(s.key, s.in)
				if got := (outcome{m, ev, applied}); !reflect.DeepEqual(got, want[i]) {
					t.Fatalf("step %d after %d restarts:\n got %+v %+v\nwant %+v %+v", i, restarts, got, got.ev, want[i], want[i].ev)
				}
				if i%10 != 9 {
					continue
				}
				for _, k := range b.Dirty() {
					store[k], _ = b.Snapshot(k)
				}
				b.ClearDirty()
				if r.IntN(5) == 0 {
					restarts++
					b = NewTracker(p)
					for k, v := range store {
						if err := b.Load(k, v); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			for k := range a.keys {
				sa, _ := a.Snapshot(k)
				sb, _ := b.Snapshot(k)
				if !bytes.Equal(sa, sb) {
					t.Fatalf("key %q: final states differ", k)
				}
			}
		})
	}
}

// goldenState builds a key whose state uses every part of the encoding: a
// baseline graph, a last event and an open topology-only streak.
func goldenState(t testing.TB) *Tracker {
	tr := NewTracker(DefaultParams())
	for i, b := range []beat{{normal, mesh}, {bigger, mesh}, {bigger, mesh}, {bigger, rewired}} {
		tr.Step("k", input(i, b))
	}
	st := tr.keys["k"]
	if st.streak != 1 || st.flags&snapFlags != hasGraph|hasEvent|topoOnly {
		t.Fatalf("golden state has streak %d, flags %#x", st.streak, st.flags)
	}
	return tr
}

func TestSnapshotGolden(t *testing.T) {
	snap, _ := goldenState(t).Snapshot("k")
	path := filepath.Join("testdata", "snapshot_v1.hex")
	if *update {
		if err := os.WriteFile(path, []byte(hex.Dump(snap)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden := readHexDump(t, path)
	if !bytes.Equal(snap, golden) {
		t.Fatalf("snapshot changed; stored states would not load the same. Got\n%s", hex.Dump(snap))
	}
	tr := NewTracker(DefaultParams())
	if err := tr.Load("k", golden); err != nil {
		t.Fatal(err)
	}
	if again, _ := tr.Snapshot("k"); !bytes.Equal(again, golden) {
		t.Fatal("Load then Snapshot does not give the same bytes")
	}
}

// readHexDump parses the output of hex.Dump.
func readHexDump(t testing.TB, path string) []byte {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		// "00000000  01 07 ...  |...|": hex between the offset and the text.
		line, _, _ = strings.Cut(line, "|")
		fields := strings.Fields(line)
		for _, f := range fields[1:] {
			b, err := hex.DecodeString(f)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, b...)
		}
	}
	return out
}

func TestLoadRejects(t *testing.T) {
	good, _ := goldenState(t).Snapshot("k")
	plainTr := NewTracker(DefaultParams())
	plainTr.Step("k", input(0, beat{counts: normal}))
	plain, _ := plainTr.Snapshot("k")
	edit := func(b []byte, f func([]byte)) []byte { b = bytes.Clone(b); f(b); return b }

	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"version 2", edit(good, func(b []byte) { b[0] = 2 }), "unsupported version 2"},
		{"JSON", []byte(`{"base":[1,2,3]}`), "unsupported version"},
		{"trailing byte", append(bytes.Clone(good), 0), "after the end"},
		{"unknown flag", edit(plain, func(b []byte) { b[1] |= 0x10 }), "unknown flags"},
		{"topology streak without streak", edit(plain, func(b []byte) { b[1] |= topoOnly }), "topology streak"},
		{"NaN baseline", edit(plain, func(b []byte) { binary.LittleEndian.PutUint64(b[10:], math.Float64bits(math.NaN())) }), "baseline nav_count"},
		{"huge baseline", edit(plain, func(b []byte) { binary.LittleEndian.PutUint64(b[42:], math.Float64bits(1e300)) }), "baseline dom_nodes"},
		{"unsorted hashes", edit(good, func(b []byte) {
			n := len(b) - 8
			copy(b[n:], b[n-8:n]) // the last edge hash repeats the one before
		}), "not strictly ascending"},
		{"graph longer than the data", edit(good, func(b []byte) {
			// mesh: 4 nodes and 4 edges, after the two u32 counts
			binary.LittleEndian.PutUint32(b[len(b)-8*(4+4)-8:], math.MaxUint32)
		}), "truncated"},
	}
	for i := 1; i < len(good); i++ {
		tests = append(tests, struct {
			name string
			b    []byte
			want string
		}{fmt.Sprintf("cut at %d", i), good[:i], "truncated"})
	}
	for _, tc := range tests {
		tr := NewTracker(DefaultParams())
		err := tr.Load("k", tc.b)
		if !errors.Is(err, ErrInvalidSnapshot) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load = %v, want ErrInvalidSnapshot mentioning %q", tc.name, err, tc.want)
		}
		if tr.Has("k") {
			t.Errorf("%s: a failed Load added the key", tc.name)
		}
	}
}

func TestLoadReplacesState(t *testing.T) {
	src := goldenState(t)
	snap, _ := src.Snapshot("k")
	tr := NewTracker(DefaultParams())
	for i := range 3 {
		tr.Step("k", input(i, beat{counts: zero}))
	}
	if err := tr.Load("k", snap); err != nil {
		t.Fatal(err)
	}
	if got, _ := tr.Snapshot("k"); !bytes.Equal(got, snap) {
		t.Fatal("Load did not replace the state")
	}
	if d := tr.Dirty(); len(d) != 1 || d[0] != "k" {
		t.Fatalf("Dirty %v: Load must keep the key's dirty mark", d)
	}
	// Both trackers continue identically.
	next := input(4, beat{bigger, rewired})
	ma, eva, _ := src.Step("k", next)
	mb, evb, _ := tr.Step("k", next)
	if ma != mb || !reflect.DeepEqual(eva, evb) || eva == nil {
		t.Fatalf("after Load: %+v %+v, uninterrupted: %+v %+v", mb, evb, ma, eva)
	}
}

func FuzzLoad(f *testing.F) {
	good, _ := goldenState(f).Snapshot("k")
	f.Add(good)
	f.Add([]byte{snapshotV1})
	f.Add([]byte{})
	plainTr := NewTracker(DefaultParams())
	plainTr.Step("k", input(0, beat{counts: normal}))
	plain, _ := plainTr.Snapshot("k")
	f.Add(plain)
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTracker(DefaultParams())
		if err := tr.Load("k", b); err != nil {
			if !errors.Is(err, ErrInvalidSnapshot) || tr.Has("k") {
				t.Fatalf("Load = %v, Has = %v", err, tr.Has("k"))
			}
			return
		}
		// Every state has one encoding, so what loads re-encodes unchanged.
		again, _ := tr.Snapshot("k")
		if !bytes.Equal(again, b) {
			t.Fatalf("Snapshot(Load(%x)) = %x", b, again)
		}
		// A loaded state must be usable.
		for i, bt := range []beat{{normal, mesh}, {bigger, rewired}, {bigger, nil}, {zero, rewired}} {
			in := input(i, bt)
			in.Seq = math.MaxUint64 - 4 + uint64(i)
			tr.Step("k", in)
		}
	})
}
