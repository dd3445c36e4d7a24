// Helpers that build the vST-beta diagnostics payloads: POST /validate,
// /corridor and /topology (schemas/json/{validate,corridor,topology}.schema.json).

/**
 * buildValidatePayload returns a coherence validation payload, the JS form
 * of the guide's build_validate_payload(system_map=..., flows=...,
 * constraints=...): { system_map, flows, constraints } and `site` when
 * given. Both system_map and systemMap are accepted.
 */
export function buildValidatePayload({ system_map, systemMap, flows = [], constraints = [], site, ...extra } = {}) {
  const map = system_map ?? systemMap;
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new TypeError("buildValidatePayload: system_map is required (an object such as {nodes: 128, services: [...]})");
  }
  const payload = { ...extra, system_map: map, flows, constraints };
  if (site !== undefined) payload.site = site;
  return payload;
}

/**
 * buildCorridorPayload returns a corridor alignment payload:
 * { flows: [{path: [...], latency_ms}], corridors? , site? }. Without
 * `corridors` the server aligns the flows with those of the site's profile.
 */
export function buildCorridorPayload({ flows, corridors, site, ...extra } = {}) {
  if (!Array.isArray(flows) || flows.length === 0) {
    throw new TypeError("buildCorridorPayload: flows is required (a non-empty array of {path, latency_ms})");
  }
  const payload = { ...extra, flows };
  if (corridors !== undefined) payload.corridors = corridors;
  if (site !== undefined) payload.site = site;
  return payload;
}

/**
 * buildTopologyPayload returns a topology decomposition payload:
 * { graph: {node: [dependencies...]}, site? }. A Map is accepted as graph,
 * and a node without dependencies (undefined or null) gets [].
 */
export function buildTopologyPayload({ graph, site, ...extra } = {}) {
  if (graph === null || typeof graph !== "object" || Array.isArray(graph)) {
    throw new TypeError("buildTopologyPayload: graph is required (an object {node: [dependencies...]})");
  }
  const entries = graph instanceof Map ? [...graph.entries()] : Object.entries(graph);
  const g = {};
  for (const [node, deps] of entries) {
    // defineProperty: a node named "__proto__" stays a node
    Object.defineProperty(g, node, { value: deps == null ? [] : [...deps], enumerable: true, writable: true, configurable: true });
  }
  const payload = { ...extra, graph: g };
  if (site !== undefined) payload.site = site;
  return payload;
}
