"""RTTClient against the real API (RTT_URL) and what reaches ClickHouse
(RTT_CLICKHOUSE_HTTP): server-derived ids, typed errors, retries that
never duplicate, batches, profiles, heartbeats."""

import json
import logging
import time
import unittest
import urllib.error
import urllib.request

from rtt_sdk import (
    BatchSender,
    RTTClient,
    RTTHTTPError,
    RTTValidationError,
    build_beacon_payload,
    build_corridor_payload,
    build_topology_payload,
    build_validate_payload,
    create_profile,
    derive_event_id,
)

from .support import RUN_ID, FakeServer, LiveTestCase, post_raw, q


def site(name):
    return f"py-{RUN_ID}-{name}"


def payloads(tag):
    """Beacons with non-ASCII text, HTML characters, control characters,
    floats and nested structures, unique to this run."""
    s = f"{RUN_ID}-{tag}"
    return [
        build_beacon_payload(site("plain"), "cluster_heartbeat", session=s, ts="2026-01-19T15:30:00Z"),
        build_beacon_payload(site("Zürich-東京"), "deploy_start", session=s + "-😀", ts="2026-01-19T15:30:00.123Z",
                             labels={"cluster": "øst", "team": "Ops & <SRE>"},
                             structure={"url": "internal://a?b=1&c=<2>", "title": "Ünïcödé \u2028 sep\tx",
                                        "nav_count": 1, "main_count": 2, "form_count": 3, "button_count": 4,
                                        "dom_nodes": 2147483647}),
        build_beacon_payload(site("nested"), "flow_observed", session=s, ts="2026-01-19T15:31:05Z",
                             flows=[{"path": ["ingress", "api", "db"], "latency_ms": 12.5},
                                    {"path": ["x"], "latency_ms": 1e-07, "corridor": "read"},
                                    {"path": ["y"], "latency_ms": 86400000.0}],
                             topology={"ingress": ["api"], "api": ["db"], "db": []},
                             structure={"main_count": 3, "dom_nodes": 128},
                             extra={"z": [1, {"b": 2, "a": "x"}, None, True, False, -0.0, 1e16],
                                    "a": {"": "empty key", "é": 1, "e": 2}}),
        build_beacon_payload(site("ctl"), "e", session=s, ts="2026-01-19T15:30:00Z",
                             note="\x00\x01\x1f\x7f\b\f\n\r\t\"\\/ \u2029 <>&"),
    ]


class ServerDerivedIDTest(LiveTestCase):
    needs_clickhouse = True

    def test_server_id_equals_client_id(self):
        client = RTTClient()
        ids = []
        for p in payloads("derive"):
            with self.subTest(site=p["site"]):
                want = derive_event_id(p)
                # Sent without the SDK and without event_id, in another
                # encoding (indented, keys unsorted, ASCII escapes): the
                # server derives the id itself.
                raw = json.dumps(dict(reversed(list(p.items()))), indent=2, ensure_ascii=True).encode()
                status, ans = post_raw(self.api + "/beacon", raw)
                self.assertEqual(status, 200, ans)
                self.assertEqual(ans["event_id"], want)
                self.assertFalse(ans["duplicate"])
                # The SDK computes the same id before sending, so its send of
                # the same payload is recognised as the same event.
                ans2 = client.beacon(p)
                self.assertEqual(ans2["event_id"], want)
                self.assertTrue(ans2["duplicate"])
                ids.append(want)
        in_list = ",".join(q(i) for i in ids)
        self.wait_ch({"one row per event": (
            f"SELECT count(), uniqExact(event_id) FROM {self.db}.beacons FINAL WHERE event_id IN ({in_list}) "
            f"FORMAT TabSeparated",
            lambda out: out.split() == [str(len(ids))] * 2)})


