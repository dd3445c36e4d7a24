// The SDK against a real rtt API (RTT_URL) and its ClickHouse
// (RTT_CLICKHOUSE_HTTP, RTT_CLICKHOUSE_DATABASE). Without RTT_URL every test
// here fails, saying how to start the stack: these are not optional.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  RTTClient,
  RTTValidationError,
  createProfile,
  buildBeaconPayload,
  buildValidatePayload,
  buildCorridorPayload,
  buildTopologyPayload,
  deriveEventId,
  contentId,
} from "../index.js";
import { liveURL, db, sqlString, chQuery, waitForCount, rawPost, unique, guideStructure, startServer } from "./support.js";

const client = () => new RTTClient({ baseUrl: liveURL(), backoffMs: 50 });

/** beaconFor returns a beacon of a site only this test run uses. */
function beaconFor(site, over = {}) {
  return buildBeaconPayload({
    site,
    session: "js-sdk-" + Math.floor(Date.now() / 1000),
    event: "cluster_heartbeat",
    ts: new Date(),
    structure: { ...guideStructure },
    labels: { cluster: "east" },
    ...over,
  });
}

const countBeacons = (site) => `SELECT count() FROM ${db()}.beacons FINAL WHERE site = ${sqlString(site)}`;

test("live: a beacon is stored once, with the id the client derived, and reaches ClickHouse", async () => {
  const c = client();
  const site = unique("js-sdk-beacon");
  const payload = beaconFor(site);
  const first = await c.beacon(payload);
  assert.equal(first.status, "ok");
  assert.equal(first.event_id, deriveEventId(payload));
  assert.equal(first.duplicate, false);
  const again = await c.beacon(payload);
  assert.equal(again.event_id, first.event_id);
  assert.equal(again.duplicate, true, "an exact re-send is recognised");

  assert.equal(await waitForCount(countBeacons(site)), 1);
  const row = await chQuery(`SELECT event_id, event, url, title FROM ${db()}.beacons FINAL WHERE site = ${sqlString(site)} FORMAT TabSeparated`);
  assert.equal(row, [first.event_id, "cluster_heartbeat", "internal://cluster", "Cluster State"].join("\t"));
});

test("live: the server derives the same event_id as the client (non-ASCII, escapes, key order, numbers)", async () => {
  const site = unique("js-sdk-ids");
  const base = beaconFor(site);
  const cases = [
    ["guide heartbeat", base],
    ["non-ASCII", { ...base, site: site + "-süd-東京", session: "sitzung-ä", structure: { ...base.structure, title: "Clusterzustand – 東京 🚀 café" } }],
    ["HTML and control characters", { ...base, labels: { note: "<b>&amp;</b> > <", ctl: "a\b\f\n\r\t\u0001\u001f\u007f\"\\/", seps: "\u2028\u2029" } }],
    ["keys sorted by UTF-8 bytes", { ...base, labels: { "😀": "astral", "ｚ": "fullwidth", z: "ascii", "é": "latin", Z: "upper" } }],
    ["lone surrogate", { ...base, labels: { lone: "x\ud800y" } }],
    [
      "numbers",
      {
        ...base,
        structure: { ...base.structure, dom_nodes: 2147483647, nav_count: 12 },
        flows: [
          { path: ["ingress", "api", "db"], latency_ms: 12.5 },
          { path: ["api"], latency_ms: 0.1 },
          { path: ["db"], latency_ms: 5e-7 },
          { path: ["cache"], latency_ms: 86399999.999 },
          { path: ["auth"], latency_ms: 1.0 },
        ],
      },
    ],
    ["topology", { ...base, topology: { ingress: ["api"], api: ["db", "cache"], db: [], cache: [] } }],
  ];
  for (const [name, payload] of cases) {
    const ans = await rawPost("/beacon", payload); // no event_id: the server derives it
    assert.equal(ans.status, 200, `${name}: ${JSON.stringify(ans.body)}`);
    assert.equal(ans.body.event_id, deriveEventId(payload), name);
  }
  // The SDK sends these ids itself: the server sees each beacon again.
  const c = client();
  for (const [name, payload] of cases) {
    const ans = await c.beacon(payload);
    assert.equal(ans.duplicate, true, name);
  }
});

