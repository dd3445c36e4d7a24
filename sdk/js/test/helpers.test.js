// Payload helpers and the package's exports.

import { test } from "node:test";
import assert from "node:assert/strict";
import * as sdk from "../index.js";

const { beacon, profile, diagnostics } = sdk;

test("index exports the client, the helper namespaces, the flat helpers and the errors", () => {
  assert.equal(typeof sdk.RTTClient, "function");
  assert.equal(typeof sdk.BatchSender, "function");
  for (const name of ["buildBeaconPayload", "createSessionId"]) assert.equal(beacon[name], sdk[name]);
  for (const name of ["createProfile", "validateProfile"]) assert.equal(profile[name], sdk[name]);
  for (const name of ["buildValidatePayload", "buildCorridorPayload", "buildTopologyPayload"]) assert.equal(diagnostics[name], sdk[name]);
  for (const name of ["RTTError", "RTTHTTPError", "RTTValidationError", "RTTUnavailableError", "RTTTimeoutError"]) {
    assert.equal(typeof sdk[name], "function", name);
  }
  assert.ok(new sdk.RTTValidationError({ status: 400 }) instanceof sdk.RTTHTTPError);
  assert.ok(new sdk.RTTTimeoutError("t") instanceof sdk.RTTUnavailableError);
  assert.ok(new sdk.RTTUnavailableError("u") instanceof sdk.RTTError);
});

test("buildBeaconPayload fills the structure, ts and session", () => {
  const p = beacon.buildBeaconPayload({ site: "datacenter-east", event: "cluster_heartbeat", structure: { url: "internal://cluster", dom_nodes: 7 }, labels: { cluster: "east" } });
  assert.equal(p.site, "datacenter-east");
  assert.equal(p.event, "cluster_heartbeat");
  assert.deepEqual(p.structure, { url: "internal://cluster", title: "", nav_count: 0, main_count: 0, form_count: 0, button_count: 0, dom_nodes: 7 });
  assert.match(p.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(p.session, /^dc-\d+-[0-9a-f]{8}$/);
  assert.deepEqual(p.labels, { cluster: "east" });
  assert.equal("flows" in p, false);

  const q = beacon.buildBeaconPayload({ site: "s", event: "e", ts: new Date(Date.UTC(2026, 0, 19, 15, 30)), session: "dc-1", flows: [{ path: ["a"], latency_ms: 1 }] });
  assert.equal(q.ts, "2026-01-19T15:30:00.000Z");
  assert.equal(q.session, "dc-1");
  assert.deepEqual(q.flows, [{ path: ["a"], latency_ms: 1 }]);
  assert.throws(() => beacon.buildBeaconPayload({ event: "e" }), /site is required/);
  assert.throws(() => beacon.buildBeaconPayload({ site: "s" }), /event is required/);
});

test("createSessionId uses the prefix and the time", () => {
  const before = Math.floor(Date.now() / 1000);
  const id = beacon.createSessionId("ci");
  const [prefix, secs] = id.split("-");
  assert.equal(prefix, "ci");
  assert.ok(Number(secs) >= before);
  assert.notEqual(beacon.createSessionId(), beacon.createSessionId());
});

test("createProfile is the guide's create_profile", () => {
  const p = profile.createProfile({ version: "1.0", supports: ["coherence", "drift", "corridor"], contact: "infra@datacenter.example" });
  assert.deepEqual(p, { rtt_version: "1.0", supports: ["coherence", "drift", "corridor"], contact: "infra@datacenter.example" });
  const c = profile.createProfile({ rtt_version: "1.1", corridors: [{ name: "read", path: ["ingress", "api", "db"], budget_ms: 50 }], region: "eu" });
  assert.equal(c.rtt_version, "1.1");
  assert.equal(c.region, "eu");
  assert.equal(c.corridors.length, 1);
  assert.deepEqual(profile.validateProfile(p), []);
  assert.deepEqual(profile.validateProfile(c), []);
});

test("validateProfile names each failing field like the server", () => {
  const vs = profile.validateProfile({
    rtt_version: "x".repeat(33),
    supports: ["ok", ""],
    contact: 5,
    corridors: [{ name: "read", path: ["only-one"], budget_ms: 0, extra: 1 }, { path: ["a", "b"] }],
  });
  const fields = vs.map((v) => v.field);
  for (const f of ["rtt_version", "supports[1]", "contact", "corridors[0].path", "corridors[0].budget_ms", "corridors[0].extra", "corridors[1].name", "corridors[1].budget_ms"]) {
    assert.ok(fields.includes(f), `${f} in ${JSON.stringify(vs)}`);
  }
  assert.deepEqual(profile.validateProfile(null), [{ field: "", rule: "must be an object" }]);
});

test("diagnostics builders give the guide's payloads", () => {
  assert.deepEqual(
    diagnostics.buildValidatePayload({ system_map: { nodes: 128, services: ["auth", "api", "db"] }, flows: [{ from: "api", to: "db" }], constraints: [] }),
    { system_map: { nodes: 128, services: ["auth", "api", "db"] }, flows: [{ from: "api", to: "db" }], constraints: [] },
  );
  assert.deepEqual(diagnostics.buildValidatePayload({ systemMap: { nodes: 1 }, site: "s" }), { system_map: { nodes: 1 }, flows: [], constraints: [], site: "s" });
  assert.throws(() => diagnostics.buildValidatePayload({}), /system_map is required/);

  assert.deepEqual(diagnostics.buildCorridorPayload({ flows: [{ path: ["ingress", "api", "db"], latency_ms: 12 }] }), { flows: [{ path: ["ingress", "api", "db"], latency_ms: 12 }] });
  assert.throws(() => diagnostics.buildCorridorPayload({ flows: [] }), /flows is required/);

  assert.deepEqual(diagnostics.buildTopologyPayload({ graph: { auth: ["api"], api: ["db"], db: [] } }), { graph: { auth: ["api"], api: ["db"], db: [] } });
  const fromMap = diagnostics.buildTopologyPayload({ graph: new Map([["a", ["b"]], ["b", null], ["__proto__", []]]), site: "s" });
  assert.equal(JSON.stringify(fromMap), '{"graph":{"a":["b"],"b":[],"__proto__":[]},"site":"s"}');
});
