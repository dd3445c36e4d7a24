// Package check is "rtt check": the verification checklist of the
// RTT-Inside guide (section 8) run against a deployment. Each item is a
// real round trip through the Go client in pkg/client, bounded by a
// timeout, and printed as one line, PASS or FAIL with what was seen or why:
//
//   - RTTClient configured: the base URL and token reach the API
//     (GET /profile/{site}).
//   - cluster-level beacons accepted: a cluster_heartbeat is stored, and
//     its re-send is answered duplicate (stored once).
//   - profile registered: POST /profile/{site}, then GET returns it.
//   - observability receives RTT signals: the metrics endpoint exposes
//     rtt_beacons_total and it counted the heartbeat.
//   - topology and flow payloads accepted: a topology_snapshot beacon with
//     a topology and a flow is stored.
//   - diagnostics answer stably: the guide's /validate, /corridor and
//     /topology requests answer status ok and version vst-beta/1, with the
//     same bytes when sent again.
//
// The beacons and the profile go to a site of their own (rtt-check by
// default), whose profile the check replaces.
package check
