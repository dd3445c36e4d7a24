"""RTTClient against an in-process HTTP server on 127.0.0.1: retries,
backoff, Retry-After, network failures, typed errors, headers. No rtt
stack needed."""

import logging
import time
import unittest

from rtt_sdk import (
    DEFAULT_BASE_URL,
    RTTClient,
    RTTError,
    RTTHTTPError,
    RTTTimeoutError,
    RTTUnavailableError,
    RTTValidationError,
    derive_event_id,
)

from .support import FakeServer, closed_port, env, ok_batch, ok_beacon, sample_beacon

UNAVAILABLE = (503, {"status": "error", "error": "unavailable", "message": "beacon not stored, retry"},
               {"Retry-After": "1"})


def client(url, **kw):
    kw.setdefault("retries", 5)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5)
    kw.setdefault("token", "")
    c = RTTClient(url, **kw)
    c.waits = []
    c._sleep = c.waits.append  # record the waits instead of sleeping
    return c


class QuietTestCase(unittest.TestCase):
    def setUp(self):
        logging.getLogger("rtt").setLevel(logging.CRITICAL)

    def tearDown(self):
        logging.getLogger("rtt").setLevel(logging.NOTSET)


class ConfigTest(QuietTestCase):
    def test_env_and_defaults(self):
        with env(RTT_URL=None, RTT_TOKEN=None):
            c = RTTClient()
            self.assertEqual(c.base_url, DEFAULT_BASE_URL)
            self.assertEqual(c.base_url, "http://127.0.0.1:8080/api/rtt")
            self.assertEqual(c.token, "")
            self.assertEqual((c.timeout, c.retries, c.backoff), (10.0, 5, 0.1))
        with env(RTT_URL="http://h:1/api/rtt/", RTT_TOKEN="s3cret"):
            c = RTTClient()
            self.assertEqual((c.base_url, c.token), ("http://h:1/api/rtt", "s3cret"))
            self.assertEqual(RTTClient("http://x/api/rtt", token="").token, "")
            self.assertEqual(RTTClient("http://x/api/rtt").base_url, "http://x/api/rtt")

    def test_bearer_token_header(self):
        with FakeServer(ok_beacon) as srv:
            client(srv.url, token="s3cret").beacon(sample_beacon())
            client(srv.url, token="").beacon(sample_beacon())
        self.assertEqual(srv.requests[0].headers.get("Authorization"), "Bearer s3cret")
        self.assertIsNone(srv.requests[1].headers.get("Authorization"))
        self.assertEqual(srv.requests[0].headers.get("Content-Type"), "application/json")
        self.assertEqual((srv.requests[0].method, srv.requests[0].path), ("POST", "/api/rtt/beacon"))


