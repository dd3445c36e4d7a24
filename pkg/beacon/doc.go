// Package beacon defines the beacon, rtt's unit of data, and turns raw client
// payloads into validated beacons with a stable event id.
//
// A beacon is decoded once into a generic value that the JSON Schema checks,
// then into the typed Beacon. Its event id is the client's "event_id" when
// given, otherwise a digest of the payload's canonical form (keys sorted,
// insignificant whitespace removed), so an exact re-send gets the same id and
// is recognised as a duplicate by JetStream and by ClickHouse.
package beacon
