"""HeartbeatThread and BatchSender against an in-process HTTP server."""

import threading
import time
import unittest

from rtt_sdk import BatchSender, HeartbeatThread, RTTError, RTTUnavailableError, build_beacon_payload

from .support import FakeServer, ok_batch, ok_beacon, sample_beacon
from .test_client_unit import QuietTestCase, batch_answer, client


def wait_until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class HeartbeatTest(QuietTestCase):
    def test_beats_until_stopped(self):
        with FakeServer(ok_beacon) as srv:
            c = client(srv.url)
            hb = c.start_heartbeat(lambda: build_beacon_payload("east", "cluster_heartbeat"), every=0.05)
            self.addCleanup(hb.stop)
            self.assertIsInstance(hb, HeartbeatThread)
            self.assertTrue(hb.daemon)
            self.assertTrue(wait_until(lambda: hb.sent >= 3))
            hb.stop()
            self.assertFalse(hb.is_alive())
            n = len(srv.requests)
            time.sleep(0.15)
            self.assertEqual(len(srv.requests), n, "no beat after stop()")
        ids = {r.json()["event_id"] for r in srv.requests}
        self.assertEqual(len(ids), len(srv.requests), "each beat is its own event")
        self.assertEqual(hb.failed, 0)

    def test_dict_payload_gets_fresh_ts(self):
        with FakeServer(ok_beacon) as srv:
            hb = client(srv.url).start_heartbeat(sample_beacon(), every=0.02)
            self.addCleanup(hb.stop)
            self.assertTrue(wait_until(lambda: hb.sent >= 2))
            hb.stop()
        sent = [r.json() for r in srv.requests]
        self.assertNotEqual(sent[0]["ts"], "2026-01-19T15:30:00Z")
        self.assertEqual(len({s["event_id"] for s in sent}), len(sent))

    def test_errors_are_logged_not_raised(self):
        calls = []

        def payload():
            calls.append(1)
            if len(calls) == 2:
                raise KeyError("bug in payload_fn")
            return sample_beacon(site=f"s{len(calls)}")

        body = {"status": "error", "error": "invalid", "message": "bad",
                "violations": [{"field": "site", "rule": "x"}]}
        with FakeServer(lambda i, req: (400, body) if i == 0 else ok_beacon(i, req)) as srv:
            hb = HeartbeatThread(client(srv.url), payload, every=0.02)
            self.addCleanup(hb.stop)
            with self.assertLogs("rtt", level="WARNING") as logs:
                hb.start()
                self.assertTrue(wait_until(lambda: hb.sent >= 1 and hb.failed >= 2))
                hb.stop()
        text = "\n".join(logs.output)
        self.assertIn("heartbeat not sent", text)
        self.assertIn("heartbeat failed", text)

    def test_stop_interrupts_retry_wait(self):
        unavailable = (503, {"status": "error", "error": "unavailable", "message": "x"}, {"Retry-After": "30"})
        with FakeServer([unavailable]) as srv:
            c = client(srv.url)
            c._sleep = time.sleep
            hb = c.start_heartbeat(sample_beacon(), every=60)
            self.addCleanup(hb.stop)
            self.assertTrue(wait_until(lambda: len(srv.requests) >= 1))
            t0 = time.monotonic()
            hb.stop()
            self.assertLess(time.monotonic() - t0, 2)
            self.assertFalse(hb.is_alive())

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            HeartbeatThread(client("http://x"), dict, every=0)
        with self.assertRaises(TypeError):
            HeartbeatThread(client("http://x"), "nope")


