package replay

import (
	"cmp"
	"slices"
)

// DiffLine is one place where two runs' drift events differ: an event only
// in A ('-'), only in B ('+'), or in both with other values ('~'). Events
// are the same when they have the same site, scope and confirming beacon
// (event id).
type DiffLine struct {
	Kind byte
	A, B *DriftEvent // nil on the side that lacks the event
}

// DiffSummary counts the events of a diff.
type DiffSummary struct {
	A, B, Both, Changed, OnlyA, OnlyB int
}

func eventKey(e DriftEvent) [3]string { return [3]string{e.Site, e.Scope, e.EventID} }

func compareKeys(x, y [3]string) int {
	for i := range x {
		if c := cmp.Compare(x[i], y[i]); c != 0 {
			return c
		}
	}
	return 0
}

// DiffDrift compares two sets of drift events and returns where they
// differ, ordered by site, scope and event time, with the counts.
func DiffDrift(a, b []DriftEvent) ([]DiffLine, DiffSummary) {
	sum := DiffSummary{A: len(a), B: len(b)}
	byKey := func(es []DriftEvent) map[[3]string]*DriftEvent {
		m := make(map[[3]string]*DriftEvent, len(es))
		for i := range es {
			m[eventKey(es[i])] = &es[i]
		}
		return m
	}
	ma, mb := byKey(a), byKey(b)
	var lines []DiffLine
	for k, ea := range ma {
		eb, ok := mb[k]
		switch {
		case !ok:
			sum.OnlyA++
			lines = append(lines, DiffLine{Kind: '-', A: ea})
		default:
			sum.Both++
			if ea.Magnitude != eb.Magnitude || ea.Streak != eb.Streak || ea.FirstEventID != eb.FirstEventID || !ea.TS.Equal(eb.TS) {
				sum.Changed++
				lines = append(lines, DiffLine{Kind: '~', A: ea, B: eb})
			}
		}
	}
	for k, eb := range mb {
		if _, ok := ma[k]; !ok {
			sum.OnlyB++
			lines = append(lines, DiffLine{Kind: '+', B: eb})
		}
	}
	slices.SortFunc(lines, func(x, y DiffLine) int {
		ex, ey := x.A, y.A
		if ex == nil {
			ex = x.B
		}
		if ey == nil {
			ey = y.B
		}
		if c := cmp.Compare(ex.Site, ey.Site); c != 0 {
			return c
		}
		if c := cmp.Compare(ex.Scope, ey.Scope); c != 0 {
			return c
		}
		if c := ex.TS.Compare(ey.TS); c != 0 {
			return c
		}
		if c := compareKeys(eventKey(*ex), eventKey(*ey)); c != 0 {
			return c
		}
		return cmp.Compare(x.Kind, y.Kind)
	})
	return lines, sum
}
