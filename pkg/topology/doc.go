// Package topology decomposes a service dependency graph.
//
// The input maps each node to the nodes it depends on (edge node -> dep).
// [Decompose] reports the cycles (strongly connected components), a layering
// of the acyclic condensation (layer 0 depends on nothing), tiers (entry,
// core, foundation, isolated), critical nodes (articulation points and the
// most depended-on nodes) and one longest dependency chain.
//
// All algorithms are iterative, so a deep graph does not exhaust the stack,
// and run in O(nodes + edges) after sorting. Every list in the result is
// sorted, so the same graph always gives the same bytes. The package is pure
// logic: no I/O. docs/diagnostics.md has the definitions and a worked example.
package topology
