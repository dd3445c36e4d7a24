// Event ids derived exactly as the server does (pkg/beacon.DeriveID): "b-"
// and the first 32 hex digits of the SHA-256 of the payload's canonical
// JSON, where canonical JSON is what Go's encoding/json.Marshal writes for
// the decoded payload (decoded with UseNumber, so numbers keep the text they
// were sent with).
//
// The client sends JSON.stringify of the payload, so the server decodes
// exactly the value JSON.parse gives for that text, with each number's text
// as JSON.stringify printed it. Re-encoding that value the way Go does gives
// the bytes the server hashes:
//   - object keys sorted by their UTF-8 bytes (Go's sort), at every depth;
//   - no whitespace;
//   - strings escaped as Go escapes them: " \ \b \f \n \r \t, other control
//     characters as \u00xx, < > & as \u003c \u003e \u0026, U+2028 and U+2029
//     as \u2028 \u2029, everything else (all non-ASCII) as raw UTF-8;
//   - a lone UTF-16 surrogate (JSON.stringify sends it as "\ud800") becomes
//     U+FFFD, as Go's decoder makes it;
//   - numbers as JSON.stringify prints them, which is the text the server
//     received and keeps (json.Number): 12.5, 1e+21 and 0.1 therefore match.
//
// The id is a function of what is sent, not of how a person wrote it: a JS
// payload {latency_ms: 1.0} is sent as 1 (JS has no 1.0), and gets the id of
// a curl payload that says 1, not of one that says 1.0. Integers above
// 2^53 are rounded by JS before anything is sent. When a payload cannot be
// canonicalised identically (two keys of one object that differ only in
// lone surrogates, which the server would merge), ensureEventId falls back
// to a random id: retries still never duplicate, but an identical re-send
// from another client is not recognised.

import { createHash, randomUUID } from "node:crypto";

const escapes = {
  '"': '\\"',
  "\\": "\\\\",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "<": "\\u003c",
  ">": "\\u003e",
  "&": "\\u0026",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

// Characters Go's encoder escapes, and lone surrogates.
const special = /[\u0000-\u001f"\\<>&\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function goString(s) {
  return (
    '"' +
    s.replace(special, (c) => {
      const e = escapes[c];
      if (e !== undefined) return e;
      const code = c.charCodeAt(0);
      if (code < 0x20) return "\\u00" + code.toString(16).padStart(2, "0");
      return "\ufffd"; // lone surrogate: Go decoded it as U+FFFD and writes that raw
    }) +
    '"'
  );
}

/** Error thrown by canonicalJSON when the server would not see the same value. */
class NotCanonical extends Error {}

function utf8Compare(a, b) {
  return Buffer.compare(a.bytes, b.bytes);
}

function encode(v) {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      // JSON.parse only yields finite numbers; JSON.stringify prints them
      // as the server received them.
      return JSON.stringify(v);
    case "string":
      return goString(v);
    case "object":
      break;
    default:
      throw new TypeError(`cannot encode a ${typeof v} as JSON`);
  }
  if (Array.isArray(v)) return "[" + v.map(encode).join(",") + "]";
  const keys = Object.keys(v).map((k) => {
    const wellFormed = k.replace(loneSurrogate, "\ufffd");
    return { k, wellFormed, bytes: Buffer.from(wellFormed, "utf8") };
  });
  keys.sort(utf8Compare);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i].wellFormed === keys[i - 1].wellFormed) {
      throw new NotCanonical(`keys ${JSON.stringify(keys[i - 1].k)} and ${JSON.stringify(keys[i].k)} are the same key to the server`);
    }
  }
  return "{" + keys.map(({ k, wellFormed }) => goString(wellFormed) + ":" + encode(v[k])).join(",") + "}";
}

/**
 * toWire returns the JSON value the server decodes when the client sends
 * `payload`: JSON.parse(JSON.stringify(payload)) (toJSON applied, undefined
 * members dropped, Dates as ISO strings). It throws a TypeError for what
 * JSON.stringify cannot encode (BigInt, cycles, a bare function).
 */
export function toWire(payload) {
  const text = JSON.stringify(payload);
  if (text === undefined) throw new TypeError("payload cannot be encoded as JSON");
  return JSON.parse(text);
}

/**
 * canonicalJSON returns Go's encoding/json encoding of the JSON value v (as
 * given by JSON.parse): the bytes the server's DeriveID hashes, as a string.
 * It throws when the value has two keys the server would merge.
 */
export function canonicalJSON(v) {
  return encode(v);
}

function hashId(canon) {
  return "b-" + createHash("sha256").update(canon, "utf8").digest("hex").slice(0, 32);
}

/**
 * deriveEventId returns the event id the server derives for `payload` when
 * it is sent without one (its own event_id, if any, is ignored). It throws a
 * TypeError when the payload cannot be sent as JSON, and an Error when the
 * id cannot be derived identically (see the notes at the top of this file).
 */
export function deriveEventId(payload) {
  const wire = toWire(payload);
  if (wire !== null && typeof wire === "object" && !Array.isArray(wire)) delete wire.event_id;
  return hashId(canonicalJSON(wire));
}

/**
 * ensureEventId returns the wire form of a beacon (see toWire) with an
 * event_id: the payload's own when it has one, else the server's derivation
 * (derived: true), else, when that cannot be reproduced, a random one
 * ("r-" and a UUID; derived: false). The payload itself is not changed.
 * Returns { wire, eventId, derived }.
 */
export function ensureEventId(payload) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    throw new TypeError("a beacon must be a plain object");
  }
  const wire = toWire(payload);
  if (wire.event_id !== undefined && wire.event_id !== null) {
    return { wire, eventId: wire.event_id, derived: false };
  }
  delete wire.event_id;
  let eventId;
  let derived = true;
  try {
    eventId = hashId(canonicalJSON(wire));
  } catch (err) {
    if (!(err instanceof NotCanonical)) throw err;
    eventId = "r-" + randomUUID();
    derived = false;
  }
  return { wire: { event_id: eventId, ...wire }, eventId, derived };
}

/**
 * contentId returns the id the server gives a profile ("p-", parts site and
 * body) or diagnostics submission ("g-", parts kind and body): the first 32
 * hex digits of SHA-256 over each part followed by a zero byte. `body` must
 * be the compact JSON the client sent, as JSON.stringify writes it.
 */
export function contentId(prefix, ...parts) {
  const h = createHash("sha256");
  for (const p of parts) {
    h.update(p, "utf8");
    h.update(Buffer.from([0]));
  }
  return prefix + h.digest("hex").slice(0, 32);
}
