"""Event id derivation and canonical JSON, against vectors computed by Go's
encoding/json (the server's pkg/beacon.DeriveID). Pure unit tests."""

import json
import unittest

from rtt_sdk import canonical_json, content_id, derivable, derive_event_id, prepare_beacon

# The payloads and the ids Go's DeriveID gives them (decode with UseNumber,
# json.Marshal, sha256), computed with Go 1.26 from the payloads sent as
# indented, ASCII-escaped JSON.
VECTORS = [
    ({"site": "datacenter-east", "session": "dc-1768836600", "event": "cluster_heartbeat",
      "ts": "2026-01-19T15:30:00Z",
      "structure": {"url": "internal://cluster", "title": "Cluster State", "nav_count": 0,
                    "main_count": 0, "form_count": 0, "button_count": 0, "dom_nodes": 0}},
     "b-f248acfab8085932988493ec4bdc7dd6"),
    ({"site": "Zürich-東京", "session": "s-😀", "event": "deploy_start", "ts": "2026-01-19T15:30:00.123Z",
      "labels": {"cluster": "ost", "team": "Ops & <SRE>"},
      "structure": {"url": "internal://a?b=1&c=<2>", "title": "Ünïcödé \u2028 line\tsep", "nav_count": 1,
                    "main_count": 2, "form_count": 3, "button_count": 4, "dom_nodes": 2147483647}},
     "b-23f85cccd9d7963707769288dc57591d"),
    ({"site": "lab", "session": "s", "event": "flow_observed", "ts": "2026-01-19T15:31:05Z",
      "flows": [{"path": ["ingress", "api", "db"], "latency_ms": 12.5}, {"path": ["x"], "latency_ms": 1e-07},
                {"path": ["y"], "latency_ms": 86400000.0}],
      "topology": {"ingress": ["api"], "api": ["db"], "db": []},
      "structure": {"url": "internal://cluster", "title": "", "nav_count": 0, "main_count": 3,
                    "form_count": 0, "button_count": 0, "dom_nodes": 128},
      "extra": {"z": [1, {"b": 2, "a": "x"}, None, True, False, -0.0, 1e16],
                "a": {"": "empty key", "\u00e9": 1, "e": 2}}},
     "b-6adc3ee4d41c82f8aa733171eaf113ff"),
    ({"site": "ctl", "session": "", "event": "e", "ts": "2026-01-19T15:30:00Z",
      "note": "\x00\x01\x1f\x7f\b\f\n\r\t\"\\/",
      "structure": {"url": "u", "title": "t", "nav_count": 0, "main_count": 0, "form_count": 0,
                    "button_count": 0, "dom_nodes": 0}},
     "b-46a36f39de093d8fe75fbff1c982205c"),
]


class DeriveEventIDTest(unittest.TestCase):
    def test_go_vectors(self):
        for payload, want in VECTORS:
            with self.subTest(site=payload["site"]):
                self.assertEqual(derive_event_id(payload), want)

    def test_event_id_key_is_ignored(self):
        payload, want = VECTORS[0]
        self.assertEqual(derive_event_id(dict(payload, event_id="mine")), want)

    def test_key_order_does_not_matter(self):
        payload, want = VECTORS[2]
        reordered = json.loads(json.dumps(payload, sort_keys=True))
        reordered = dict(reversed(list(reordered.items())))
        self.assertEqual(derive_event_id(reordered), want)

    def test_json_dumps_agrees_on_plain_payloads(self):
        # The guide's rule of thumb: for ints and plain strings, sorted compact
        # json.dumps is the canonical form.
        payload, _ = VECTORS[0]
        self.assertEqual(canonical_json(payload),
                         json.dumps(payload, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False).encode())


class CanonicalJSONTest(unittest.TestCase):
    def test_go_escapes(self):
        self.assertEqual(canonical_json("<a href='x'>&</a>"), b'"\\u003ca href=\'x\'\\u003e\\u0026\\u003c/a\\u003e"')
        self.assertEqual(canonical_json("\u2028\u2029"), b'"\\u2028\\u2029"')
        self.assertEqual(canonical_json("\b\f\n\r\t\x00\x1f\x7f"), b'"\\b\\f\\n\\r\\t\\u0000\\u001f\x7f"')
        self.assertEqual(canonical_json('"\\/'), b'"\\"\\\\/"')
        self.assertEqual(canonical_json("é東😀"), "\"é東😀\"".encode())

    def test_numbers(self):
        self.assertEqual(canonical_json([0, -1, 10**30, 1.5, 1e-07, 1e16, -0.0, True, None]),
                         b"[0,-1,1000000000000000000000000000000,1.5,1e-07,1e+16,-0.0,true,null]")
        for bad in (float("nan"), float("inf")):
            with self.assertRaises(ValueError):
                canonical_json({"x": bad})

    def test_keys(self):
        self.assertEqual(canonical_json({"b": 1, "a": {"d": [], "c": {}}, "é": 0, "z": 0}),
                         '{"a":{"c":{},"d":[]},"b":1,"z":0,"é":0}'.encode())
        self.assertEqual(canonical_json({2: "x", 10: "y"}), b'{"10":"y","2":"x"}')
        with self.assertRaises(ValueError):
            canonical_json({1: "a", "1": "b"})
        with self.assertRaises(TypeError):
            canonical_json({"x": {1, 2}})

    def test_surrogates_are_not_derivable(self):
        payload = dict(VECTORS[0][0], title="bad \ud800 surrogate")
        self.assertFalse(derivable(payload))
        self.assertTrue(derivable(VECTORS[1][0]))
        with self.assertRaises(ValueError):
            derive_event_id(payload)
        body, event_id = prepare_beacon(payload)
        self.assertTrue(event_id.startswith("u-"), event_id)
        self.assertIn(b"\\ud800", body)  # sent escaped: still valid JSON
        self.assertEqual(json.loads(body)["event_id"], event_id)

    def test_content_id(self):
        # ingest's contentID("p-", site, body)
        self.assertEqual(content_id("p-", b"a", b"{}"),
                         "p-" + __import__("hashlib").sha256(b"a\0{}\0").hexdigest()[:32])


class PrepareBeaconTest(unittest.TestCase):
    def test_derived_id_is_injected_before_sending(self):
        payload, want = VECTORS[1]
        body, event_id = prepare_beacon(payload)
        self.assertEqual(event_id, want)
        doc = json.loads(body)
        self.assertEqual(doc.pop("event_id"), want)
        self.assertEqual(doc, payload)
        self.assertNotIn("event_id", payload, "the caller's dict is not changed")

    def test_given_id_is_kept(self):
        body, event_id = prepare_beacon(dict(VECTORS[0][0], event_id="deploy-42"))
        self.assertEqual(event_id, "deploy-42")
        self.assertEqual(json.loads(body)["event_id"], "deploy-42")

    def test_empty_id_is_derived(self):
        payload, want = VECTORS[0]
        for empty in (None, ""):
            self.assertEqual(prepare_beacon(dict(payload, event_id=empty))[1], want)

    def test_same_payload_same_bytes(self):
        payload, _ = VECTORS[2]
        self.assertEqual(prepare_beacon(payload), prepare_beacon(json.loads(json.dumps(payload))))

    def test_not_a_dict(self):
        with self.assertRaises(TypeError):
            prepare_beacon([1])


if __name__ == "__main__":
    unittest.main()
