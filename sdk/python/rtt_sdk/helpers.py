"""Payload builders and checks: plain dicts in the API's wire format
(schemas/json/*.schema.json of the rtt repository)."""

from __future__ import annotations

import copy
import datetime as _dt
import secrets
import time
from typing import Any, Iterable, Optional

__all__ = [
    "ZERO_STRUCTURE",
    "now_rfc3339",
    "create_session_id",
    "create_profile",
    "validate_profile",
    "build_beacon_payload",
    "build_validate_payload",
    "build_corridor_payload",
    "build_topology_payload",
]

#: The guide's structure of a cluster heartbeat, every count zero.
ZERO_STRUCTURE = {
    "url": "internal://cluster",
    "title": "Cluster State",
    "nav_count": 0,
    "main_count": 0,
    "form_count": 0,
    "button_count": 0,
    "dom_nodes": 0,
}


def now_rfc3339() -> str:
    """The current time in RFC 3339 UTC with milliseconds,
    e.g. "2026-01-19T15:30:00.123Z"."""
    now = _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def create_session_id(prefix: str = "dc") -> str:
    """A session id like the guide's "dc-" + str(int(time.time())), with a
    random suffix so two processes started in the same second differ:
    "dc-1768836600-3fa2c1"."""
    return f"{prefix}-{int(time.time())}-{secrets.token_hex(3)}"


def create_profile(version: str, supports: Iterable[str], contact: str, **extra: Any) -> dict:
    """A site profile: {"rtt_version": version, "supports": [...],
    "contact": contact, **extra}. extra may hold "corridors" (a list of
    {"name", "path", "budget_ms"}) or any other field. The profile is
    checked with validate_profile (ValueError naming the field)."""
    if isinstance(supports, str):
        supports = [supports]
    profile = {"rtt_version": version, "supports": list(supports), "contact": contact}
    profile.update(extra)
    validate_profile(profile)
    return profile


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_str(field: str, v: Any, *, min_len: int = 0, max_len: int) -> None:
    if not isinstance(v, str):
        raise ValueError(f"{field}: must be a string, got {type(v).__name__}")
    if len(v) < min_len:
        raise ValueError(f"{field}: must not be empty")
    if len(v) > max_len:
        raise ValueError(f"{field}: must be at most {max_len} characters")


def _check_corridors(field: str, corridors: Any) -> None:
    if not isinstance(corridors, list):
        raise ValueError(f"{field}: must be a list of corridors")
    if len(corridors) > 1024:
        raise ValueError(f"{field}: at most 1024 corridors")
    for i, c in enumerate(corridors):
        f = f"{field}[{i}]"
        if not isinstance(c, dict):
            raise ValueError(f"{f}: must be an object with name, path and budget_ms")
        for req in ("name", "path", "budget_ms"):
            if req not in c:
                raise ValueError(f"{f}.{req}: is required")
        for k in c:
            if k not in ("name", "path", "budget_ms"):
                raise ValueError(f"{f}.{k}: unknown field (a corridor has name, path and budget_ms)")
        _check_str(f"{f}.name", c["name"], min_len=1, max_len=128)
        path = c["path"]
        if not isinstance(path, list) or not 2 <= len(path) <= 64:
            raise ValueError(f"{f}.path: must be a list of 2 to 64 node names")
        for j, node in enumerate(path):
            _check_str(f"{f}.path[{j}]", node, min_len=1, max_len=256)
        b = c["budget_ms"]
        if not _is_number(b) or not 0 < b <= 86_400_000:
            raise ValueError(f"{f}.budget_ms: must be a number above 0 and at most 86400000")


def validate_profile(profile: Any) -> dict:
    """Check profile against the server's profile schema. Returns it
    unchanged, or raises ValueError whose message starts with the field
    ("supports[1]: must not be empty")."""
    if not isinstance(profile, dict):
        raise ValueError("profile: must be a dict")
    if "rtt_version" in profile:
        _check_str("rtt_version", profile["rtt_version"], max_len=32)
    if "supports" in profile:
        sup = profile["supports"]
        if not isinstance(sup, list):
            raise ValueError("supports: must be a list of strings")
        if len(sup) > 64:
            raise ValueError("supports: at most 64 entries")
        for i, s in enumerate(sup):
            _check_str(f"supports[{i}]", s, min_len=1, max_len=64)
    if "contact" in profile:
        _check_str("contact", profile["contact"], max_len=256)
    if "corridors" in profile:
        _check_corridors("corridors", profile["corridors"])
    for k in profile:
        if not isinstance(k, str):
            raise ValueError(f"{k!r}: field names must be strings")
    return profile


def build_beacon_payload(site: str, event: str, session: Optional[str] = None,
                         ts: Optional[str] = None, structure: Optional[dict] = None,
                         labels: Optional[dict] = None, topology: Optional[dict] = None,
                         flows: Optional[list] = None, event_id: Optional[str] = None,
                         **extra: Any) -> dict:
    """A beacon payload.

    session defaults to create_session_id(); ts to now (RFC 3339 UTC);
    structure to the guide's zero structure (url "internal://cluster",
    title "Cluster State", every count 0), and a partial structure is
    completed from it. labels, topology, flows and event_id are included
    when given; extra fields (e.g. scope="service-mesh") are added as is.
    """
    s = dict(ZERO_STRUCTURE)
    if structure:
        s.update(structure)
    payload: dict = {
        "site": site,
        "session": session if session is not None else create_session_id(),
        "event": event,
        "ts": ts if ts is not None else now_rfc3339(),
        "structure": s,
    }
    if labels is not None:
        payload["labels"] = dict(labels)
    if topology is not None:
        payload["topology"] = {node: list(deps or []) for node, deps in topology.items()}
    if flows is not None:
        payload["flows"] = copy.deepcopy(list(flows))
    if event_id is not None:
        payload["event_id"] = event_id
    payload.update(extra)
    return payload


def build_validate_payload(system_map: dict, flows: list, constraints: Optional[list] = None,
                           site: Optional[str] = None) -> dict:
    """A coherence validation request (POST /validate):
    {"system_map": ..., "flows": [...], "constraints": [...]}; constraints
    default to []; site is added when given."""
    payload: dict = {
        "system_map": system_map,
        "flows": list(flows),
        "constraints": list(constraints) if constraints is not None else [],
    }
    if site is not None:
        payload["site"] = site
    return payload


def build_corridor_payload(flows: list, corridors: Optional[list] = None,
                           site: Optional[str] = None) -> dict:
    """A corridor alignment request (POST /corridor): {"flows": [...]} plus
    "corridors" to align with (else the site's profile corridors are used)
    and "site" when given."""
    payload: dict = {"flows": list(flows)}
    if corridors is not None:
        payload["corridors"] = list(corridors)
    if site is not None:
        payload["site"] = site
    return payload


def build_topology_payload(graph: dict, site: Optional[str] = None) -> dict:
    """A topology decomposition request (POST /topology): {"graph": {node:
    [dependencies...]}}, None dependencies as []; "site" when given."""
    payload: dict = {"graph": {node: list(deps or []) for node, deps in graph.items()}}
    if site is not None:
        payload["site"] = site
    return payload