test("live: beacons() stores a batch, names the invalid item's field, and reaches ClickHouse", async () => {
  const c = client();
  const site = unique("js-sdk-batch");
  const batch = ["deploy_start", "topology_snapshot", "deploy_finish"].map((event, i) =>
    beaconFor(site, { event, structure: { ...guideStructure, main_count: i } }),
  );
  batch[1].topology = { ingress: ["api"], api: ["db"], db: [] };
  batch.push({ ...beaconFor(site), structure: { ...guideStructure, nav_count: "three" } });
  const r = await c.beacons(batch);
  assert.equal(r.status, "partial");
  assert.equal(r.accepted, 3);
  assert.equal(r.rejected, 1);
  assert.deepEqual(r.results.map((x) => x.status), ["ok", "ok", "ok", "invalid"]);
  assert.deepEqual(r.results.slice(0, 3).map((x) => x.event_id), batch.slice(0, 3).map(deriveEventId));
  assert.ok(r.results[3].violations.some((v) => v.field === "structure.nav_count"), JSON.stringify(r.results[3]));

  const again = await c.beacons(batch.slice(0, 3));
  assert.equal(again.duplicates, 3);
  assert.equal(await waitForCount(countBeacons(site), 3), 3);
});

test("live: a profile is registered, read back and reaches ClickHouse", async () => {
  const c = client();
  const site = unique("js-sdk-profil-süd");
  assert.equal(await c.getProfile(site), null);
  const profile = createProfile({
    version: "1.0",
    supports: ["coherence", "drift", "corridor"],
    contact: "infra@datacenter.example",
    corridors: [{ name: "read", path: ["ingress", "api", "db"], budget_ms: 50 }],
  });
  const ans = await c.setProfile(site, profile);
  assert.equal(ans.status, "ok");
  assert.equal(ans.site, site);
  assert.equal(ans.event_id, contentId("p-", site, JSON.stringify(profile)));
  assert.deepEqual(await c.getProfile(site), profile);

  const sql = `SELECT count() FROM ${db()}.profiles FINAL WHERE site = ${sqlString(site)} AND event_id = ${sqlString(ans.event_id)}`;
  assert.equal(await waitForCount(sql), 1);
  const row = await chQuery(`SELECT rtt_version, contact, corridors FROM ${db()}.profiles FINAL WHERE event_id = ${sqlString(ans.event_id)} FORMAT TabSeparated`);
  assert.equal(row, "1.0\tinfra@datacenter.example\t1");
});

test("live: validate, corridor and topology answer versioned results and reach ClickHouse", async () => {
  const c = client();
  const site = unique("js-sdk-diag");
  await c.setProfile(site, createProfile({ version: "1.0", supports: ["corridor"], corridors: [{ name: "read", path: ["ingress", "api", "db"], budget_ms: 50 }] }));

  const v = await c.validate(
    buildValidatePayload({ site, system_map: { nodes: 128, services: ["auth", "api", "db"] }, flows: [{ from: "api", to: "db" }], constraints: [{ type: "no_cycles" }] }),
  );
  assert.equal(v.status, "ok");
  assert.equal(v.version, "vst-beta/1");
  assert.equal(v.kind, "validate");
  assert.equal(typeof v.score, "number");

  const cor = await c.corridor(buildCorridorPayload({ site, flows: [{ path: ["ingress", "api", "db"], latency_ms: 12 }, { path: ["ingress", "db"], latency_ms: 90 }] }));
  assert.equal(cor.kind, "corridor");
  assert.equal(cor.result.source, "profile", "without corridors in the request the site's profile is used");
  assert.deepEqual(cor.result.corridors, ["read"]);
  assert.equal(cor.result.flows.length, 2);

  const topo = await c.topology(buildTopologyPayload({ site, graph: { auth: ["api"], api: ["db"], db: [] } }));
  assert.equal(topo.kind, "topology");
  assert.equal(topo.status, "ok");
  const again = await c.topology(buildTopologyPayload({ site, graph: { auth: ["api"], api: ["db"], db: [] } }));
  assert.deepEqual(again, topo, "same input, same result");

  const sql = `SELECT count() FROM (SELECT DISTINCT kind FROM ${db()}.diagnostics FINAL WHERE site = ${sqlString(site)})`;
  assert.equal(await waitForCount(sql, 3), 3);
  const kinds = await chQuery(`SELECT kind, count() FROM ${db()}.diagnostics FINAL WHERE site = ${sqlString(site)} GROUP BY kind ORDER BY kind FORMAT TabSeparated`);
  assert.equal(kinds, "corridor\t1\ntopology\t1\nvalidate\t1");
});