class ValidationErrorTest(LiveTestCase):
    def check(self, call, field):
        with self.assertRaises(RTTValidationError) as cm:
            call()
        e = cm.exception
        self.assertEqual((e.status, e.kind), (400, "invalid"))
        self.assertIn(field, e.fields, e.violations)
        self.assertIn(field, str(e))
        for v in e.violations:
            self.assertEqual(set(v), {"field", "rule"})
        return e

    def test_bad_payloads_name_the_field(self):
        c = RTTClient(retries=0)
        good = build_beacon_payload(site("invalid"), "cluster_heartbeat")
        bad_count = dict(good, structure=dict(good["structure"], nav_count="zero"))
        no_site = {k: v for k, v in good.items() if k != "site"}
        self.check(lambda: c.beacon(bad_count), "structure.nav_count")
        self.check(lambda: c.beacon(no_site), "site")
        self.check(lambda: c.beacon(dict(good, ts="yesterday")), "ts")
        self.check(lambda: c.beacon(dict(good, flows=[{"path": [], "latency_ms": 1}])), "flows[0].path")
        self.check(lambda: c.set_profile(site("invalid"), {"supports": "drift"}), "supports")
        self.check(lambda: c.set_profile(site("invalid"), {"corridors": [{"name": "a", "path": ["a"], "budget_ms": 5}]}),
                   "corridors[0].path")
        self.check(lambda: c.validate({"system_map": {}}), "flows")
        self.check(lambda: c.validate(build_validate_payload({"nodes": -1}, [])), "system_map.nodes")
        self.check(lambda: c.corridor(build_corridor_payload([{"path": ["a"], "latency_ms": "12"}])),
                   "flows[0].latency_ms")
        self.check(lambda: c.topology({"graph": {"a": "b"}}), "graph.a")
        self.check(lambda: c.get_profile("x" * 129), "site")

    def test_other_errors(self):
        c = RTTClient(retries=0)
        with self.assertRaises(RTTHTTPError) as cm:
            c._call("GET", "/no-such-endpoint")
        self.assertEqual((cm.exception.status, cm.exception.kind), (404, "not_found"))
        self.assertNotIsInstance(cm.exception, RTTValidationError)


class ProfileTest(LiveTestCase):
    def test_roundtrip(self):
        c = RTTClient()
        for name in ("plain", "lab/east 1 é"):
            with self.subTest(site=name):
                s = site(name)
                self.assertIsNone(c.get_profile(s))
                profile = create_profile("1.0", ["coherence", "drift", "corridor"], "infra@datacenter.example",
                                         corridors=[{"name": "read", "path": ["ingress", "api", "db"], "budget_ms": 50}])
                ans = c.set_profile(s, profile)
                self.assertEqual((ans["status"], ans["site"]), ("ok", s))
                self.assertTrue(ans["event_id"].startswith("p-"))
                self.assertEqual(c.get_profile(s), profile)

    def test_corridor_uses_profile(self):
        c = RTTClient()
        s = site("corridor")
        c.set_profile(s, create_profile("1.0", ["corridor"], "x@y",
                                        corridors=[{"name": "read", "path": ["ingress", "api", "db"], "budget_ms": 50}]))
        ans = c.corridor(build_corridor_payload([{"path": ["ingress", "api", "db"], "latency_ms": 12}], site=s))
        self.assertEqual(ans["result"]["source"], "profile")
        self.assertEqual(ans["result"]["aligned"], 1)
        topo = c.topology(build_topology_payload({"auth": ["api"], "api": ["db"], "db": None}))
        self.assertEqual(topo["result"]["longest_chain"], ["auth", "api", "db"])


class BatchTest(LiveTestCase):
    needs_clickhouse = True

    def test_partial_batch_and_resend(self):
        c = RTTClient()
        ps = payloads("batch")
        bad = dict(ps[0], structure=dict(ps[0]["structure"], dom_nodes=-1), session="bad")
        batch = ps[:2] + [bad] + ps[2:]
        ans = c.beacons(batch)
        self.assertEqual(ans["status"], "partial")
        self.assertEqual((ans["accepted"], ans["rejected"], ans["unavailable"], ans["attempts"]), (4, 1, 0, 1))
        self.assertEqual([r["status"] for r in ans["results"]], ["ok", "ok", "invalid", "ok", "ok"])
        self.assertEqual(ans["results"][2]["violations"][0]["field"], "structure.dom_nodes")
        self.assertEqual([r["event_id"] for r in ans["results"]], [derive_event_id(p) for p in batch])
        again = c.beacons(batch)
        self.assertEqual((again["accepted"], again["duplicates"]), (4, 4))
        ids = ",".join(q(derive_event_id(p)) for p in ps)
        self.wait_ch({"batch rows": (f"SELECT count() FROM {self.db}.beacons FINAL WHERE event_id IN ({ids})",
                                     lambda out: int(out) == 4)})


