// Package beaconcmd is "rtt beacon": it sends one beacon from a CI/CD job or
// a shell script that has no SDK (section 7D of the RTT-Inside guide: a
// beacon at the start and at the finish of a deployment) through the Go
// client in pkg/client, so it gets the client's retries, typed errors and
// derived event ids.
//
// Main parses the flags (each also read from RTT_BEACON_<FLAG>; the API's
// base URL and token default to the client's RTT_URL and RTT_TOKEN), builds
// the beacon with Build and sends it. Its errors carry the exit code of the
// command (ExitCode): 1 when the server refused the beacon, 2 for a usage
// error, 3 when the server could not be reached or stayed unavailable.
package beaconcmd
