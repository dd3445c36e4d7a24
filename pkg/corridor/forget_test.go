package corridor

import "testing"

func TestScoresForget(t *testing.T) {
	s := NewScores(0.5)
	a := Alignment{Matched: true, OnCorridor: true, Score: 1}
	s.Observe("k", 1, a)
	s.Forget("k")
	if _, ok := s.Get("k"); ok || len(s.Dirty()) != 0 {
		t.Fatal("Forget kept state or dirty mark")
	}
	if _, _, _, applied := s.Observe("k", 1, a); !applied {
		t.Fatal("forgotten key must accept its sequence again")
	}
}
