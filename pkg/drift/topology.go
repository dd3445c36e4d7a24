package drift

import "slices"

// FNV-1a, 64 bit. Written out rather than taken from hash/fnv so hashing a
// string needs no allocation; topology_test.go checks it against hash/fnv.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// nodeHash is FNV-1a of the node name.
func nodeHash(name string) uint64 { return fnvAdd(fnvOffset, name) }

// edgeHash is FNV-1a of from + "\x00" + to. The schema does not allow empty
// names and JSON clients do not put NUL in them, so the separator is
// unambiguous in practice.
func edgeHash(from, to string) uint64 {
	h := fnvAdd(fnvOffset, from)
	h ^= 0
	h *= fnvPrime
	return fnvAdd(h, to)
}

// fingerprint is the compact form of a topology graph: the hashes of its
// nodes, then the hashes of its edges, each part sorted ascending without
// duplicates. Both parts live in one slice to keep one allocation per key.
type fingerprint struct {
	hashes []uint64
	nodes  uint32 // hashes[:nodes] are nodes, hashes[nodes:] edges
}

func (f *fingerprint) nodeSet() []uint64 { return f.hashes[:f.nodes] }
func (f *fingerprint) edgeSet() []uint64 { return f.hashes[f.nodes:] }

// set makes f a copy of g. In the steady state every beacon replaces the
// baseline graph with one of the same size, so f's storage is reused; it is
// reallocated to the exact size when it is too small or more than twice too
// large, so a key does not keep the memory of a graph it once had.
func (f *fingerprint) set(g *fingerprint) {
	if n := len(g.hashes); cap(f.hashes) < n || cap(f.hashes) > 2*n {
		f.hashes = make([]uint64, 0, n)
	}
	f.hashes = append(f.hashes[:0], g.hashes...)
	f.nodes = g.nodes
}

// fingerprinter builds fingerprints in scratch space that it reuses from
// beacon to beacon.
type fingerprinter struct {
	nodes, edges []uint64
	fp           fingerprint
}

// of returns the fingerprint of g. Nodes are the keys of g and every node
// named as a dependency. The result is valid until the next call. Map
// iteration order does not matter: both parts are sorted.
func (b *fingerprinter) of(g map[string][]string) *fingerprint {
	b.nodes, b.edges = b.nodes[:0], b.edges[:0]
	for from, deps := range g {
		b.nodes = append(b.nodes, nodeHash(from))
		for _, to := range deps {
			b.nodes = append(b.nodes, nodeHash(to))
			b.edges = append(b.edges, edgeHash(from, to))
		}
	}
	b.nodes = sortedSet(b.nodes)
	b.edges = sortedSet(b.edges)
	b.fp.hashes = append(append(b.fp.hashes[:0], b.nodes...), b.edges...)
	b.fp.nodes = uint32(len(b.nodes))
	return &b.fp
}

func sortedSet(s []uint64) []uint64 {
	slices.Sort(s)
	return slices.Compact(s)
}

// intersect counts the elements common to two sorted sets.
func intersect(a, b []uint64) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			n++
			i++
			j++
		}
	}
	return n
}

// jaccardDistance is 1 - |a∩b| / |a∪b| of two sorted sets, and 0 when both
// are empty (two graphs without edges do not differ in their edges).
func jaccardDistance(a, b []uint64) float64 {
	inter := intersect(a, b)
	union := len(a) + len(b) - inter
	if union == 0 {
		return 0
	}
	return 1 - float64(inter)/float64(union)
}

// isSortedSet reports whether s is strictly ascending, the form every part
// of a fingerprint must have.
func isSortedSet(s []uint64) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}
