// Package corridor checks observed traffic flows against declared corridors.
//
// A corridor is a named, ordered list of hops (for example
// ingress -> api -> db) with a latency budget. [Align] picks the corridor a
// flow belongs to, lists the hops where the flow left it (a Levenshtein
// alignment with a fixed, documented traceback) and scores the flow in [0,1]
// from its path similarity and its latency. [Scores] keeps a running score per
// key, typically a (site, corridor) pair, that is idempotent under redelivery:
// an observation whose stream sequence is not newer than the last applied one
// for its key is ignored.
//
// The package is pure logic: no I/O, no clocks, no randomness. The same input
// always gives the same output. docs/corridor.md describes the matching rule,
// the formulas and a worked example.
package corridor
