"""Typed errors of the rtt SDK.

::

    RTTError                      every error this SDK raises
    ├── RTTHTTPError              a final error answer (4xx, or a 5xx that is not retried)
    │   └── RTTValidationError    400: the payload as sent can never be accepted
    └── RTTUnavailableError       still not stored after every retry (429/502/503/504, network)
        └── RTTTimeoutError       ... and the last attempt timed out

RTTValidationError is also a ValueError.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "RTTError",
    "RTTHTTPError",
    "RTTValidationError",
    "RTTUnavailableError",
    "RTTTimeoutError",
]


class RTTError(Exception):
    """Base class of every error raised by rtt_sdk."""


class RTTHTTPError(RTTError):
    """The server answered with an error status that retrying cannot fix.

    Attributes:
        status: the HTTP status code (400, 401, 404, 413, 415, 500 ...).
        kind: the server's error kind ("invalid", "unauthorized",
            "too_large", "unsupported_media_type", "not_found", ...), or
            "http_<status>" when the answer had no rtt error body (a proxy).
        message: the server's message (or the start of a non-JSON body).
        violations: list of {"field": ..., "rule": ...} (400 answers).
        body: the decoded JSON answer, or None.
        method, path: the request, path relative to the base URL.
        answer: for POST /beacons refused as a whole, the batch answer
            (every item "failed"); else None.
    """

    def __init__(self, status: int, kind: str, message: str,
                 violations: Optional[list] = None, *, body: Any = None,
                 method: str = "", path: str = ""):
        self.status = status
        self.kind = kind
        self.message = message
        self.violations = list(violations or [])
        self.body = body
        self.method = method
        self.path = path
        self.answer: Optional[dict] = None  # POST /beacons: the items' outcome
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        text = f"{where}{self.status} {self.kind}"
        if self.violations:
            text += ": " + "; ".join(_violation_text(v) for v in self.violations)
        elif self.message:
            text += ": " + self.message
        return text

    @property
    def fields(self) -> list:
        """The fields named by the violations, in order."""
        return [v.get("field", "") for v in self.violations if isinstance(v, dict)]


class RTTValidationError(RTTHTTPError, ValueError):
    """400: the server rejected the payload; ``violations`` name each field
    and rule, e.g. [{"field": "structure.nav_count", "rule": "got string,
    want integer"}]."""


class RTTUnavailableError(RTTError):
    """The request was not stored after every attempt (the server answered
    429, 502, 503 or 504, or the network failed). Sending the same payload
    later is safe: a beacon keeps its event_id, so it is stored once.

    Attributes:
        status: the last HTTP status, or None after a network error.
        kind: the server's error kind of the last answer ("unavailable"),
            or "network" / "timeout".
        message: what went wrong last.
        attempts: how many attempts were made.
        event_id: the beacon's event id (POST /beacon), else None.
        answer: for POST /beacons, the merged batch answer: which items were
            stored, which are still "unavailable"; else None.
    """

    def __init__(self, message: str, *, status: Optional[int] = None,
                 kind: str = "unavailable", attempts: int = 0,
                 event_id: Optional[str] = None, answer: Optional[dict] = None,
                 method: str = "", path: str = ""):
        self.status = status
        self.kind = kind
        self.message = message
        self.attempts = attempts
        self.event_id = event_id
        self.answer = answer
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}not stored after {attempts} attempt(s): {message}")


class RTTTimeoutError(RTTUnavailableError):
    """Every attempt failed and the last one timed out."""


def _violation_text(v: Any) -> str:
    if isinstance(v, dict):
        field, rule = v.get("field", ""), v.get("rule", "")
        return f"{field}: {rule}" if field else str(rule)
    return str(v)
