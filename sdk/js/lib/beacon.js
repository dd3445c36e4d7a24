// Helpers that build beacon payloads in the wire format of POST /beacon
// (schemas/json/beacon.schema.json).

import { randomBytes } from "node:crypto";

const COUNTS = ["nav_count", "main_count", "form_count", "button_count", "dom_nodes"];

/**
 * buildBeaconPayload returns a beacon payload. `site` and `event` are
 * required; `session` defaults to createSessionId(), `ts` to now (a Date or
 * an RFC 3339 string), and `structure` fills in what it lacks: url "",
 * title "", and 0 for nav_count, main_count, form_count, button_count and
 * dom_nodes. `labels`, `topology`, `flows`, `scope` and `event_id` are
 * included when given; any other field of `extra` is passed through.
 * It throws a TypeError when site or event is missing.
 */
export function buildBeaconPayload({
  site,
  event,
  session,
  ts,
  structure = {},
  labels,
  topology,
  flows,
  scope,
  event_id,
  ...extra
} = {}) {
  if (typeof site !== "string" || site === "") throw new TypeError("buildBeaconPayload: site is required (a non-empty string)");
  if (typeof event !== "string" || event === "") throw new TypeError("buildBeaconPayload: event is required (a non-empty string)");
  const s = { url: "", title: "", ...structure };
  for (const c of COUNTS) if (s[c] === undefined) s[c] = 0;
  const payload = {
    ...extra,
    site,
    session: session ?? createSessionId(),
    event,
    ts: formatTs(ts ?? new Date()),
    structure: s,
  };
  if (scope !== undefined) payload.scope = scope;
  if (labels !== undefined) payload.labels = labels;
  if (topology !== undefined) payload.topology = topology;
  if (flows !== undefined) payload.flows = flows;
  if (event_id !== undefined) payload.event_id = event_id;
  return payload;
}

/** formatTs returns an RFC 3339 UTC timestamp for a Date, a millisecond epoch or a string (kept). */
export function formatTs(ts) {
  if (typeof ts === "string") return ts;
  const d = ts instanceof Date ? ts : new Date(ts);
  if (Number.isNaN(d.getTime())) throw new TypeError(`not a time: ${String(ts)}`);
  return d.toISOString();
}

/**
 * createSessionId returns a session id: the prefix, the current Unix time in
 * seconds (as the guide's "dc-" + int(time.time())) and 8 random hex digits,
 * so two processes started in the same second get different sessions:
 * "dc-1768836600-3fa2b1c0".
 */
export function createSessionId(prefix = "dc") {
  return `${prefix}-${Math.floor(Date.now() / 1000)}-${randomBytes(4).toString("hex")}`;
}
