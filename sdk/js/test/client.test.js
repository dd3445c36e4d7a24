// RTTClient against local node:http servers: retries, typed errors,
// headers, batches, heartbeats, batch sender, logging. No rtt needed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  RTTClient,
  RTTError,
  RTTHTTPError,
  RTTValidationError,
  RTTUnavailableError,
  RTTTimeoutError,
  BatchSender,
  deriveEventId,
  parseRetryAfter,
} from "../index.js";
import { startServer, send, guideBeacon, until } from "./support.js";

const fast = { retries: 5, backoffMs: 1, maxBackoffMs: 5 };
const okBeacon = (body) => ({ status: "ok", event_id: JSON.parse(body).event_id, duplicate: false, seq: 1 });

test("a 503 then 200 is retried with the same event_id, derived before the first attempt", async (t) => {
  const srv = await startServer((req, res, body, n) => {
    if (n === 1) send(res, 503, { status: "error", error: "unavailable", message: "beacon not stored, retry with the same event_id" });
    else send(res, 200, okBeacon(body));
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const payload = guideBeacon();
  const ans = await client.beacon(payload);
  assert.equal(srv.requests.length, 2);
  const ids = srv.requests.map((r) => JSON.parse(r.body).event_id);
  assert.equal(ids[0], deriveEventId(payload));
  assert.equal(ids[1], ids[0]);
  assert.equal(ans.event_id, ids[0]);
  assert.equal(srv.requests[0].url, "/api/rtt/beacon");
  assert.equal(srv.requests[0].method, "POST");
  assert.match(srv.requests[0].headers["content-type"], /^application\/json/);
  assert.equal(payload.event_id, undefined, "the caller's payload is not changed");
  // the body is the payload plus event_id, nothing else
  const { event_id, ...rest } = JSON.parse(srv.requests[1].body);
  assert.deepEqual(rest, payload);
});

test("429, 502 and 504 are retried too; a given event_id is kept", async (t) => {
  const codes = [429, 502, 504];
  const srv = await startServer((req, res, body, n) => {
    if (n <= codes.length) {
      res.writeHead(codes[n - 1], { "Content-Type": "text/html" });
      res.end("<html>proxy says no</html>");
    } else send(res, 200, okBeacon(body));
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const ans = await client.beacon(guideBeacon({ event_id: "deploy-42" }));
  assert.equal(ans.event_id, "deploy-42");
  assert.equal(srv.requests.length, 4);
  for (const r of srv.requests) assert.equal(JSON.parse(r.body).event_id, "deploy-42");
});

test("Retry-After is honoured", async (t) => {
  const srv = await startServer((req, res, body, n) => {
    if (n === 1) send(res, 503, { status: "error", error: "unavailable", message: "full" }, { "Retry-After": "1" });
    else send(res, 200, okBeacon(body));
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  await client.beacon(guideBeacon());
  const gap = srv.requests[1].at - srv.requests[0].at;
  assert.ok(gap >= 950, `second attempt after ${gap} ms, want about 1000`);
  assert.equal(parseRetryAfter("2"), 2000);
  assert.equal(parseRetryAfter(new Date(Date.now() + 3000).toUTCString(), Date.now()) > 1000, true);
  assert.equal(parseRetryAfter("soon"), undefined);
  assert.equal(parseRetryAfter("99999"), 60000);
});

test("backoff grows exponentially with jitter and a cap", () => {
  const c = new RTTClient({ baseUrl: "http://127.0.0.1:1/api/rtt", backoffMs: 100, maxBackoffMs: 1000 });
  for (let i = 0; i < 50; i++) {
    const b1 = c.backoff(1);
    const b3 = c.backoff(3);
    const b9 = c.backoff(9);
    assert.ok(b1 >= 50 && b1 <= 100, `backoff(1)=${b1}`);
    assert.ok(b3 >= 200 && b3 <= 400, `backoff(3)=${b3}`);
    assert.ok(b9 >= 500 && b9 <= 1000, `backoff(9)=${b9}`);
  }
});

test("after the last retry a 503 is an RTTUnavailableError", async (t) => {
  const srv = await startServer((req, res) => send(res, 503, { status: "error", error: "unavailable", message: "beacon not stored" }));
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast, retries: 3 });
  const err = await client.beacon(guideBeacon()).catch((e) => e);
  assert.ok(err instanceof RTTUnavailableError, String(err));
  assert.ok(err instanceof RTTError);
  assert.equal(err.attempts, 4);
  assert.equal(err.status, 503);
  assert.equal(err.kind, "unavailable");
  assert.ok(err.cause instanceof RTTHTTPError);
  assert.match(err.message, /unavailable after 4 attempts: 503 unavailable: beacon not stored/);
  assert.equal(srv.requests.length, 4);
  assert.equal(new Set(srv.requests.map((r) => JSON.parse(r.body).event_id)).size, 1);
});

test("a 400 is an RTTValidationError carrying the server's violations, not retried", async (t) => {
  const answer = {
    status: "error",
    error: "invalid",
    message: "invalid beacon: structure.nav_count: got string, want integer",
    violations: [{ field: "structure.nav_count", rule: "got string, want integer" }],
  };
  const srv = await startServer((req, res) => send(res, 400, answer));
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const err = await client.beacon(guideBeacon({ structure: { nav_count: "x" } })).catch((e) => e);
  assert.ok(err instanceof RTTValidationError, String(err));
  assert.ok(err instanceof RTTHTTPError);
  assert.equal(err.status, 400);
  assert.equal(err.kind, "invalid");
  assert.equal(err.message, answer.message);
  assert.deepEqual(err.violations, answer.violations);
  assert.deepEqual(err.fields, ["structure.nav_count"]);
  assert.equal(srv.requests.length, 1);
});

test("other error statuses are RTTHTTPErrors, not retried", async (t) => {
  const srv = await startServer((req, res, body, n) => {
    if (req.url.endsWith("/validate")) send(res, 413, { status: "error", error: "too_large", message: "request body exceeds 1048576 bytes" });
    else if (req.url.endsWith("/topology")) send(res, 500, { status: "error", error: "internal", message: "boom" });
    else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("404 page not found");
    }
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const e413 = await client.validate({ system_map: {}, flows: [] }).catch((e) => e);
  assert.ok(e413 instanceof RTTHTTPError && !(e413 instanceof RTTValidationError));
  assert.equal(e413.status, 413);
  assert.equal(e413.kind, "too_large");
  const e500 = await client.topology({ graph: {} }).catch((e) => e);
  assert.equal(e500.status, 500);
  const e404 = await client.corridor({ flows: [] }).catch((e) => e);
  assert.equal(e404.status, 404);
  assert.equal(e404.kind, "");
  assert.equal(e404.message, "404 page not found");
  assert.equal(srv.requests.length, 3);
});

test("network errors are retried, then an RTTUnavailableError", async (t) => {
  // A server that drops the first connection without answering, then works.
  const srv = await startServer((req, res, body, n) => {
    if (n === 1) req.socket.destroy();
    else send(res, 200, okBeacon(body));
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const ans = await client.beacon(guideBeacon());
  assert.equal(srv.requests.length, 2);
  assert.equal(JSON.parse(srv.requests[0].body).event_id, ans.event_id);

  // Nothing listens: every attempt fails to connect.
  const down = await startServer(() => {});
  const url = down.url;
  await down.close();
  const c2 = new RTTClient({ baseUrl: url, ...fast, retries: 2 });
  const err = await c2.beacon(guideBeacon()).catch((e) => e);
  assert.ok(err instanceof RTTUnavailableError, String(err));
  assert.ok(!(err instanceof RTTTimeoutError));
  assert.equal(err.attempts, 3);
  assert.equal(err.status, undefined);
  assert.match(err.message, /ECONNREFUSED/);
});

test("an attempt that exceeds timeoutMs is retried; the last one is an RTTTimeoutError", async (t) => {
  const srv = await startServer(async (req, res, body, n) => {
    if (n === 1 || n >= 3) await new Promise((r) => setTimeout(r, 1500));
    if (!res.destroyed) send(res, 200, okBeacon(body));
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast, timeoutMs: 500 });
  const ans = await client.beacon(guideBeacon());
  assert.equal(srv.requests.length, 2);
  assert.equal(JSON.parse(srv.requests[0].body).event_id, ans.event_id);

  const c2 = new RTTClient({ baseUrl: srv.url, ...fast, timeoutMs: 100, retries: 1 });
  const err = await c2.beacon(guideBeacon()).catch((e) => e);
  assert.ok(err instanceof RTTTimeoutError, String(err));
  assert.ok(err instanceof RTTUnavailableError);
  assert.equal(err.attempts, 2);
  assert.match(err.message, /no answer within 100 ms/);
});

test("a caller's AbortSignal stops the retries", async (t) => {
  const srv = await startServer((req, res) => send(res, 503, { status: "error", error: "unavailable", message: "no" }, { "Retry-After": "5" }));
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url });
  const ctrl = new AbortController();
  setTimeout(() => ctrl.abort(new Error("shutting down")), 100);
  const started = Date.now();
  await assert.rejects(client.beacon(guideBeacon(), { signal: ctrl.signal }), /shutting down/);
  assert.ok(Date.now() - started < 2000);
  assert.equal(srv.requests.length, 1);
});

test("the bearer token is sent when set, from the option or RTT_TOKEN", async (t) => {
  const srv = await startServer((req, res) => send(res, 200, { site: "s", profile: null }));
  t.after(srv.close);
  await new RTTClient({ baseUrl: srv.url, token: "s3cret" }).getProfile("s");
  await new RTTClient({ baseUrl: srv.url, token: "" }).getProfile("s");
  const saved = process.env.RTT_TOKEN;
  process.env.RTT_TOKEN = "from-env";
  try {
    await new RTTClient({ baseUrl: srv.url }).getProfile("s");
  } finally {
    if (saved === undefined) delete process.env.RTT_TOKEN;
    else process.env.RTT_TOKEN = saved;
  }
  assert.equal(srv.requests[0].headers.authorization, "Bearer s3cret");
  assert.equal(srv.requests[1].headers.authorization, undefined);
  assert.equal(srv.requests[2].headers.authorization, "Bearer from-env");
});

test("the base URL comes from the option, else RTT_URL, else the default", () => {
  const saved = process.env.RTT_URL;
  try {
    delete process.env.RTT_URL;
    assert.equal(new RTTClient().baseUrl, "http://127.0.0.1:8080/api/rtt");
    process.env.RTT_URL = "http://rtt.example:9000/api/rtt/";
    assert.equal(new RTTClient().baseUrl, "http://rtt.example:9000/api/rtt");
    assert.equal(new RTTClient({ baseUrl: "https://x.example/api/rtt" }).baseUrl, "https://x.example/api/rtt");
    assert.throws(() => new RTTClient({ baseUrl: "not a url" }), RTTError);
    assert.throws(() => new RTTClient({ retries: -1 }), /retries/);
  } finally {
    if (saved === undefined) delete process.env.RTT_URL;
    else process.env.RTT_URL = saved;
  }
});

test("profiles: GET gives the object or null, the site is escaped in the path", async (t) => {
  const stored = new Map();
  const srv = await startServer((req, res, body) => {
    const site = decodeURIComponent(req.url.slice("/api/rtt/profile/".length));
    if (req.method === "POST") {
      stored.set(site, JSON.parse(body));
      send(res, 200, { status: "ok", site, event_id: "p-1" });
    } else send(res, 200, { site, profile: stored.get(site) ?? null });
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url });
  assert.equal(await client.getProfile("nowhere"), null);
  const site = "rz süd/1";
  const p = { rtt_version: "1.0", supports: ["drift"], contact: "infra@datacenter.example" };
  assert.deepEqual(await client.setProfile(site, p), { status: "ok", site, event_id: "p-1" });
  assert.deepEqual(await client.getProfile(site), p);
  assert.equal(srv.requests[1].url, "/api/rtt/profile/rz%20s%C3%BCd%2F1");
  await assert.rejects(client.getProfile(""), TypeError);
});

test("beacons re-sends only the items answered unavailable, with their event_ids", async (t) => {
  const srv = await startServer((req, res, body, n) => {
    const items = JSON.parse(body);
    const results = items.map((it, index) => {
      if (it.structure.nav_count === "bad") return { index, status: "invalid", error: "invalid beacon", violations: [{ field: "structure.nav_count", rule: "got string, want integer" }] };
      if (n === 1 && index === 1) return { index, status: "unavailable", event_id: it.event_id, error: "not stored, retry with the same event_id" };
      return { index, status: "ok", event_id: it.event_id, duplicate: n > 1 && index === 0 };
    });
    const accepted = results.filter((r) => r.status === "ok").length;
    send(res, accepted === items.length ? 200 : 207, { status: accepted === items.length ? "ok" : "partial", accepted, results });
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const batch = [0, 1, 2].map((i) => guideBeacon({ event: `e${i}` }));
  batch.push(guideBeacon({ structure: { nav_count: "bad" } }));
  const r = await client.beacons(batch);
  assert.equal(srv.requests.length, 2);
  assert.equal(JSON.parse(srv.requests[0].body).length, 4);
  const second = JSON.parse(srv.requests[1].body);
  assert.equal(second.length, 1);
  assert.equal(second[0].event_id, deriveEventId(batch[1]));
  assert.equal(r.status, "partial");
  assert.equal(r.accepted, 3);
  assert.equal(r.rejected, 1);
  assert.equal(r.unavailable, 0);
  assert.equal(r.attempts, 2);
  assert.deepEqual(r.results.map((x) => x.index), [0, 1, 2, 3]);
  assert.deepEqual(r.results.map((x) => x.status), ["ok", "ok", "ok", "invalid"]);
  assert.deepEqual(r.results.slice(0, 3).map((x) => x.event_id), batch.slice(0, 3).map(deriveEventId));
  assert.equal(r.results[3].violations[0].field, "structure.nav_count");
  assert.deepEqual(await client.beacons([]), { status: "ok", accepted: 0, duplicates: 0, rejected: 0, unavailable: 0, failed: 0, attempts: 0, results: [] });
});

test("beacons: items still unavailable after the retries are an RTTUnavailableError with the result", async (t) => {
  const srv = await startServer((req, res, body) => {
    const items = JSON.parse(body);
    send(res, 503, { status: "error", results: items.map((it, index) => ({ index, status: "unavailable", event_id: it.event_id, error: "not stored" })) }, { "Retry-After": "0" });
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast, retries: 2 });
  const err = await client.beacons([guideBeacon({ event: "a" }), guideBeacon({ event: "b" })]).catch((e) => e);
  assert.ok(err instanceof RTTUnavailableError, String(err));
  assert.equal(err.attempts, 3);
  assert.equal(err.result.unavailable, 2);
  assert.equal(err.result.status, "error");
  assert.equal(srv.requests.length, 3);
  const ids = srv.requests.map((r) => JSON.parse(r.body).map((b) => b.event_id).join());
  assert.equal(new Set(ids).size, 1, "every attempt carries the same ids");
});

test("beacons: a request refused as a whole throws with the result", async (t) => {
  const srv = await startServer((req, res) => send(res, 413, { status: "error", error: "too_large", message: "request body exceeds 16777216 bytes; split it into smaller batches" }));
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url, ...fast });
  const err = await client.beacons([guideBeacon()]).catch((e) => e);
  assert.ok(err instanceof RTTHTTPError);
  assert.equal(err.status, 413);
  assert.equal(err.result.failed, 1);
  assert.equal(srv.requests.length, 1);
});

test("logging: '[RTT] <event> sent' via console.info only with log: true", async (t) => {
  const srv = await startServer((req, res, body) => send(res, 200, okBeacon(body)));
  t.after(srv.close);
  const lines = [];
  const info = console.info;
  console.info = (...a) => lines.push(a.join(" "));
  try {
    await new RTTClient({ baseUrl: srv.url }).beacon(guideBeacon());
    assert.deepEqual(lines, []);
    await new RTTClient({ baseUrl: srv.url, log: true }).beacon(guideBeacon());
    assert.deepEqual(lines, ["[RTT] cluster_heartbeat sent"]);
  } finally {
    console.info = info;
  }
  const mine = [];
  const logger = { info: (m) => mine.push(m), warn: (m) => mine.push(m) };
  await new RTTClient({ baseUrl: srv.url, logger }).beacon(guideBeacon({ event: "deploy_start" }));
  assert.deepEqual(mine, ["[RTT] deploy_start sent"]);
  await new RTTClient({ baseUrl: srv.url, logger, log: false }).beacon(guideBeacon({ event: "quiet" }));
  assert.deepEqual(mine, ["[RTT] deploy_start sent"]);
});

test("startHeartbeat sends now and every everyMs, each beacon a new event, until stop()", async (t) => {
  const srv = await startServer((req, res, body) => send(res, 200, okBeacon(body)));
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url });
  const { ts, ...noTs } = guideBeacon();
  const hb = client.startHeartbeat(() => ({ ...noTs }), { everyMs: 40 });
  await until(() => srv.requests.length >= 3, "3 heartbeats");
  await hb.stop();
  const n = srv.requests.length;
  assert.ok(n >= 3, `${n} heartbeats`);
  const ids = srv.requests.map((r) => JSON.parse(r.body).event_id);
  assert.equal(new Set(ids).size, ids.length, "each heartbeat gets its own ts and so its own id");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(srv.requests.length, n, "nothing after stop()");
});

test("startHeartbeat reports failures to onError and keeps going", async (t) => {
  const srv = await startServer((req, res) => send(res, 400, { status: "error", error: "invalid", message: "site: required property is missing", violations: [{ field: "site", rule: "required property is missing" }] }));
  t.after(srv.close);
  const errors = [];
  const client = new RTTClient({ baseUrl: srv.url, onError: (e) => errors.push(e) });
  const hb = client.startHeartbeat(() => ({ event: "x" }), { everyMs: 30 });
  await until(() => errors.length >= 2, "2 errors reported");
  await hb.stop();
  assert.ok(errors.length >= 2);
  assert.ok(errors[0] instanceof RTTValidationError);
});

test("the heartbeat timer does not keep the process alive", () => {
  const index = fileURLToPath(new URL("../index.js", import.meta.url));
  const script = `import { RTTClient } from ${JSON.stringify(index)};
    new RTTClient({ baseUrl: "http://127.0.0.1:1/api/rtt" }).startHeartbeat(() => null, { everyMs: 60000, immediate: false });`;
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 10000 });
  assert.equal(r.status, 0, r.stderr?.toString());
  assert.ok(Date.now() - started < 5000);
});

test("BatchSender flushes every maxItems items and every flushMs, and on close()", async (t) => {
  const srv = await startServer((req, res, body) => {
    const items = JSON.parse(body);
    send(res, 200, { status: "ok", accepted: items.length, results: items.map((it, index) => ({ index, status: "ok", event_id: it.event_id })) });
  });
  t.after(srv.close);
  const client = new RTTClient({ baseUrl: srv.url });
  const results = [];
  const sender = client.batchSender({ maxItems: 3, flushMs: 50, onResult: (r) => results.push(r) });
  assert.ok(sender instanceof BatchSender);
  const payloads = Array.from({ length: 7 }, (_, i) => guideBeacon({ event: `e${i}` }));
  const ids = payloads.slice(0, 4).map((p) => sender.add(p));
  assert.deepEqual(ids, payloads.slice(0, 4).map(deriveEventId));
  await until(() => results.length === 2, "a flush by size, then one by age"); // 3 by size, then 1 by age
  assert.deepEqual(srv.requests.map((r) => JSON.parse(r.body).length), [3, 1]);
  assert.deepEqual(results.map((r) => r.accepted), [3, 1]);
  sender.add(payloads[4]);
  sender.add(payloads[5]);
  const last = await sender.close();
  assert.equal(last.accepted, 2);
  assert.deepEqual(srv.requests.map((r) => JSON.parse(r.body).length), [3, 1, 2]);
  const sent = srv.requests.flatMap((r) => JSON.parse(r.body).map((b) => b.event_id));
  assert.deepEqual(sent, payloads.slice(0, 6).map(deriveEventId));
  assert.throws(() => sender.add(payloads[6]), /closed/);
});

test("BatchSender: a failed background flush goes to onError with every item's status", async (t) => {
  const srv = await startServer((req, res) => send(res, 503, { status: "error", error: "unavailable", message: "down" }));
  t.after(srv.close);
  const errors = [];
  const client = new RTTClient({ baseUrl: srv.url, retries: 1, backoffMs: 1 });
  const sender = new BatchSender(client, { maxItems: 2, flushMs: 1000, onError: (e) => errors.push(e) });
  sender.add(guideBeacon({ event: "a" }));
  sender.add(guideBeacon({ event: "b" }));
  await until(() => errors.length === 1, "the flush's error reported");
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof RTTUnavailableError);
  assert.equal(errors[0].result.unavailable, 2);
  assert.deepEqual(errors[0].result.results.map((r) => r.status), ["unavailable", "unavailable"]);
  await sender.close();
});