test("live: bad payloads are RTTValidationErrors naming the field", async () => {
  const c = client();
  const site = unique("js-sdk-bad");
  const cases = [
    ["beacon nav_count", () => c.beacon({ ...beaconFor(site), structure: { ...guideStructure, nav_count: "x" } }), "structure.nav_count"],
    ["beacon without site", () => c.beacon((({ site: _, ...rest }) => rest)(beaconFor(site))), "site"],
    ["beacon ts", () => c.beacon(beaconFor(site, { ts: "yesterday" })), "ts"],
    ["beacon flow", () => c.beacon(beaconFor(site, { flows: [{ path: [], latency_ms: 1 }] })), "flows[0].path"],
    ["profile supports", () => c.setProfile(site, { rtt_version: "1.0", supports: [""] }), "supports[0]"],
    ["profile corridor", () => c.setProfile(site, { corridors: [{ name: "r", path: ["a", "b"], budget_ms: 0 }] }), "corridors[0].budget_ms"],
    ["validate", () => c.validate({ flows: [] }), "system_map"],
    ["corridor", () => c.corridor({ flows: [{ path: ["a", "b"], latency_ms: -1 }] }), "flows[0].latency_ms"],
    ["topology", () => c.topology({ graph: { a: "b" } }), "graph.a"],
  ];
  for (const [name, call, field] of cases) {
    const err = await call().then(
      (ok) => assert.fail(`${name}: accepted: ${JSON.stringify(ok)}`),
      (e) => e,
    );
    assert.ok(err instanceof RTTValidationError, `${name}: ${err}`);
    assert.equal(err.status, 400, name);
    assert.equal(err.kind, "invalid", name);
    assert.ok(err.fields.includes(field), `${name}: want field ${field} in ${JSON.stringify(err.violations)}`);
    assert.match(err.message, new RegExp(field.replace(/[[\].]/g, "\\$&")), name);
  }
});

test("live: retries through a failing proxy re-send the same event_id and store the beacon once", async (t) => {
  const target = new URL(liveURL());
  // First request of each beacon: a 503 (not forwarded), or forwarded with
  // its answer lost (the connection is cut), then forwarded normally.
  const seen = new Map();
  const proxy = await startServer(async (req, res, body) => {
    const id = JSON.parse(body).event_id;
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    const mode = JSON.parse(body).labels?.mode;
    if (n === 1 && mode === "503") {
      res.writeHead(503, { "Content-Type": "application/json", "Retry-After": "0" });
      res.end(JSON.stringify({ status: "error", error: "unavailable", message: "proxy: try again" }));
      return;
    }
    const headers = { "Content-Type": "application/json" };
    if (req.headers.authorization) headers.Authorization = req.headers.authorization;
    const upstream = await fetch(target.href + req.url.slice("/api/rtt".length), { method: req.method, headers, body });
    const text = await upstream.text();
    if (n === 1 && mode === "lost") {
      req.socket.destroy(); // stored upstream, but the client never hears it
      return;
    }
    res.writeHead(upstream.status, { "Content-Type": "application/json" });
    res.end(text);
  });
  t.after(proxy.close);

  const c = new RTTClient({ baseUrl: proxy.url, backoffMs: 20 });
  const site = unique("js-sdk-retry");
  const b503 = beaconFor(site, { event: "after_503", labels: { mode: "503" } });
  const lost = beaconFor(site, { event: "answer_lost", labels: { mode: "lost" } });

  const a1 = await c.beacon(b503);
  assert.equal(a1.event_id, deriveEventId(b503));
  assert.equal(a1.duplicate, false);
  assert.equal(seen.get(a1.event_id), 2);

  const a2 = await c.beacon(lost);
  assert.equal(a2.event_id, deriveEventId(lost));
  assert.equal(a2.duplicate, true, "the retry reached a server that already had it");
  assert.equal(seen.get(a2.event_id), 2);

  assert.equal(await waitForCount(countBeacons(site), 2), 2);
  await new Promise((r) => setTimeout(r, 1500)); // past a sink batch: still no second copy
  assert.equal(Number(await chQuery(countBeacons(site))), 2);
  const ids = await chQuery(`SELECT event_id FROM ${db()}.beacons FINAL WHERE site = ${sqlString(site)} ORDER BY event_id FORMAT TabSeparated`);
  assert.deepEqual(ids.split("\n"), [a1.event_id, a2.event_id].sort());
});
