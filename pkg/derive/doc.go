// Package derive turns stored beacons into rtt's derived records: the drift
// detector's key and input for a beacon, the drift event record for an event
// it confirmed, and the corridor alignment record of each observed flow.
//
// The live drift and corridor services and the research replay
// (internal/replay) build their records with these functions, so that a
// replay of a slice with the live parameters yields the records the live
// pipeline published for it, field for field (except the run id, the record
// ids that include it, and the detection time).
//
// Every function is pure: no I/O, no clock, safe for concurrent use.
package derive