class BatchSenderTest(QuietTestCase):
    def test_flush_by_size(self):
        with FakeServer(ok_batch) as srv:
            with BatchSender(client(srv.url), max_items=3, interval=60) as bs:
                self.addCleanup(bs.close, flush=False)
                ids = [bs.add(sample_beacon(site=f"s{k}")) for k in range(7)]
                self.assertTrue(wait_until(lambda: len(srv.requests) == 2))
                self.assertEqual(bs.pending, 1)
            self.assertEqual(len(srv.requests), 3, "close() sends the rest")
        sizes = [len(r.json()) for r in srv.requests]
        self.assertEqual(sizes, [3, 3, 1])
        self.assertEqual([it["event_id"] for r in srv.requests for it in r.json()], ids)
        self.assertEqual((bs.sent, bs.rejected, bs.failed, bs.pending), (7, 0, 0, 0))
        with self.assertRaises(RTTError):
            bs.add(sample_beacon())

    def test_flush_by_interval(self):
        with FakeServer(ok_batch) as srv:
            bs = BatchSender(client(srv.url), max_items=1000, interval=0.1)
            self.addCleanup(bs.close, flush=False)
            bs.add(sample_beacon())
            self.assertTrue(wait_until(lambda: len(srv.requests) == 1, 2))
            bs.close()
        self.assertEqual(bs.sent, 1)

    def test_explicit_flush(self):
        with FakeServer(ok_batch) as srv:
            bs = client(srv.url).batch_sender(max_items=1000, interval=60)
            self.addCleanup(bs.close, flush=False)
            for k in range(5):
                bs.add(sample_beacon(site=f"s{k}"))
            bs.flush()
            self.assertEqual(len(srv.requests), 1)
            self.assertEqual(bs.pending, 0)
            bs.close()
            self.assertEqual(len(srv.requests), 1)

    def test_unavailable_items_are_requeued_with_same_ids(self):
        def script(i, req):
            items = req.json()
            if i == 0:
                return 207, batch_answer(items, ["ok", "unavailable", "invalid"])
            return ok_batch(i, req)

        results = []
        with FakeServer(script) as srv:
            c = client(srv.url, retries=0)
            bs = BatchSender(c, max_items=100, interval=60, on_result=lambda a, e: results.append((a, e)))
            self.addCleanup(bs.close, flush=False)
            for k in range(3):
                bs.add(sample_beacon(site=f"s{k}"))
            with self.assertRaises(RTTUnavailableError):
                bs.flush()
            self.assertEqual(bs.pending, 1)
            bs.flush()
            bs.close()
        first, second = srv.requests[0].json(), srv.requests[1].json()
        self.assertEqual(second, [first[1]])
        self.assertEqual((bs.sent, bs.rejected, bs.pending), (2, 1, 0))
        self.assertEqual(len(results), 2)
        self.assertIsInstance(results[0][1], RTTUnavailableError)

    def test_network_failure_keeps_items(self):
        state = {"down": True}

        def script(i, req):
            return "reset" if state["down"] else ok_batch(i, req)

        with FakeServer(script) as srv:
            bs = BatchSender(client(srv.url, retries=1), max_items=2, interval=60)
            self.addCleanup(bs.close, flush=False)
            bs.add(sample_beacon(site="a"))
            bs.add(sample_beacon(site="b"))
            self.assertTrue(wait_until(lambda: len(srv.requests) >= 2 and bs.last_error is not None))
            self.assertTrue(wait_until(lambda: bs.pending == 2))
            state["down"] = False
            bs.close()
        self.assertEqual((bs.sent, bs.pending), (2, 0))
        bodies = [r.body for r in srv.requests]
        self.assertEqual(len(set(bodies)), 1, "the same bytes every time")

    def test_concurrent_adds(self):
        with FakeServer(ok_batch) as srv:
            bs = BatchSender(client(srv.url), max_items=50, interval=0.05)
            self.addCleanup(bs.close, flush=False)

            def work(t):
                for k in range(200):
                    bs.add(sample_beacon(site=f"t{t}-{k}"))

            threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            bs.close()
        ids = [it["event_id"] for r in srv.requests for it in r.json()]
        self.assertEqual(len(ids), 800)
        self.assertEqual(len(set(ids)), 800)
        self.assertEqual(bs.sent, 800)

    def test_buffer_limit(self):
        bs = BatchSender(client("http://127.0.0.1:1/api/rtt"), max_items=2, interval=60, max_buffer=2)
        bs._stopping.set()  # no background sends: keep the buffer full
        with bs._cond:
            bs._cond.notify_all()
        bs._thread.join()
        bs._buf = [(b"{}", "a"), (b"{}", "b")]
        self.addCleanup(bs.close, flush=False)
        with self.assertRaises(RTTUnavailableError):
            bs.add(sample_beacon())


if __name__ == "__main__":
    unittest.main()
