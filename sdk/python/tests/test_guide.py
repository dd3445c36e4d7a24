"""The Python examples of "RTT-Inside for Datacenters & Research Labs",
sections 2 to 6, run verbatim against the real API (RTT_URL), then checked
in ClickHouse (RTT_CLICKHOUSE_HTTP, RTT_CLICKHOUSE_DATABASE).

Each SECTION_* string is a code block of the guide copied exactly. The only
addition is `import time`, which section 3 uses without importing. Section
5 has no Python code; its log line "[RTT] cluster_heartbeat sent" is checked
on the "rtt" logger.
"""

import logging
import unittest

from rtt_sdk import canonical_json, content_id, derive_event_id

from .support import LiveTestCase, q

# 2. Install the RTT SDK (Python or JavaScript) -- Python
SECTION_2 = '''\
from rtt_sdk import RTTClient
client = RTTClient()
'''

# Added: section 3 calls time.time().
IMPORT_TIME = "import time\n"

# 3. Send System-Level Beacon Events -- Python Example
SECTION_3 = '''\
payload = {
    "site": "datacenter-east",
    "session": "dc-" + str(int(time.time())),
    "event": "cluster_heartbeat",
    "ts": "2026-01-19T15:30:00Z",
    "structure": {
        "url": "internal://cluster",
        "title": "Cluster State",
        "nav_count": 0,
        "main_count": 0,
        "form_count": 0,
        "button_count": 0,
        "dom_nodes": 0
    }
}
 
client.beacon(payload)
'''

# 4. Register Datacenter Profiles -- Example Profile
SECTION_4 = '''\
from rtt_sdk import create_profile
 
profile = create_profile(
    version="1.0",
    supports=["coherence", "drift", "corridor"],
    contact="infra@datacenter.example"
)
 
client.set_profile("datacenter-east", profile)
'''

# 6. Prepare for vST-Beta Diagnostics -- A. Coherence Validation
SECTION_6A = '''\
from rtt_sdk import build_validate_payload
 
payload = build_validate_payload(
    system_map={"nodes": 128, "services": ["auth", "api", "db"]},
    flows=[{"from": "api", "to": "db"}],
    constraints=[]
)
 
client.validate(payload)
'''

# 6. B. Corridor Alignment
SECTION_6B = '''\
client.corridor({
    "flows": [
        {"path": ["ingress", "api", "db"], "latency_ms": 12}
    ]
})
'''

# 6. C. Topology Decomposition
SECTION_6C = '''\
client.topology({
    "graph": {
        "auth": ["api"],
        "api": ["db"],
        "db": []
    }
})
'''

# The literal payloads of 6B and 6C, to find their rows in ClickHouse.
CORRIDOR_6B = {"flows": [{"path": ["ingress", "api", "db"], "latency_ms": 12}]}
TOPOLOGY_6C = {"graph": {"auth": ["api"], "api": ["db"], "db": []}}


class GuideExamplesTest(LiveTestCase):
    needs_clickhouse = True

    def run_section(self, ns, name, code):
        try:
            exec(compile(code, f"<guide {name}>", "exec"), ns)
        except Exception as e:  # say which section broke
            raise AssertionError(f"guide {name} failed: {type(e).__name__}: {e}") from e

    def test_sections_2_to_6_verbatim_reach_clickhouse(self):
        ns = {"__name__": "guide"}
        logger = logging.getLogger("rtt")
        with self.assertLogs(logger, level="INFO") as logs:
            self.run_section(ns, "section 2", SECTION_2)
            self.assertEqual(ns["client"].base_url, self.api, "RTTClient() reads RTT_URL")
            self.run_section(ns, "import time", IMPORT_TIME)
            self.run_section(ns, "section 3", SECTION_3)
            beacon = dict(ns["payload"])
            self.run_section(ns, "section 4", SECTION_4)
            profile = dict(ns["profile"])
            self.run_section(ns, "section 6A", SECTION_6A)
            validate = dict(ns["payload"])
            self.run_section(ns, "section 6B", SECTION_6B)
            self.run_section(ns, "section 6C", SECTION_6C)

        # Section 5: the log line.
        self.assertIn("[RTT] cluster_heartbeat sent", [r.getMessage() for r in logs.records])

        # What the examples built.
        self.assertEqual(profile, {"rtt_version": "1.0", "supports": ["coherence", "drift", "corridor"],
                                   "contact": "infra@datacenter.example"})
        self.assertEqual(validate, {"system_map": {"nodes": 128, "services": ["auth", "api", "db"]},
                                    "flows": [{"from": "api", "to": "db"}], "constraints": []})
        self.assertNotIn("event_id", beacon, "the SDK does not change the caller's payload")

        # The same calls answer stable, versioned results (checklist of section 8).
        client = ns["client"]
        for call, payload in ((client.validate, validate), (client.corridor, CORRIDOR_6B),
                              (client.topology, TOPOLOGY_6C)):
            first, again = call(payload), call(payload)
            self.assertEqual(first, again)
            self.assertEqual(first["status"], "ok")
            self.assertEqual(first["version"], "vst-beta/1")
        self.assertEqual(client.get_profile("datacenter-east"), profile)

        # ClickHouse: the beacon, the profile and the three diagnostics.
        db = self.db
        beacon_id = derive_event_id(beacon)
        profile_id = content_id("p-", b"datacenter-east", canonical_json(profile))
        checks = {
            "beacon": (f"SELECT count(), any(session), any(event), any(url) FROM {db}.beacons FINAL "
                       f"WHERE site='datacenter-east' AND event_id={q(beacon_id)} FORMAT TabSeparated",
                       lambda out: out.split("\t")[0] == "1"
                       and out.rstrip("\n").split("\t")[1:] == [beacon["session"], "cluster_heartbeat",
                                                                "internal://cluster"]),
            "site count": (f"SELECT count() FROM {db}.beacons FINAL WHERE site='datacenter-east'",
                           lambda out: int(out) >= 1),
            "profile": (f"SELECT rtt_version, contact, supports FROM {db}.profiles FINAL "
                        f"WHERE site='datacenter-east' AND event_id={q(profile_id)} FORMAT TabSeparated",
                        lambda out: out.rstrip("\n").split("\t")
                        == ["1.0", "infra@datacenter.example", "['coherence','drift','corridor']"]),
        }
        for kind, payload in (("validate", validate), ("corridor", CORRIDOR_6B), ("topology", TOPOLOGY_6C)):
            diag_id = content_id("g-", kind.encode(), canonical_json(payload))
            checks[kind] = (f"SELECT kind, status FROM {db}.diagnostics FINAL WHERE event_id={q(diag_id)} "
                            f"FORMAT TabSeparated",
                            lambda out, k=kind: out.rstrip("\n") == f"{k}\tok")
        checks["diagnostic kinds"] = (
            f"SELECT uniqExact(kind) FROM {db}.diagnostics FINAL WHERE kind IN ('validate','corridor','topology')",
            lambda out: int(out) == 3)
        self.wait_ch(checks, timeout=30)


if __name__ == "__main__":
    unittest.main()
