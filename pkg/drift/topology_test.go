package drift

import (
	"hash/fnv"
	"slices"
	"testing"
)

func TestHashesAreFNV1a(t *testing.T) {
	want := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(s))
		return h.Sum64()
	}
	for _, name := range []string{"", "api", "datacenter-east/ingress"} {
		if got := nodeHash(name); got != want(name) {
			t.Errorf("nodeHash(%q) = %x, want %x", name, got, want(name))
		}
	}
	if got := edgeHash("api", "db"); got != want("api\x00db") {
		t.Errorf("edgeHash = %x, want FNV-1a of api NUL db", got)
	}
	// Pinned: stored snapshots depend on these values never changing.
	if got := edgeHash("api", "db"); got != 0xb87055119a1da7a3 {
		t.Errorf("edgeHash(api, db) = %#x, changed", got)
	}
}

func TestFingerprint(t *testing.T) {
	var fp fingerprinter
	tests := []struct {
		name         string
		g            map[string][]string
		nodes, edges int
	}{
		{"empty graph", map[string][]string{}, 0, 0},
		{"mesh", mesh, 4, 4},
		{"duplicate dependencies", map[string][]string{"a": {"b", "b", "c"}, "b": {"c"}}, 3, 3},
		{"self loop", map[string][]string{"a": {"a"}}, 1, 1},
		{"typical", typicalGraph(), 10, 15},
	}
	for _, tc := range tests {
		f := fp.of(tc.g)
		if len(f.nodeSet()) != tc.nodes || len(f.edgeSet()) != tc.edges {
			t.Errorf("%s: %d nodes, %d edges; want %d, %d", tc.name, len(f.nodeSet()), len(f.edgeSet()), tc.nodes, tc.edges)
		}
		if !isSortedSet(f.nodeSet()) || !isSortedSet(f.edgeSet()) {
			t.Errorf("%s: not sorted sets", tc.name)
		}
	}
}

func TestFingerprintIgnoresOrder(t *testing.T) {
	var fp fingerprinter
	want := slices.Clone(fp.of(mesh).hashes)
	// The same graph with dependency lists reordered, built many times so
	// that map iteration order varies.
	for range 50 {
		g := map[string][]string{"db": nil, "auth": {"db"}, "api": {"db", "auth"}, "ingress": {"api"}}
		if got := fp.of(g).hashes; !slices.Equal(got, want) {
			t.Fatalf("fingerprint %x, want %x", got, want)
		}
	}
}

func TestJaccardDistance(t *testing.T) {
	tests := []struct {
		a, b []uint64
		want float64
	}{
		{nil, nil, 0},
		{[]uint64{1, 2}, []uint64{1, 2}, 0},
		{[]uint64{1, 2}, nil, 1},
		{[]uint64{1, 2, 3}, []uint64{2, 3, 4}, 0.5},
		{[]uint64{1}, []uint64{2}, 1},
	}
	for _, tc := range tests {
		if got := jaccardDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("jaccardDistance(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
