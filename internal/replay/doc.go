// Package replay is "rtt replay": it reads a slice of the stored beacons
// (from the RTT_BEACONS stream with an ordered, ephemeral consumer, or from
// the raw payloads in ClickHouse for data past the stream's retention),
// exports it to NDJSON or Parquet, and reruns the drift and corridor
// analysis over it in process, with parameters of the researcher's choice,
// as a research run whose records go to replay tables apart from the live
// ones.
//
// The analysis uses the live services' own building blocks (pkg/drift,
// pkg/corridor, pkg/derive) in stream order from empty state, so a run with
// the live parameters over a slice that starts at each key's first beacon
// gives the live drift events, and the same slice with the same parameters
// always gives the same records and the same digest.
//
// Main is the command line; Export and Research are the two operations;
// Store manages runs in ClickHouse. docs/replay.md is the walkthrough.
package replay