class RetryTest(QuietTestCase):
    def test_503_then_200_resends_same_event_id(self):
        with FakeServer([UNAVAILABLE, UNAVAILABLE, ok_beacon]) as srv:
            script = srv.script
            srv.script = lambda i, req: ok_beacon(i, req) if i >= 2 else script(i, req)
            c = client(srv.url)
            payload = sample_beacon()
            ans = c.beacon(payload)
        self.assertEqual(len(srv.requests), 3)
        bodies = {r.body for r in srv.requests}
        self.assertEqual(len(bodies), 1, "every attempt sends the same bytes")
        sent = srv.requests[0].json()
        self.assertEqual(sent["event_id"], derive_event_id(payload))
        self.assertEqual(ans["event_id"], sent["event_id"])
        self.assertEqual(c.waits, [1.0, 1.0], "Retry-After: 1 is honoured")
        self.assertNotIn("event_id", payload)

    def test_each_retryable_status(self):
        for status in (429, 502, 503, 504):
            with self.subTest(status=status):
                with FakeServer([(status, "<html>busy</html>"), ok_beacon]) as srv:
                    srv.script = lambda i, req, s=status: ok_beacon(i, req) if i else (s, "<html>busy</html>")
                    c = client(srv.url)
                    self.assertEqual(c.beacon(sample_beacon())["status"], "ok")
                self.assertEqual(len(srv.requests), 2)
                self.assertEqual(len(c.waits), 1)
                self.assertTrue(0.005 <= c.waits[0] <= 0.01, c.waits)

    def test_exponential_backoff_with_jitter(self):
        with FakeServer([(503, {"status": "error", "error": "unavailable", "message": "x"})]) as srv:
            c = client(srv.url, retries=8, backoff=0.1)
            with self.assertRaises(RTTUnavailableError) as cm:
                c.beacon(sample_beacon())
        self.assertEqual(len(srv.requests), 9)
        self.assertEqual(cm.exception.attempts, 9)
        self.assertEqual(cm.exception.status, 503)
        self.assertEqual(cm.exception.event_id, derive_event_id(sample_beacon()))
        full = [min(0.1 * 2 ** k, 5.0) for k in range(8)]
        self.assertEqual(len(c.waits), 8)
        for w, d in zip(c.waits, full):
            self.assertTrue(d / 2 <= w <= d, (w, d))

    def test_retry_after_http_date_and_cap(self):
        future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3))
        answers = [(503, "", {"Retry-After": future}), (503, "", {"Retry-After": "7200"}), (200, {"status": "ok"})]
        with FakeServer(answers) as srv:
            c = client(srv.url, max_retry_after=30)
            c.validate({"system_map": {}, "flows": []})
        self.assertTrue(1 <= c.waits[0] <= 3.5, c.waits)
        self.assertEqual(c.waits[1], 30)

    def test_no_retry_on_4xx_and_500(self):
        for status in (400, 401, 404, 413, 415, 500):
            with self.subTest(status=status):
                body = {"status": "error", "error": "some_kind", "message": "nope"}
                with FakeServer([(status, body)]) as srv:
                    c = client(srv.url)
                    with self.assertRaises(RTTHTTPError) as cm:
                        c.beacon(sample_beacon())
                self.assertEqual(len(srv.requests), 1)
                self.assertEqual(c.waits, [])
                self.assertEqual((cm.exception.status, cm.exception.kind, cm.exception.message),
                                 (status, "some_kind", "nope"))
                self.assertEqual(isinstance(cm.exception, RTTValidationError), status == 400)

    def test_retries_zero_is_one_attempt(self):
        with FakeServer([UNAVAILABLE]) as srv:
            with self.assertRaises(RTTUnavailableError) as cm:
                client(srv.url, retries=0).beacon(sample_beacon())
        self.assertEqual((len(srv.requests), cm.exception.attempts), (1, 1))


class NetworkTest(QuietTestCase):
    def test_connection_refused(self):
        c = client(f"http://127.0.0.1:{closed_port()}/api/rtt", retries=2)
        with self.assertRaises(RTTUnavailableError) as cm:
            c.beacon(sample_beacon())
        self.assertNotIsInstance(cm.exception, RTTTimeoutError)
        self.assertEqual((cm.exception.kind, cm.exception.attempts, cm.exception.status), ("network", 3, None))
        self.assertEqual(len(c.waits), 2)

    def test_connection_reset_then_ok(self):
        for broken in ("reset", "close"):
            with self.subTest(broken=broken):
                with FakeServer(lambda i, req, b=broken: ok_beacon(i, req) if i else b) as srv:
                    c = client(srv.url)
                    ans = c.beacon(sample_beacon())
                self.assertEqual(len(srv.requests), 2)
                self.assertEqual(srv.requests[0].body, srv.requests[1].body)
                self.assertEqual(ans["event_id"], derive_event_id(sample_beacon()))

    def test_timeout(self):
        with FakeServer(lambda i, req: ("sleep", 1.0, (200, {"status": "ok"}))) as srv:
            c = client(srv.url, timeout=0.2, retries=1)
            t0 = time.monotonic()
            with self.assertRaises(RTTTimeoutError) as cm:
                c.topology({"graph": {}})
            self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIsInstance(cm.exception, RTTUnavailableError)
        self.assertEqual((cm.exception.kind, cm.exception.attempts), ("timeout", 2))

    def test_timeout_then_ok(self):
        with FakeServer(lambda i, req: ok_beacon(i, req) if i else ("sleep", 1.0, ok_beacon(i, req))) as srv:
            c = client(srv.url, timeout=0.2)
            ans = c.beacon(sample_beacon())
        self.assertEqual(ans["status"], "ok")
        self.assertEqual(srv.requests[0].body, srv.requests[1].body)


