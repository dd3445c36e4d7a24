"""The payload builders and checks. Pure unit tests."""

import datetime as dt
import re
import time
import unittest

import rtt_sdk
from rtt_sdk import (
    ZERO_STRUCTURE,
    build_beacon_payload,
    build_corridor_payload,
    build_topology_payload,
    build_validate_payload,
    create_profile,
    create_session_id,
    validate_profile,
)


class ProfileTest(unittest.TestCase):
    def test_create_profile_as_in_the_guide(self):
        profile = create_profile(version="1.0", supports=["coherence", "drift", "corridor"],
                                 contact="infra@datacenter.example")
        self.assertEqual(profile, {"rtt_version": "1.0", "supports": ["coherence", "drift", "corridor"],
                                   "contact": "infra@datacenter.example"})

    def test_extra_fields(self):
        corridors = [{"name": "read", "path": ["ingress", "api", "db"], "budget_ms": 50}]
        profile = create_profile("1.0", ("drift",), "a@b", corridors=corridors, region="eu")
        self.assertEqual(profile["corridors"], corridors)
        self.assertEqual(profile["region"], "eu")
        self.assertEqual(profile["supports"], ["drift"])

    def test_validate_profile_names_the_field(self):
        cases = [
            ({"rtt_version": 1}, "rtt_version"),
            ({"rtt_version": "x" * 33}, "rtt_version"),
            ({"supports": "drift"}, "supports"),
            ({"supports": ["ok", ""]}, "supports[1]"),
            ({"contact": None}, "contact"),
            ({"corridors": [{"name": "a", "path": ["a"], "budget_ms": 5}]}, "corridors[0].path"),
            ({"corridors": [{"name": "a", "path": ["a", "b"], "budget_ms": 0}]}, "corridors[0].budget_ms"),
            ({"corridors": [{"name": "a", "path": ["a", "b"]}]}, "corridors[0].budget_ms"),
            ({"corridors": [{"name": "a", "path": ["a", "b"], "budget_ms": 1, "x": 1}]}, "corridors[0].x"),
        ]
        for profile, field in cases:
            with self.subTest(field=field):
                with self.assertRaises(ValueError) as cm:
                    validate_profile(profile)
                self.assertTrue(str(cm.exception).startswith(field + ":"), str(cm.exception))
        with self.assertRaises(ValueError):
            create_profile("1.0", [""], "a@b")
        self.assertEqual(validate_profile({}), {})


class BuildersTest(unittest.TestCase):
    def test_validate_payload(self):
        p = build_validate_payload(system_map={"nodes": 128, "services": ["auth", "api", "db"]},
                                   flows=[{"from": "api", "to": "db"}], constraints=[])
        self.assertEqual(p, {"system_map": {"nodes": 128, "services": ["auth", "api", "db"]},
                             "flows": [{"from": "api", "to": "db"}], "constraints": []})
        self.assertEqual(build_validate_payload({}, [])["constraints"], [])
        self.assertEqual(build_validate_payload({}, [], site="s")["site"], "s")

    def test_corridor_payload(self):
        flows = [{"path": ["ingress", "api", "db"], "latency_ms": 12}]
        self.assertEqual(build_corridor_payload(flows), {"flows": flows})
        c = [{"name": "read", "path": ["ingress", "db"], "budget_ms": 5}]
        self.assertEqual(build_corridor_payload(flows, corridors=c, site="east"),
                         {"flows": flows, "corridors": c, "site": "east"})

    def test_topology_payload(self):
        self.assertEqual(build_topology_payload({"auth": ["api"], "api": ("db",), "db": None}, site="x"),
                         {"graph": {"auth": ["api"], "api": ["db"], "db": []}, "site": "x"})

    def test_session_id(self):
        sid = create_session_id()
        m = re.fullmatch(r"dc-(\d+)-[0-9a-f]{6}", sid)
        self.assertIsNotNone(m, sid)
        self.assertLessEqual(abs(int(m.group(1)) - time.time()), 5)
        self.assertTrue(create_session_id("lab").startswith("lab-"))
        self.assertNotEqual(create_session_id(), create_session_id())

    def test_beacon_payload_defaults(self):
        p = build_beacon_payload("datacenter-east", "cluster_heartbeat")
        self.assertEqual(p["structure"], ZERO_STRUCTURE)
        self.assertEqual(p["structure"]["url"], "internal://cluster")
        self.assertTrue(p["session"].startswith("dc-"))
        self.assertRegex(p["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        ts = dt.datetime.strptime(p["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
        self.assertLess(abs(ts.timestamp() - time.time()), 5)
        for absent in ("labels", "topology", "flows", "event_id"):
            self.assertNotIn(absent, p)

    def test_beacon_payload_fields(self):
        p = build_beacon_payload("s", "topology_snapshot", session="s1", ts="2026-01-19T15:30:00Z",
                                 structure={"dom_nodes": 128, "title": "Mesh"}, labels={"cluster": "east"},
                                 topology={"a": ["b"], "b": None}, flows=[{"path": ["a", "b"], "latency_ms": 3}],
                                 event_id="e-1", scope="mesh")
        self.assertEqual(p["structure"], dict(ZERO_STRUCTURE, dom_nodes=128, title="Mesh"))
        self.assertEqual(p["labels"], {"cluster": "east"})
        self.assertEqual(p["topology"], {"a": ["b"], "b": []})
        self.assertEqual(p["flows"], [{"path": ["a", "b"], "latency_ms": 3}])
        self.assertEqual((p["event_id"], p["scope"], p["session"], p["ts"]), ("e-1", "mesh", "s1", "2026-01-19T15:30:00Z"))
        self.assertEqual(ZERO_STRUCTURE["dom_nodes"], 0, "defaults are not changed")

    def test_exports(self):
        for name in ("RTTClient", "create_profile", "validate_profile", "build_validate_payload",
                     "build_corridor_payload", "build_topology_payload", "create_session_id",
                     "build_beacon_payload", "RTTError", "RTTHTTPError", "RTTValidationError",
                     "RTTUnavailableError", "RTTTimeoutError", "HeartbeatThread", "BatchSender"):
            self.assertTrue(hasattr(rtt_sdk, name), name)
            self.assertIn(name, rtt_sdk.__all__)


if __name__ == "__main__":
    unittest.main()
