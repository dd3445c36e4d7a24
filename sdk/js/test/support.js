// Shared helpers of the SDK's tests (no tests of its own).

import http from "node:http";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

/**
 * startServer starts a local HTTP server on a free port whose handler is
 * handler(req, body, n) with n the 1-based request number; it records every
 * request. Returns {url, base, requests, close}.
 */
export async function startServer(handler) {
  const requests = [];
  const sockets = new Set();
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString("utf8");
    requests.push({ method: req.method, url: req.url, headers: req.headers, body, at: Date.now() });
    try {
      await handler(req, res, body, requests.length);
    } catch (err) {
      res.statusCode = 599;
      res.end(String(err));
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    url: `${base}/api/rtt`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** send answers with a JSON body. */
export function send(res, status, body, headers = {}) {
  res.writeHead(status, { "Content-Type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** unique returns a name no other test run uses: prefix-<time>-<random>. */
export function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

export const guideStructure = Object.freeze({
  url: "internal://cluster",
  title: "Cluster State",
  nav_count: 0,
  main_count: 0,
  form_count: 0,
  button_count: 0,
  dom_nodes: 0,
});

/** guideBeacon is the guide's section 3 payload, with overrides. */
export function guideBeacon(over = {}) {
  return {
    site: "datacenter-east",
    session: "dc-" + Math.floor(Date.now() / 1000),
    event: "cluster_heartbeat",
    ts: "2026-01-19T15:30:00Z",
    structure: { ...guideStructure },
    ...over,
  };
}

const LIVE_HELP =
  "the live tests need a running rtt API and its ClickHouse: start them (from the repository root: make up), then run\n" +
  "  RTT_URL=http://127.0.0.1:8080/api/rtt RTT_CLICKHOUSE_HTTP=http://127.0.0.1:8123 RTT_CLICKHOUSE_DATABASE=rtt node --test sdk/js/test/";

/** liveURL returns RTT_URL or throws (failing the test) when it is not set. */
export function liveURL() {
  const url = process.env.RTT_URL;
  if (!url) throw new Error("RTT_URL is not set: " + LIVE_HELP);
  return url.replace(/\/+$/, "");
}

function clickhouseURL() {
  const ch = process.env.RTT_CLICKHOUSE_HTTP;
  if (!ch) throw new Error("RTT_CLICKHOUSE_HTTP is not set (http://host:port of ClickHouse's HTTP interface): " + LIVE_HELP);
  return ch.replace(/\/+$/, "");
}

/** db is the rtt database in ClickHouse (RTT_CLICKHOUSE_DATABASE, default rtt). */
export function db() {
  const name = process.env.RTT_CLICKHOUSE_DATABASE || "rtt";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`RTT_CLICKHOUSE_DATABASE ${JSON.stringify(name)} is not a plain identifier`);
  return name;
}

/** sqlString quotes s as a ClickHouse string literal. */
export function sqlString(s) {
  return "'" + String(s).replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
}

/** chQuery runs SQL through ClickHouse's HTTP interface and returns the trimmed text answer. */
export async function chQuery(sql) {
  const res = await fetch(clickhouseURL() + "/", { method: "POST", body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse answered ${res.status} to ${sql}: ${text.trim()}`);
  return text.trim();
}

/**
 * waitForCount polls a SELECT count() until it reaches want (the sink
 * batches, so rows arrive after the API answered) and returns the count;
 * it fails after timeoutMs with the last count.
 */
export async function waitForCount(sql, want = 1, { timeoutMs = 30000, everyMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = Number(await chQuery(sql));
    if (last >= want) return last;
    if (Date.now() > deadline) assert.fail(`after ${timeoutMs} ms ClickHouse has ${last} rows, want ${want}: ${sql}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** rawPost posts a body to the live API without the SDK (so the server derives ids). */
export async function rawPost(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (process.env.RTT_TOKEN) headers.Authorization = `Bearer ${process.env.RTT_TOKEN}`;
  const res = await fetch(liveURL() + path, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** until polls fn until it returns true, failing after timeoutMs with what. */
export async function until(fn, what, { timeoutMs = 10000, everyMs = 10 } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) assert.fail(`after ${timeoutMs} ms still not: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