class ErrorsTest(QuietTestCase):
    def test_validation_error(self):
        body = {"status": "error", "error": "invalid", "message": "invalid beacon: structure.nav_count: got string, want integer",
                "violations": [{"field": "structure.nav_count", "rule": "got string, want integer"}]}
        with FakeServer([(400, body)]) as srv:
            with self.assertRaises(RTTValidationError) as cm:
                client(srv.url).beacon(sample_beacon())
        e = cm.exception
        self.assertIsInstance(e, RTTHTTPError)
        self.assertIsInstance(e, RTTError)
        self.assertIsInstance(e, ValueError)
        self.assertEqual(e.status, 400)
        self.assertEqual(e.violations, body["violations"])
        self.assertEqual(e.fields, ["structure.nav_count"])
        self.assertIn("structure.nav_count", str(e))
        self.assertEqual(e.body, body)

    def test_non_json_error(self):
        with FakeServer([(401, "go away")]) as srv:
            with self.assertRaises(RTTHTTPError) as cm:
                client(srv.url).get_profile("x")
        self.assertEqual((cm.exception.status, cm.exception.kind, cm.exception.message), (401, "http_401", "go away"))

    def test_redirected_post_is_not_turned_into_get(self):
        with FakeServer([(302, "", {"Location": "https://elsewhere/api/rtt/beacon"})]) as srv:
            with self.assertRaises(RTTHTTPError) as cm:
                client(srv.url).beacon(sample_beacon())
        self.assertEqual(len(srv.requests), 1)
        self.assertEqual(cm.exception.status, 302)
        self.assertIn("https://elsewhere/api/rtt/beacon", cm.exception.message)

    def test_bad_2xx_answer(self):
        with FakeServer([(200, "not json")]) as srv:
            with self.assertRaises(RTTError):
                client(srv.url).validate({})

    def test_constructor(self):
        e = RTTHTTPError(400, "invalid", "bad", [{"field": "site", "rule": "required"}])
        self.assertEqual((e.status, e.kind, e.message, e.violations), (400, "invalid", "bad", [{"field": "site", "rule": "required"}]))


class EndpointsTest(QuietTestCase):
    def test_paths_and_answers(self):
        def script(i, req):
            if req.method == "GET":
                if req.path.endswith("/none"):
                    return 200, {"site": "none", "profile": None}
                return 200, {"site": "a/b é", "profile": {"rtt_version": "1.0"}}
            return 200, {"status": "ok", "path": req.path, "got": req.json()}

        with FakeServer(script) as srv:
            c = client(srv.url)
            self.assertEqual(c.get_profile("a/b é"), {"rtt_version": "1.0"})
            self.assertIsNone(c.get_profile("none"))
            self.assertEqual(c.set_profile("east", {"contact": "x"})["got"], {"contact": "x"})
            self.assertEqual(c.validate({"system_map": {}, "flows": []})["path"], "/api/rtt/validate")
            self.assertEqual(c.corridor({"flows": []})["path"], "/api/rtt/corridor")
            self.assertEqual(c.topology({"graph": {}})["path"], "/api/rtt/topology")
        self.assertEqual(srv.requests[0].path, "/api/rtt/profile/a%2Fb%20%C3%A9")
        self.assertEqual(srv.requests[2].path, "/api/rtt/profile/east")
        with self.assertRaises(ValueError):
            client(srv.url).get_profile("")

    def test_beacon_logs_the_guides_line(self):
        with FakeServer(ok_beacon) as srv:
            logging.getLogger("rtt").setLevel(logging.NOTSET)
            with self.assertLogs("rtt", level="INFO") as logs:
                client(srv.url).beacon(sample_beacon())
        self.assertIn("[RTT] cluster_heartbeat sent", [r.getMessage() for r in logs.records])


def batch_answer(items, statuses):
    res = []
    for j, (it, st) in enumerate(zip(items, statuses)):
        r = {"index": j, "status": st}
        if st != "invalid":
            r["event_id"] = it.get("event_id")
        if st == "unavailable":
            r["error"] = "not stored, retry with the same event_id"
        if st == "invalid":
            r["violations"] = [{"field": "site", "rule": "required property is missing"}]
        res.append(r)
    acc = statuses.count("ok")
    return {"status": "ok" if acc == len(items) else ("partial" if acc else "error"), "accepted": acc,
            "duplicates": 0, "rejected": statuses.count("invalid"),
            "unavailable": statuses.count("unavailable"), "results": res}


