// Package client is the Go SDK for rtt's HTTP API (base path /api/rtt): it
// sends beacons one at a time or in batches, registers and reads site
// profiles, and submits the validate, corridor and topology diagnostics.
//
// # Configuration
//
// [New] takes the base URL, by default the environment variable RTT_URL or
// else http://127.0.0.1:8080/api/rtt, and a bearer token from RTT_TOKEN or
// [WithToken]. Each HTTP attempt is bounded by [WithTimeout] (10 s by
// default); the whole call, retries included, by the caller's context.
//
// # Retries and event ids
//
// A call is retried on 429, 502, 503 and 504 answers and on network errors,
// up to 5 attempts by default ([WithRetry]), waiting as the server's
// Retry-After header asks or else with exponential backoff and jitter (100 ms,
// 200 ms, 400 ms ... capped at 5 s). Other 4xx answers are never retried:
// they come back as an [*APIError] naming the field and the rule that failed.
//
// Retrying a beacon is safe because every beacon carries an event_id before
// its first attempt: the caller's, or one the client derives from the
// content exactly as the server would ([DeriveEventID]): "b-" followed by the
// first 32 hex digits of the SHA-256 of the payload's canonical JSON (the
// beacon without event_id, object keys sorted, no insignificant whitespace,
// numbers as written). The server stores an event id once, so a retry after
// a lost answer is reported as a duplicate rather than stored twice.
//
// [Client.Beacons] posts a JSON array to POST /beacons and re-sends only
// the items the server answered "unavailable"; items it answered "invalid"
// are final and reported per item in the [BatchResult].
//
// # Helpers
//
// [Client.Heartbeat] sends a beacon periodically in the background;
// [Batcher] buffers beacons from many goroutines and posts them in batches
// by size or age.
//
// A Client is safe for concurrent use.
package client
