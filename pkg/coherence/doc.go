// Package coherence checks that a system map, the flows observed in the
// system and the constraints declared on it agree with each other.
//
// The input is the vST-beta validate payload {system_map, flows,
// constraints}. [ValidateInput] rejects malformed input with an error naming
// the field; [Validate] lists every violation (unknown services, dangling
// flows, broken constraints), the declared services no flow touches, and a
// coherence score in [0,1]. Results are deterministic: violations follow the
// order of the input, every list is sorted or in input order, so the same
// input always gives the same bytes.
//
// The package is pure logic: no I/O. docs/diagnostics.md defines the rules,
// the score and gives a worked example.
package coherence
