// Event ids: the client derives exactly what the server's DeriveID derives.

import { test } from "node:test";
import assert from "node:assert/strict";
import { deriveEventId, ensureEventId, canonicalJSON } from "../index.js";
import { guideBeacon } from "./support.js";

const base = guideBeacon({ session: "dc-1768836600" });

// Ids computed by Go (go1.26 encoding/json, exactly pkg/beacon.DeriveID:
// json.Decoder.UseNumber, json.Marshal, SHA-256, "b-" + 32 hex digits) from
// JSON.stringify of each payload, the bytes this SDK sends.
const goldens = [
  ["guide heartbeat", base, "b-f248acfab8085932988493ec4bdc7dd6"],
  ["non-ASCII", { ...base, site: "rechenzentrum-süd", structure: { ...base.structure, title: "Clusterzustand – 東京 🚀" } }, "b-62bb66e45cd9cc311c2f0e892899f945"],
  [
    "HTML and control characters",
    { ...base, labels: { note: "<a href='x'>&amp;</a>", ctl: "a\b\f\n\r\t\u0001\u001f\u007f\"\\/", seps: "\u2028\u2029" } },
    "b-82d8a6fed47fed0e6982357aa51af2e6",
  ],
  ["keys sorted by UTF-8 bytes", { ...base, labels: { "😀": "astral", "ｚ": "fullwidth", z: "ascii", "é": "latin", "": "empty" } }, "b-1987f2b3357e4213cd9df57012565871"],
  ["lone surrogates", { ...base, labels: { lone: "x\ud800y", low: "\udc00", pair: "\ud83d\ude00" } }, "b-7ad42785606918c31542d6b7d7a66999"],
  [
    "numbers, integer and not",
    {
      ...base,
      flows: [
        { path: ["ingress", "api", "db"], latency_ms: 12.5 },
        { path: ["a"], latency_ms: 0.1 },
        { path: ["b"], latency_ms: 1e21 },
        { path: ["c"], latency_ms: 5e-7 },
        { path: ["d"], latency_ms: 1.0 },
        { path: ["e"], latency_ms: -0 },
      ],
      structure: { ...base.structure, dom_nodes: 2147483647 },
    },
    "b-20e40c88bc452ba8fa88688a7ffcdd8c",
  ],
  [
    "nested values, null, booleans",
    { ...base, topology: { db: [], api: ["db"], ingress: ["api"] }, extra: { b: true, f: false, n: null, deep: [[1, [2, { y: 1, x: 2 }]]] } },
    "b-8f645cbad07f1c950f8a7af9c74adbb7",
  ],
];

for (const [name, payload, want] of goldens) {
  test(`deriveEventId matches Go's DeriveID: ${name}`, () => {
    assert.equal(deriveEventId(payload), want);
  });
}

test("canonicalJSON writes what Go's encoding/json writes", () => {
  assert.equal(canonicalJSON({ b: 1, a: [true, null, "x"] }), '{"a":[true,null,"x"],"b":1}');
  assert.equal(canonicalJSON("<>&\u2028\u2029\b\f\u0000\u001f"), '"\\u003c\\u003e\\u0026\\u2028\\u2029\\b\\f\\u0000\\u001f"');
  assert.equal(canonicalJSON("é😀"), '"é😀"');
  assert.equal(canonicalJSON("\ud800"), '"\ufffd"');
  // Go sorts keys by bytes: "ｚ" (EF BD 9A) before "😀" (F0 9F 98 80), unlike UTF-16 order.
  assert.equal(canonicalJSON({ "😀": 1, "ｚ": 2 }), '{"ｚ":2,"😀":1}');
  assert.equal(canonicalJSON({ n: 1e21, m: 0.5 }), '{"m":0.5,"n":1e+21}');
});

test("the id ignores key order, whitespace and the payload's own event_id", () => {
  const a = { site: "s", event: "e", structure: { b: 1, a: 2 } };
  const b = { structure: { a: 2, b: 1 }, event: "e", site: "s", event_id: "mine" };
  assert.equal(deriveEventId(a), deriveEventId(b));
  assert.notEqual(deriveEventId(a), deriveEventId({ ...a, event: "f" }));
});

test("the id is of what is sent: toJSON applied, undefined dropped", () => {
  const when = new Date("2026-01-19T15:30:00Z");
  assert.equal(deriveEventId({ ts: when, gone: undefined }), deriveEventId({ ts: "2026-01-19T15:30:00.000Z" }));
});

test("ensureEventId keeps a given id and never changes the payload", () => {
  const p = { ...base, event_id: "ci-deploy-42" };
  const copy = structuredClone(p);
  const got = ensureEventId(p);
  assert.equal(got.eventId, "ci-deploy-42");
  assert.equal(got.wire.event_id, "ci-deploy-42");
  assert.deepEqual(p, copy);

  const q = { ...base };
  const derived = ensureEventId(q);
  assert.equal(derived.derived, true);
  assert.equal(derived.eventId, deriveEventId(q));
  assert.equal(derived.wire.event_id, derived.eventId);
  assert.equal(q.event_id, undefined);
});

test("ensureEventId falls back to a random id when the server would merge two keys", () => {
  // Both keys become "x\ufffd" on the server: the derivation cannot be reproduced.
  const p = { ...base, labels: { "x\ud800": "a", "x\udbff": "b" } };
  const a = ensureEventId(p);
  const b = ensureEventId(p);
  assert.equal(a.derived, false);
  assert.match(a.eventId, /^r-[0-9a-f-]{36}$/);
  assert.notEqual(a.eventId, b.eventId);
});

test("ensureEventId rejects what cannot be a beacon", () => {
  assert.throws(() => ensureEventId([]), TypeError);
  assert.throws(() => ensureEventId(null), TypeError);
  assert.throws(() => ensureEventId({ n: 1n }), TypeError);
});
