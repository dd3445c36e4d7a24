package corridor

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestScoresObserve(t *testing.T) {
	s := NewScores(0.5)
	on := Alignment{Score: 1, OnCorridor: true}
	off := Alignment{Score: 0}
	steps := []struct {
		key     string
		seq     uint64
		a       Alignment
		running float64
		total   uint64
		on      uint64
		applied bool
	}{
		{"east/read", 1, on, 1, 1, 1, true},
		{"east/read", 2, off, 0.5, 2, 1, true},
		{"east/read", 2, on, 0.5, 2, 1, false}, // redelivery
		{"east/read", 1, on, 0.5, 2, 1, false}, // older
		{"east/write", 1, off, 0, 1, 0, true},  // sequences are per key
		{"east/read", 5, Alignment{Score: 0.5}, 0.5, 3, 1, true},
		{"east/read", 6, Alignment{Score: 7}, 0.75, 4, 1, true}, // clamped to 1
		{"east/read", 7, on, 0.875, 5, 2, true},
	}
	for i, st := range steps {
		r, total, n, applied := s.Observe(st.key, st.seq, st.a)
		if r != st.running || total != st.total || n != st.on || applied != st.applied {
			t.Fatalf("step %d: got (%v, %d, %d, %v), want (%v, %d, %d, %v)",
				i, r, total, n, applied, st.running, st.total, st.on, st.applied)
		}
	}
	if got, want := s.Dirty(), []string{"east/read", "east/write"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Dirty = %v, want %v", got, want)
	}
	s.ClearDirty()
	if got := s.Dirty(); len(got) != 0 {
		t.Errorf("Dirty after ClearDirty = %v", got)
	}
	s.Observe("east/write", 1, on) // not applied: not dirty
	if got := s.Dirty(); len(got) != 0 {
		t.Errorf("Dirty after an ignored observation = %v", got)
	}
	st, ok := s.Get("east/read")
	if !ok || st != (State{Running: 0.875, Total: 5, On: 2, Seq: 7}) {
		t.Errorf("Get = %+v, %v", st, ok)
	}
}

func TestScoresFirstSeqZero(t *testing.T) {
	s := NewScores(0.3)
	if _, _, _, applied := s.Observe("k", 0, Alignment{Score: 1}); !applied {
		t.Fatal("first observation with sequence 0 was not applied")
	}
	if _, _, _, applied := s.Observe("k", 0, Alignment{Score: 1}); applied {
		t.Fatal("second observation with sequence 0 was applied")
	}
}

func TestNewScoresAlpha(t *testing.T) {
	for _, alpha := range []float64{0, -1, 1.5} {
		if got := NewScores(alpha).Alpha(); got != DefaultAlpha {
			t.Errorf("NewScores(%v).Alpha() = %v, want %v", alpha, got, DefaultAlpha)
		}
	}
	if got := NewScores(1).Alpha(); got != 1 {
		t.Errorf("NewScores(1).Alpha() = %v", got)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := NewScores(0.2)
	for seq := uint64(100); seq < 400; seq += 3 {
		s.Observe("k", seq, Alignment{Score: float64(seq%10) / 10, OnCorridor: seq%2 == 0})
	}
	b, ok := s.Snapshot("k")
	if !ok {
		t.Fatal("no snapshot")
	}
	if _, ok := s.Snapshot("other"); ok {
		t.Fatal("snapshot of an unknown key")
	}
	r := NewScores(0.2)
	if err := r.Load("k", b); err != nil {
		t.Fatal(err)
	}
	want, _ := s.Get("k")
	if got, _ := r.Get("k"); got != want {
		t.Fatalf("loaded %+v, want %+v", got, want)
	}
	if len(r.Dirty()) != 0 {
		t.Error("Load marked the key dirty")
	}
	// Both continue identically, including the idempotency guard.
	for _, sc := range []*Scores{s, r} {
		if _, _, _, applied := sc.Observe("k", want.Seq, Alignment{Score: 1}); applied {
			t.Error("observation at the stored sequence was applied")
		}
		sc.Observe("k", want.Seq+1, Alignment{Score: 1})
	}
	a, _ := s.Snapshot("k")
	c, _ := r.Snapshot("k")
	if !bytes.Equal(a, c) {
		t.Errorf("diverged after load: %x vs %x", a, c)
	}
}

func TestLoadRejects(t *testing.T) {
	good := encodeState(State{Running: 0.5, Total: 3, On: 1, Seq: 9})
	tests := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{2}, good[1:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte{}, good...), 0),
		"score > 1":     encodeState(State{Running: 1.5, Total: 1, Seq: 1}),
		"score NaN":     encodeState(State{Running: nan(), Total: 1, Seq: 1}),
		"total 0":       encodeState(State{Running: 0, Total: 0, Seq: 1}),
		"on > total":    encodeState(State{Running: 0, Total: 1, On: 2, Seq: 1}),
		"non-canonical": append([]byte{1, 0x89, 0x00}, good[2:]...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewScores(0.2)
			s.Observe("k", 1, Alignment{Score: 1})
			before, _ := s.Get("k")
			err := s.Load("k", b)
			if !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("Load(%x) = %v, want ErrInvalidSnapshot", b, err)
			}
			if after, _ := s.Get("k"); after != before {
				t.Errorf("failed Load changed the state: %+v", after)
			}
		})
	}
	if err := NewScores(0.2).Load("k", good); err != nil {
		t.Errorf("Load(good) = %v", err)
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

func FuzzLoad(f *testing.F) {
	f.Add(encodeState(State{Running: 0.5, Total: 3, On: 1, Seq: 9}))
	f.Add(encodeState(State{Running: 1, Total: 1 << 62, On: 1 << 61, Seq: 1<<64 - 1}))
	f.Add([]byte{})
	f.Add([]byte{1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewScores(0.2)
		if err := s.Load("k", b); err != nil {
			if _, ok := s.Get("k"); ok {
				t.Fatal("failed Load created state")
			}
			return
		}
		st, _ := s.Get("k")
		if !(st.Running >= 0 && st.Running <= 1) || st.On > st.Total || st.Total == 0 {
			t.Fatalf("Load accepted an impossible state %+v", st)
		}
		again, _ := s.Snapshot("k")
		if !bytes.Equal(again, b) {
			t.Fatalf("Snapshot after Load = %x, want %x", again, b)
		}
	})
}
