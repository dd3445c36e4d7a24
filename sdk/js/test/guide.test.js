// The guide "RTT-Inside for Datacenters & Research Labs", run as written:
// its JavaScript snippet (section 2) verbatim, in a folder where ./rtt-sdk is
// a symlink to sdk/js, then the JavaScript forms of sections 3, 4 and 6
// against the live API (RTT_URL), checked in ClickHouse.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { deriveEventId, contentId } from "../index.js";
import { liveURL, db, sqlString, waitForCount } from "./support.js";

const run = promisify(execFile);
const sdkDir = fileURLToPath(new URL("..", import.meta.url));

// Section 2, "JavaScript (Node)", character for character.
const SNIPPET = `import { RTTClient } from "./rtt-sdk/index.js";
const client = new RTTClient();
`;

// Sections 3, 4 and 6 in JavaScript, after the snippet.
const SECTIONS = `
import { createProfile, buildValidatePayload } from "./rtt-sdk/index.js";

// 3. Send System-Level Beacon Events
const payload = {
  site: "datacenter-east",
  session: "dc-" + Math.floor(Date.now() / 1000),
  event: "cluster_heartbeat",
  ts: "2026-01-19T15:30:00Z",
  structure: {
    url: "internal://cluster",
    title: "Cluster State",
    nav_count: 0,
    main_count: 0,
    form_count: 0,
    button_count: 0,
    dom_nodes: 0,
  },
};

const sent = await client.beacon(payload);

// 4. Register Datacenter Profiles
const profile = createProfile({
  version: "1.0",
  supports: ["coherence", "drift", "corridor"],
  contact: "infra@datacenter.example",
});

const registered = await client.setProfile("datacenter-east", profile);

// 6A. Coherence Validation
const validatePayload = buildValidatePayload({
  system_map: { nodes: 128, services: ["auth", "api", "db"] },
  flows: [{ from: "api", to: "db" }],
  constraints: [],
});

const validated = await client.validate(validatePayload);

// 6B. Corridor Alignment
const corridor = await client.corridor({
  flows: [
    { path: ["ingress", "api", "db"], latency_ms: 12 },
  ],
});

// 6C. Topology Decomposition
const topology = await client.topology({
  graph: {
    auth: ["api"],
    api: ["db"],
    db: [],
  },
});

console.log(JSON.stringify({ payload, sent, profile, registered, current: await client.getProfile("datacenter-east"), validatePayload, validated, corridor, topology }));
`;

async function guideDir(t) {
  const dir = await mkdtemp(join(tmpdir(), "rtt-guide-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(sdkDir, join(dir, "rtt-sdk"), "dir");
  return dir;
}

test("guide section 2: the JavaScript snippet runs verbatim next to ./rtt-sdk", async (t) => {
  const dir = await guideDir(t);
  await writeFile(join(dir, "guide.mjs"), SNIPPET);
  const { stdout, stderr } = await run(process.execPath, ["guide.mjs"], { cwd: dir, timeout: 30000 });
  assert.equal(stdout, "");
  assert.equal(stderr, "");
});

test("live: guide sections 2, 3, 4 and 6 in JavaScript against the API, checked in ClickHouse", async (t) => {
  const url = liveURL();
  const dir = await guideDir(t);
  await writeFile(join(dir, "guide.mjs"), SNIPPET + SECTIONS);
  const { stdout } = await run(process.execPath, ["guide.mjs"], { cwd: dir, timeout: 120000, env: { ...process.env, RTT_URL: url } });
  const out = JSON.parse(stdout.trim().split("\n").pop());

  assert.equal(out.sent.status, "ok");
  assert.equal(out.sent.event_id, deriveEventId(out.payload));
  assert.equal(out.registered.status, "ok");
  assert.equal(out.registered.event_id, contentId("p-", "datacenter-east", JSON.stringify(out.profile)));
  assert.deepEqual(out.current, out.profile);
  for (const [kind, ans] of [["validate", out.validated], ["corridor", out.corridor], ["topology", out.topology]]) {
    assert.equal(ans.status, "ok", kind);
    assert.equal(ans.version, "vst-beta/1", kind);
    assert.equal(ans.kind, kind);
  }
  assert.equal(out.topology.score, 1);

  const d = db();
  await waitForCount(`SELECT count() FROM ${d}.beacons FINAL WHERE site = 'datacenter-east' AND event_id = ${sqlString(out.sent.event_id)}`);
  await waitForCount(`SELECT count() FROM ${d}.profiles FINAL WHERE site = 'datacenter-east' AND event_id = ${sqlString(out.registered.event_id)}`);
  const requests = {
    validate: out.validatePayload,
    corridor: { flows: [{ path: ["ingress", "api", "db"], latency_ms: 12 }] },
    topology: { graph: { auth: ["api"], api: ["db"], db: [] } },
  };
  for (const [kind, body] of Object.entries(requests)) {
    const id = contentId("g-", kind, JSON.stringify(body));
    await waitForCount(`SELECT count() FROM ${d}.diagnostics FINAL WHERE kind = ${sqlString(kind)} AND event_id = ${sqlString(id)}`);
  }
});