class BatchTest(QuietTestCase):
    def test_only_unavailable_items_are_retried(self):
        def script(i, req):
            items = req.json()
            if i == 0:  # item 1 not stored, item 2 invalid
                return 207, batch_answer(items, ["ok", "unavailable", "invalid", "ok"]), {"Retry-After": "1"}
            return ok_batch(i, req)

        payloads = [sample_beacon(site=f"s{k}") for k in range(4)]
        with FakeServer(script) as srv:
            c = client(srv.url)
            ans = c.beacons(payloads)
        self.assertEqual(len(srv.requests), 2)
        first, second = srv.requests[0].json(), srv.requests[1].json()
        self.assertEqual(len(first), 4)
        self.assertEqual(second, [first[1]], "only the unavailable item, same event_id")
        self.assertEqual([it["event_id"] for it in first], [derive_event_id(p) for p in payloads])
        self.assertEqual(ans["status"], "partial")
        self.assertEqual((ans["accepted"], ans["rejected"], ans["unavailable"], ans["attempts"]), (3, 1, 0, 2))
        self.assertEqual([r["status"] for r in ans["results"]], ["ok", "ok", "invalid", "ok"])
        self.assertEqual([r["index"] for r in ans["results"]], [0, 1, 2, 3])
        self.assertEqual(ans["results"][2]["event_id"], first[2]["event_id"])
        self.assertEqual(c.waits, [1.0])

    def test_503_whole_batch_then_ok(self):
        def script(i, req):
            items = req.json()
            if i == 0:
                return 503, batch_answer(items, ["unavailable"] * len(items)), {"Retry-After": "1"}
            if i == 1:
                return "reset"
            return ok_batch(i, req)

        with FakeServer(script) as srv:
            ans = client(srv.url).beacons([sample_beacon(site="a"), sample_beacon(site="b")])
        self.assertEqual(len(srv.requests), 3)
        self.assertEqual(srv.requests[0].body, srv.requests[2].body)
        self.assertEqual(ans["status"], "ok")
        self.assertEqual(ans["accepted"], 2)

    def test_still_unavailable_raises_with_answer(self):
        def script(i, req):
            items = req.json()
            if i == 0:
                return 207, batch_answer(items, ["ok"] + ["unavailable"] * (len(items) - 1))
            return 503, batch_answer(items, ["unavailable"] * len(items))

        with FakeServer(script) as srv:
            c = client(srv.url, retries=2)
            with self.assertRaises(RTTUnavailableError) as cm:
                c.beacons([sample_beacon(site="a"), sample_beacon(site="b")])
        ans = cm.exception.answer
        self.assertEqual(len(srv.requests), 3)
        self.assertEqual([r["status"] for r in ans["results"]], ["ok", "unavailable"])
        self.assertEqual((ans["accepted"], ans["unavailable"], ans["status"]), (1, 1, "partial"))

    def test_all_invalid_batch_is_answered(self):
        def script(i, req):
            items = req.json()
            return 400, batch_answer(items, ["invalid"] * len(items))

        with FakeServer(script) as srv:
            ans = client(srv.url).beacons([{"x": 1}])
        self.assertEqual((ans["status"], ans["rejected"]), ("error", 1))
        self.assertEqual(ans["results"][0]["violations"][0]["field"], "site")

    def test_refused_batch_raises(self):
        with FakeServer([(413, {"status": "error", "error": "too_large", "message": "split it"})]) as srv:
            with self.assertRaises(RTTHTTPError) as cm:
                client(srv.url).beacons([sample_beacon()])
        self.assertEqual((cm.exception.status, cm.exception.kind), (413, "too_large"))
        self.assertEqual(cm.exception.answer["results"][0]["status"], "failed")

    def test_empty(self):
        self.assertEqual(client("http://127.0.0.1:1/api/rtt").beacons([])["results"], [])


if __name__ == "__main__":
    unittest.main()
