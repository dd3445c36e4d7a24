// Package ingest is rtt's HTTP front door: it validates beacons, profiles and
// diagnostics submissions against the embedded JSON Schemas, stores them in
// JetStream and answers 2xx only once JetStream acknowledged them.
package ingest