def forward(api, req):
    """Send a recorded request on to the real API; (status, body, headers)."""
    origin = api[: -len("/api/rtt")] if api.endswith("/api/rtt") else api
    r = urllib.request.Request(origin + req.path, data=req.body or None, method=req.method,
                               headers={"Content-Type": req.headers.get("Content-Type", "application/json")})
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class RetryNeverDuplicatesTest(LiveTestCase):
    """A proxy between the SDK and the real API breaks the first attempts."""

    needs_clickhouse = True

    def setUp(self):
        super().setUp()
        logging.getLogger("rtt").setLevel(logging.ERROR)
        self.addCleanup(logging.getLogger("rtt").setLevel, logging.NOTSET)

    def test_lost_answer_is_retried_with_same_event_id(self):
        # Attempt 1 reaches the server (stored) but its answer is lost (the
        # connection is reset); attempt 2 gets an answer: a duplicate.
        def script(i, req):
            status, body = forward(self.api, req)
            return "reset" if i == 0 else (status, body)

        p = build_beacon_payload(site("retry"), "cluster_heartbeat", session=RUN_ID)
        with FakeServer(script) as proxy:
            ans = RTTClient(proxy.url, backoff=0.05).beacon(p)
        self.assertEqual(len(proxy.requests), 2)
        sent = [r.json()["event_id"] for r in proxy.requests]
        self.assertEqual(sent, [derive_event_id(p)] * 2)
        self.assertEqual(ans["event_id"], sent[0])
        self.assertTrue(ans["duplicate"], "the server already held it from the first attempt")
        self.wait_ch({"stored once": (
            f"SELECT count() FROM {self.db}.beacons WHERE event_id={q(sent[0])}", lambda out: int(out) == 1)})

    def test_503_and_timeouts_then_stored_once(self):
        unavailable = (503, {"status": "error", "error": "unavailable", "message": "injected"}, {"Retry-After": "0"})

        def script(i, req):
            if i == 0:
                return unavailable
            if i == 1:  # stored, then too slow to answer: the client times out
                forward(self.api, req)
                return ("sleep", 2.5, (200, b"{}"))
            return forward(self.api, req)

        ps = payloads("retry-batch")
        with FakeServer(script) as proxy:
            ans = RTTClient(proxy.url, backoff=0.05, timeout=1.0).beacons(ps)
        self.assertEqual(len({r.body for r in proxy.requests}), 1, "every attempt sends the same bytes")
        self.assertEqual(ans["accepted"], len(ps))
        self.assertEqual(ans["duplicates"], len(ps), "attempt 2 had stored them")
        ids = ",".join(q(derive_event_id(p)) for p in ps)
        self.wait_ch({"stored once": (
            f"SELECT count() FROM {self.db}.beacons WHERE event_id IN ({ids})", lambda out: int(out) == len(ps))})


class BackgroundTest(LiveTestCase):
    needs_clickhouse = True

    def test_heartbeat(self):
        c = RTTClient()
        s = site("heartbeat")
        hb = c.start_heartbeat(lambda: build_beacon_payload(s, "cluster_heartbeat", labels={"cluster": "east"}),
                               every=0.2)
        self.addCleanup(hb.stop)
        deadline = time.monotonic() + 10
        while hb.sent < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        hb.stop()
        self.assertGreaterEqual(hb.sent, 3)
        self.assertEqual(hb.failed, 0, hb.last_error)
        n = hb.sent
        self.wait_ch({"heartbeats": (f"SELECT count() FROM {self.db}.beacons FINAL WHERE site={q(s)}",
                                     lambda out: int(out) == n)})

    def test_batch_sender(self):
        s = site("bulk")
        n = 1234
        with BatchSender(RTTClient(), max_items=500, interval=0.2) as bs:
            for k in range(n):
                bs.add(build_beacon_payload(s, "workload_transition", session=RUN_ID,
                                            structure={"dom_nodes": k}))
        self.assertEqual((bs.sent, bs.rejected, bs.failed, bs.pending), (n, 0, 0, 0))
        self.wait_ch({"bulk": (f"SELECT count() FROM {self.db}.beacons FINAL WHERE site={q(s)}",
                               lambda out: int(out) == n)})


if __name__ == "__main__":
    unittest.main()
