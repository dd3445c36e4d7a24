// Package loadgen is rtt's load generator: it simulates datacenters sending
// structural beacons to the HTTP API, for `rtt loadgen`, benchmarks and
// end-to-end tests. It sends through the Go SDK (pkg/client).
//
// Each simulated site (dc-00, dc-01 ...) is a cluster with a stable
// structure, reported as the seed guide maps it: nav_count racks, main_count
// services, form_count configurations, button_count deploy targets,
// dom_nodes nodes; scope and structure.url "internal://cluster", label
// cluster=<site>. Its 8 to 12 services form a dependency graph (ingress ->
// api -> a middle tier -> cache, db and other stores), and 2 to 4 routes
// through it are the site's declared corridors, each with a latency budget.
//
// On start every site registers its profile (POST /profile/{site}: rtt_version,
// supports, contact, corridors). Then the sites send, at the configured total
// rate and in batches (POST /beacons):
//
//   - cluster_heartbeat every -heartbeat-every (per site, staggered);
//   - topology_snapshot, carrying the graph, every 6 heartbeats and right
//     after an injected change;
//   - deployment_start / deployment_finish pairs, about every 10 heartbeats
//     per site, labelled with the deployment id and target;
//   - flow_observed in every other slot: 1 to 4 flows along the site's
//     corridors, 8 % of them off the path (an extra, skipped or substituted
//     hop) and 10 % over the budget.
//
// An injected change (-change-every on a random site, or -change-sites at
// -change-at) permanently grows the site's racks and nodes by 40 % and
// rewires one dependency a -> b into a -> c -> b, preferring an edge its
// corridor traffic takes: a drift detector sees one step change, and that
// traffic now takes a detour off its declared corridor.
//
// Runs are deterministic: beacon i lies at i/rate on the generator's
// timeline, and the sites, the mix and the changes come from -seed, so the
// same settings, seed and start time give the same beacons.
package loadgen
