// Package drift detects structural drift in a stream of beacons. It is pure
// logic: no I/O, no clocks, no goroutines, so the drift service and offline
// replays run the same code and get the same bytes out.
//
// A Tracker keeps, per key (the caller uses site + "\x00" + scope), a baseline
// of the five structure counts and, when beacons carry one, a compact
// fingerprint of the topology graph. Each beacon is measured against the
// baseline: a signed relative deviation per count, plus the Jaccard distance
// between the edge sets of the two graphs. The Euclidean norm of that vector
// is the drift magnitude.
//
// A beacon whose magnitude reaches Params.Threshold is drifted. Drifted
// beacons leave the baseline alone; Params.Confirm of them in a row make an
// Event and re-set the baseline to the new structure, so one step change
// gives one event. A non-drifted beacon ends the streak (flapping never
// fires) and pulls the baseline towards itself by an exponentially weighted
// moving average; only a beacon without a graph leaves a streak of topology
// drift open, since it cannot see the topology. Params.Cooldown delays an event that would come too soon
// after the previous one of its key.
//
// A beacon stamped earlier than the newest beacon already applied to its key
// is late: concurrent batches of one client let its beacons overtake each
// other in the stream. Step measures it (Measurement.Late) but lets it change
// nothing except the key's last applied sequence, so what decides is in
// event-time order and a step change fires once instead of flapping between
// the old and the new structure. Confirm still debounces a structure that
// really alternates.
//
// Delivery is at least once: every Input carries its JetStream sequence and
// Step ignores a sequence it has already applied to the key. Snapshot and
// Load move one key's state to and from a key-value store in a small,
// versioned binary form, so a restarted service continues exactly where the
// stored state left off.
//
// The formulas, parameters and a worked example are in docs/drift.md.
package drift
