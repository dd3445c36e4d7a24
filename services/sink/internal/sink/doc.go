// Package sink moves everything rtt keeps from JetStream into ClickHouse:
// beacons, profiles, diagnostics, drift events, alignment records and dead
// letters. It batches by size and age, inserts with explicit column lists,
// and acknowledges a message only after the INSERT holding it succeeded.
package sink
