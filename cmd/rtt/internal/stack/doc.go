// Package stack runs rtt's whole pipeline on one machine for development:
// a private ClickHouse, ingest with its embedded NATS server, drift, corridor
// and sink, each as a child process (see package supervisor).
//
// Dev is "rtt dev", WaitReady is "rtt wait-ready" and ClickHouse is
// "rtt clickhouse". While the stack runs, DATA_DIR/run holds rtt.pid and,
// once every service answers /readyz, the marker file "ready" with the
// endpoints as JSON; both are removed when the stack stops.
package stack
