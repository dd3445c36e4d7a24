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
// gaps in Seq and redeliveries of earlier beacons. Beacons come every 10 s
// of event time; a skew above 0 stamps each one earlier by a random amount
// below it, so that beacons of a key arrive out of event-time order. The
// skew draws from its own generator: the deliveries are otherwise the same.
func scenario(seed uint64, n int, skew time.Duration) []step {
	r := rand.New(rand.NewPCG(seed, 1))
	rskew := rand.New(rand.NewPCG(seed, 2))
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
		ts := t0.Add(time.Duration(i) * 10 * time.Second)
		if skew > 0 {
			ts = ts.Add(-time.Duration(rskew.Int64N(int64(skew))))
		}
		in := Input{
			EventID:  fmt.Sprintf("b-%d", seq),
			TS:       ts,
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
	for _, skew := range []time.Duration{0, 2 * time.Minute} {
		for _, p := range []Params{DefaultParams(), cooled} {
			t.Run(fmt.Sprintf("skew %v cooldown %v", skew, p.Cooldown), func(t *testing.T) {
				testRestart(t, p, scenario(7, 5000, skew), skew > 0)
			})
		}
	}
}

func testRestart(t *testing.T, p Params, steps []step, wantLate bool) {
	a := NewTracker(p)
	want := make([]outcome, len(steps))
	var events, redeliveries, topology, late int
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
		if m.Late {
			late++
		}
	}
	if events < 10 || topology < 3 || redeliveries < 100 || (wantLate && late < 100) || (!wantLate && late > 0) {
		t.Fatalf("scenario not as intended: %d events (%d with topology), %d redeliveries, %d late", events, topology, redeliveries, late)
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
	path := filepath.Join("testdata", "snapshot_v3.hex")
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

// TestOlderSnapshotsLoad loads testdata/snapshot_v1.hex and
// snapshot_v2.hex, which the version 1 and 2 encoders wrote for goldenState
// and -update never rewrites: stored states of every version must keep
// loading, with what their version did not know unknown (0), be written
// back as the current version, and continue like the original.
func TestOlderSnapshotsLoad(t *testing.T) {
	v1 := readHexDump(t, filepath.Join("testdata", "snapshot_v1.hex"))
	v2 := readHexDump(t, filepath.Join("testdata", "snapshot_v2.hex"))
	src := goldenState(t)
	v3, _ := src.Snapshot("k")
	if v2[0] != snapshotV2 || !bytes.Equal(v2, v3ToV2(v3)) {
		t.Fatal("version 3 is not version 2 plus the newest event id")
	}
	if v1[0] != snapshotV1 || !bytes.Equal(v1, v2ToV1(v2)) {
		t.Fatal("version 2 is not version 1 plus the newest event time")
	}
	for _, tc := range []struct {
		name     string
		b        []byte
		upgraded []byte
		unknown  func(*state)
	}{
		{"version 1", v1, v2ToV3(v1ToV2(v1)), func(st *state) { st.newestTS, st.newestID = 0, 0 }},
		{"version 2", v2, v2ToV3(v2), func(st *state) { st.newestID = 0 }},
	} {
		src := goldenState(t)
		tr := NewTracker(DefaultParams())
		if err := tr.Load("k", tc.b); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, want := *tr.keys["k"], *src.keys["k"]
		tc.unknown(&want)
		want.flags &^= dirty
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: loaded\n%+v\nwant\n%+v", tc.name, got, want)
		}
		if upgraded, _ := tr.Snapshot("k"); !bytes.Equal(upgraded, tc.upgraded) {
			t.Fatalf("%s: re-encoded as\n%s", tc.name, hex.Dump(upgraded))
		}
		next := input(4, beat{bigger, rewired})
		ma, eva, _ := src.Step("k", next)
		mb, evb, _ := tr.Step("k", next)
		if ma != mb || !reflect.DeepEqual(eva, evb) || eva == nil {
			t.Fatalf("%s: after Load: %+v %+v, uninterrupted: %+v %+v", tc.name, mb, evb, ma, eva)
		}
		if sa, _ := src.Snapshot("k"); !bytes.Equal(sa, func() []byte { b, _ := tr.Snapshot("k"); return b }()) {
			t.Fatalf("%s: the next beacon did not restore what the version did not know", tc.name)
		}
	}
}

// Offsets in a snapshot: the newest event time (versions 2 and 3) and the
// newest event id (version 3).
const (
	newestAt   = 10
	newestIDAt = 18
)

// v3ToV2 is a version 3 snapshot without its newest event id: the version 2
// encoding of the same state.
func v3ToV2(v3 []byte) []byte {
	b := append(bytes.Clone(v3[:newestIDAt]), v3[newestIDAt+8:]...)
	b[0] = snapshotV2
	return b
}

// v2ToV1 is a version 2 snapshot without its newest event time.
func v2ToV1(v2 []byte) []byte {
	b := append(bytes.Clone(v2[:newestAt]), v2[newestAt+8:]...)
	b[0] = snapshotV1
	return b
}

// v1ToV2 is what a version 1 snapshot loads and re-encodes to: the newest
// event time 0 inserted after the last applied Seq.
func v1ToV2(v1 []byte) []byte {
	b := append(bytes.Clone(v1[:newestAt]), make([]byte, 8)...)
	b[0] = snapshotV2
	return append(b, v1[newestAt:]...)
}

// v2ToV3 is what a version 2 snapshot loads and re-encodes to: the newest
// event id 0 inserted after the newest event time.
func v2ToV3(v2 []byte) []byte {
	b := append(bytes.Clone(v2[:newestIDAt]), make([]byte, 8)...)
	b[0] = snapshotV3
	return append(b, v2[newestIDAt:]...)
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

	type test struct {
		name string
		b    []byte
		want string
	}
	tests := []test{
		{"empty", nil, "empty"},
		{"version 0", edit(good, func(b []byte) { b[0] = 0 }), "unsupported version 0"},
		{"version 4", edit(good, func(b []byte) { b[0] = 4 }), "unsupported version 4"},
		{"JSON", []byte(`{"base":[1,2,3]}`), "unsupported version"},
		// Read as another version, a snapshot is 8 bytes too long or
		// too short.
		{"version 3 marked 2", edit(plain, func(b []byte) { b[0] = 2 }), "after the end"},
		{"version 2 marked 3", edit(v3ToV2(good), func(b []byte) { b[0] = 3 }), "truncated"},
		{"version 2 marked 1", edit(v3ToV2(plain), func(b []byte) { b[0] = 1 }), "after the end"},
		{"version 1 marked 2", edit(v2ToV1(v3ToV2(good)), func(b []byte) { b[0] = 2 }), "truncated"},
	}
	for _, v := range []struct {
		version     int
		good, plain []byte
		baseAt      int // offset of the baseline counts
	}{
		{1, v2ToV1(v3ToV2(good)), v2ToV1(v3ToV2(plain)), newestAt},
		{2, v3ToV2(good), v3ToV2(plain), newestIDAt},
		{3, good, plain, newestIDAt + 8},
	} {
		good, plain := v.good, v.plain
		vt := []test{
			{"trailing byte", append(bytes.Clone(good), 0), "after the end"},
			{"unknown flag", edit(plain, func(b []byte) { b[1] |= 0x10 }), "unknown flags"},
			{"topology streak without streak", edit(plain, func(b []byte) { b[1] |= topoOnly }), "topology streak"},
			{"NaN baseline", edit(plain, func(b []byte) { binary.LittleEndian.PutUint64(b[v.baseAt:], math.Float64bits(math.NaN())) }), "baseline nav_count"},
			{"huge baseline", edit(plain, func(b []byte) { binary.LittleEndian.PutUint64(b[v.baseAt+32:], math.Float64bits(1e300)) }), "baseline dom_nodes"},
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
			vt = append(vt, test{fmt.Sprintf("cut at %d", i), good[:i], "truncated"})
		}
		for _, tc := range vt {
			tc.name = fmt.Sprintf("v%d %s", v.version, tc.name)
			tests = append(tests, tc)
		}
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
	f.Add(v3ToV2(good))
	f.Add(v2ToV1(v3ToV2(good)))
	f.Add([]byte{snapshotV1})
	f.Add([]byte{snapshotV2})
	f.Add([]byte{snapshotV3})
	f.Add([]byte{})
	plainTr := NewTracker(DefaultParams())
	plainTr.Step("k", input(0, beat{counts: normal}))
	plain, _ := plainTr.Snapshot("k")
	f.Add(plain)
	f.Add(v3ToV2(plain))
	f.Add(v2ToV1(v3ToV2(plain)))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := NewTracker(DefaultParams())
		if err := tr.Load("k", b); err != nil {
			if !errors.Is(err, ErrInvalidSnapshot) || tr.Has("k") {
				t.Fatalf("Load = %v, Has = %v", err, tr.Has("k"))
			}
			return
		}
		// Every state has one encoding, so what loads re-encodes unchanged;
		// an older snapshot re-encodes as version 3 with what it did not
		// know unknown.
		want := b
		switch b[0] {
		case snapshotV1:
			want = v2ToV3(v1ToV2(b))
		case snapshotV2:
			want = v2ToV3(b)
		}
		again, _ := tr.Snapshot("k")
		if !bytes.Equal(again, want) {
			t.Fatalf("Snapshot(Load(%x)) = %x, want %x", b, again, want)
		}
		// A loaded state must be usable.
		for i, bt := range []beat{{normal, mesh}, {bigger, rewired}, {bigger, nil}, {zero, rewired}} {
			in := input(i, bt)
			in.Seq = math.MaxUint64 - 4 + uint64(i)
			tr.Step("k", in)
		}
	})
}
