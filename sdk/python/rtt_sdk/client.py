"""RTTClient: the rtt HTTP API (/api/rtt) over urllib, with retries."""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterable, Optional

from . import __version__
from .canonical import canonical_json, derivable, derive_event_id, random_event_id
from .errors import (
    RTTError,
    RTTHTTPError,
    RTTTimeoutError,
    RTTUnavailableError,
    RTTValidationError,
)

__all__ = ["RTTClient", "DEFAULT_BASE_URL", "RETRYABLE_STATUSES", "prepare_beacon"]

logger = logging.getLogger("rtt")

#: The API's base URL when neither the argument nor RTT_URL names one.
DEFAULT_BASE_URL = "http://127.0.0.1:8080/api/rtt"

#: Answers after which the same request is sent again.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})

#: Longest single wait between attempts computed from the backoff.
MAX_BACKOFF = 5.0

_MAX_MESSAGE = 300


class _Transient(Exception):
    """One attempt failed on the network (no HTTP answer)."""

    def __init__(self, kind: str, message: str, cause: BaseException):
        super().__init__(message)
        self.kind = kind  # "network" or "timeout"
        self.message = message
        self.cause = cause


class _Answer:
    __slots__ = ("status", "headers", "data")

    def __init__(self, status: int, headers: Any, data: bytes):
        self.status = status
        self.headers = headers
        self.data = data

    def json(self) -> Any:
        if not self.data:
            return None
        try:
            return json.loads(self.data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None


class _KeepMethodRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects of GET only: urllib would turn a redirected POST
    into a GET without its body. A POST answered 30x raises RTTHTTPError
    naming the new location."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        if req.get_method() not in ("GET", "HEAD"):
            return None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_KeepMethodRedirects())


def _is_timeout(e: BaseException) -> bool:
    if isinstance(e, (socket.timeout, TimeoutError)):
        return True
    reason = getattr(e, "reason", None)
    return isinstance(reason, (socket.timeout, TimeoutError))


def prepare_beacon(payload: dict) -> tuple[bytes, str]:
    """The body to send for payload and its event id, fixed before the
    first attempt so every retry sends the same bytes and id.

    A payload with an event_id keeps it. Without one (absent, None or "")
    it gets the id the server would derive from its content
    (canonical.derive_event_id) or, when that cannot be reproduced
    (surrogate code points), a random "u-<uuid>" id. The body is the
    canonical JSON of the payload with its event_id.
    """
    if not isinstance(payload, dict):
        raise TypeError(f"a beacon payload is a dict, not {type(payload).__name__}")
    event_id = payload.get("event_id")
    if event_id in (None, ""):
        doc = {k: v for k, v in payload.items() if k != "event_id"}
        event_id = derive_event_id(doc) if derivable(doc) else random_event_id()
        doc["event_id"] = event_id
        return canonical_json(doc), event_id
    return canonical_json(payload), event_id


class RTTClient:
    """A client of one rtt API.

    base_url: e.g. "http://127.0.0.1:8080/api/rtt"; None reads RTT_URL,
        else DEFAULT_BASE_URL.
    token: bearer token sent as "Authorization: Bearer <token>"; None reads
        RTT_TOKEN; "" sends none.
    timeout: seconds each socket operation of an attempt may take.
    retries: attempts after the first one for a transient failure (429,
        502, 503, 504, network errors, timeouts); 0 means one attempt.
    backoff: the wait before the first retry; it doubles per retry (capped
        at 5 s) and half of it is random jitter. A Retry-After header wins
        (capped at max_retry_after).

    The client holds no connection and is safe to use from many threads.
    """

    def __init__(self, base_url: Optional[str] = None, token: Optional[str] = None,
                 timeout: float = 10.0, retries: int = 5, backoff: float = 0.1, *,
                 max_retry_after: float = 60.0, user_agent: Optional[str] = None):
        if base_url is None or base_url == "":
            base_url = os.environ.get("RTT_URL") or DEFAULT_BASE_URL
        if token is None:
            token = os.environ.get("RTT_TOKEN") or ""
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.max_retry_after = max_retry_after
        self.user_agent = user_agent or f"rtt-python-sdk/{__version__}"
        self._sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"RTTClient({self.base_url!r}, token={'set' if self.token else 'none'})"

    # ------------------------------------------------------------------ API

    def beacon(self, payload: dict) -> dict:
        """POST /beacon: store one beacon. Returns the server's answer
        {"status": "ok", "event_id": ..., "duplicate": bool, "seq": ...}.

        Without an event_id the payload gets its content-derived one before
        the first attempt (see prepare_beacon), so a retry, or a re-send of
        the same payload, is stored once (the answer says duplicate: true).
        Raises RTTValidationError (400, violations name the fields),
        RTTHTTPError, RTTUnavailableError / RTTTimeoutError.
        """
        return self._beacon(payload)

    def beacons(self, payloads: Iterable[dict]) -> dict:
        """POST /beacons: store many beacons in one request (a JSON array).

        Every item gets its event_id before the first attempt. Items the
        server answers "unavailable" are sent again (only those, same ids)
        with backoff; "invalid" items are final. Returns the batch answer
        merged over all attempts: {"status": "ok"|"partial"|"error",
        "accepted", "duplicates", "rejected", "unavailable", "attempts",
        "results": [{"index", "status", "event_id", ...}, ...]} with one
        result per payload, in order. A batch whose items are all invalid
        is answered too (status "error", every result "invalid").

        Raises RTTUnavailableError (its .answer says which items were
        stored) when items are still unavailable after the retries, and
        RTTHTTPError when the request as a whole is refused (413 too large:
        the server takes at most 10,000 items and 16 MiB by default).
        """
        prepared = [prepare_beacon(p) for p in payloads]
        return self._beacons_prepared(prepared)

    def get_profile(self, site: str) -> Optional[dict]:
        """GET /profile/{site}: the site's current profile, or None."""
        ans = self._call("GET", "/profile/" + _quote(site))
        if not isinstance(ans, dict):
            raise RTTError(f"GET /profile/{site}: unexpected answer {ans!r}")
        return ans.get("profile")

    def set_profile(self, site: str, profile: dict) -> dict:
        """POST /profile/{site}: register the site's profile. Returns
        {"status": "ok", "site": ..., "event_id": ...}."""
        return self._call("POST", "/profile/" + _quote(site), canonical_json(profile))

    def validate(self, payload: dict) -> dict:
        """POST /validate: coherence validation of {system_map, flows,
        constraints}; returns the server's versioned result."""
        return self._call("POST", "/validate", canonical_json(payload))

    def corridor(self, payload: dict) -> dict:
        """POST /corridor: corridor alignment of {flows[, corridors, site]}."""
        return self._call("POST", "/corridor", canonical_json(payload))

    def topology(self, payload: dict) -> dict:
        """POST /topology: topology decomposition of {graph[, site]}."""
        return self._call("POST", "/topology", canonical_json(payload))

    def start_heartbeat(self, payload_fn: Any, every: float = 30.0) -> "HeartbeatThread":
        """Send a beacon now and then every `every` seconds from a daemon
        thread. payload_fn is called for each beacon (or is a dict, sent
        with a fresh ts each time). Errors are logged to the "rtt" logger,
        never raised. Returns the thread; call .stop() to end it."""
        from .background import HeartbeatThread
        hb = HeartbeatThread(self, payload_fn, every=every)
        hb.start()
        return hb

    def batch_sender(self, max_items: int = 500, interval: float = 1.0, **kwargs: Any) -> "BatchSender":
        """A BatchSender sending through this client."""
        from .background import BatchSender
        return BatchSender(self, max_items=max_items, interval=interval, **kwargs)

    # ------------------------------------------------------------ internals

    def _beacon(self, payload: dict, cancel: Optional[threading.Event] = None) -> dict:
        body, event_id = prepare_beacon(payload)
        ans = self._call("POST", "/beacon", body, event_id=event_id, cancel=cancel)
        logger.info("[RTT] %s sent", payload.get("event"))
        return ans

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _attempt(self, method: str, path: str, body: Optional[bytes]) -> _Answer:
        """One HTTP request. Returns any HTTP answer; raises _Transient for
        a network failure."""
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self._url(path), data=body, headers=headers, method=method)
        try:
            with _opener.open(req, timeout=self.timeout) as resp:
                return _Answer(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as e:
            try:
                data = e.read()
            except Exception:  # the error body is best effort
                data = b""
            finally:
                e.close()
            return _Answer(e.code, e.headers, data)
        except urllib.error.URLError as e:
            if isinstance(e.reason, ssl.SSLCertVerificationError):
                raise RTTError(f"{method} {path}: {e.reason}") from e
            kind = "timeout" if _is_timeout(e) else "network"
            raise _Transient(kind, f"{kind} error: {e.reason}", e) from e
        except (OSError, http.client.HTTPException) as e:
            kind = "timeout" if _is_timeout(e) else "network"
            raise _Transient(kind, f"{kind} error: {type(e).__name__}: {e}", e) from e

    def _error(self, method: str, path: str, ans: _Answer) -> RTTHTTPError:
        body = ans.json()
        if isinstance(body, dict) and (body.get("error") or body.get("message")):
            kind = str(body.get("error") or f"http_{ans.status}")
            message = str(body.get("message") or "")
            violations = body.get("violations") or []
        else:
            kind = f"http_{ans.status}"
            message = ans.data.decode("utf-8", "replace").strip()[:_MAX_MESSAGE]
            if 300 <= ans.status < 400 and ans.headers is not None and ans.headers.get("Location"):
                message = f"redirected to {ans.headers.get('Location')}: use that base URL"
            if not message:
                message = http.client.responses.get(ans.status, "")
            violations = []
            if ans.status == 400 and isinstance(body, dict) and isinstance(body.get("results"), list):
                for it in body["results"]:
                    violations.extend(it.get("violations") or [])
        cls = RTTValidationError if ans.status == 400 else RTTHTTPError
        return cls(ans.status, kind, message, violations, body=body, method=method, path=path)

    def _retry_after(self, headers: Any) -> float:
        if headers is None:
            return 0.0
        v = (headers.get("Retry-After") or "").strip()
        if not v:
            return 0.0
        try:
            secs = float(v)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(v)
            except (TypeError, ValueError, IndexError):
                return 0.0
            if when is None:
                return 0.0
            secs = when.timestamp() - time.time()
        if secs != secs or secs <= 0:  # NaN or past
            return 0.0
        return min(secs, self.max_retry_after)

    def _backoff_for(self, retry: int) -> float:
        """Wait before retry number `retry` (1-based): backoff * 2^(retry-1),
        capped at MAX_BACKOFF, the upper half of it random."""
        d = min(self.backoff * (2 ** min(retry - 1, 32)), MAX_BACKOFF)
        return d / 2 + random.uniform(0, d / 2)

    def _pause(self, retry: int, retry_after: float, cancel: Optional[threading.Event]) -> bool:
        """Wait before a retry; False when cancel was set meanwhile."""
        d = retry_after if retry_after > 0 else self._backoff_for(retry)
        if cancel is not None:
            return not cancel.wait(d)
        self._sleep(d)
        return True

    def _call(self, method: str, path: str, body: Optional[bytes] = None, *,
              event_id: Optional[str] = None, cancel: Optional[threading.Event] = None) -> Any:
        """Send a request, retrying transient failures; return the decoded
        JSON of the first 2xx answer or raise a typed error."""
        attempts = 0
        while True:
            attempts += 1
            retry_after = 0.0
            try:
                ans = self._attempt(method, path, body)
            except _Transient as t:
                last_kind, last_msg, last_status, last_exc = t.kind, t.message, None, t.cause
            else:
                if 200 <= ans.status < 300:
                    out = ans.json()
                    if out is None and ans.data:
                        raise RTTError(f"{method} {path}: {ans.status} answer is not JSON: "
                                       f"{ans.data[:_MAX_MESSAGE]!r}")
                    return out
                err = self._error(method, path, ans)
                if ans.status not in RETRYABLE_STATUSES:
                    raise err
                last_kind, last_msg, last_status, last_exc = err.kind, _short(err), ans.status, err
                retry_after = self._retry_after(ans.headers)
            if attempts > self.retries:
                break
            logger.warning("[RTT] %s %s failed (%s), retry %d of %d%s", method, path, last_msg,
                           attempts, self.retries, f" (event_id {event_id})" if event_id else "")
            if not self._pause(attempts, retry_after, cancel):
                last_msg = "stopped while waiting to retry; last: " + last_msg
                break
        cls = RTTTimeoutError if last_kind == "timeout" else RTTUnavailableError
        raise cls(last_msg, status=last_status, kind=last_kind, attempts=attempts,
                  event_id=event_id, method=method, path=path) from last_exc

    def _beacons_prepared(self, prepared: list, cancel: Optional[threading.Event] = None) -> dict:
        """POST /beacons of (body, event_id) pairs; see beacons()."""
        method, path = "POST", "/beacons"
        n = len(prepared)
        results: list = [{"index": i, "status": "pending", "event_id": eid}
                         for i, (_, eid) in enumerate(prepared)]
        if n == 0:
            return _merge(results, 0)
        pending = list(range(n))
        attempts = 0
        while True:
            attempts += 1
            retry_after = 0.0
            body = b"[" + b",".join(prepared[i][0] for i in pending) + b"]"
            try:
                ans = self._attempt(method, path, body)
            except _Transient as t:
                last_kind, last_msg, last_status, last_exc = t.kind, t.message, None, t.cause
            else:
                doc = ans.json()
                per_item = (isinstance(doc, dict) and isinstance(doc.get("results"), list)
                            and (200 <= ans.status < 300 or ans.status == 400
                                 or ans.status in RETRYABLE_STATUSES))
                if not per_item:
                    if 200 <= ans.status < 300:
                        raise RTTError(f"{method} {path}: {ans.status} answer without per-item results")
                    err = self._error(method, path, ans)
                    if ans.status not in RETRYABLE_STATUSES:
                        _fail(results, pending, "failed", str(err))
                        err.answer = _merge(results, attempts)
                        raise err
                    last_kind, last_msg, last_status, last_exc = err.kind, _short(err), ans.status, err
                    retry_after = self._retry_after(ans.headers)
                else:
                    items = doc["results"]
                    if len(items) != len(pending):
                        raise RTTError(f"{method} {path}: {len(items)} results for {len(pending)} items")
                    again = []
                    reason = ""
                    for j, it in enumerate(items):
                        i = pending[j]
                        it = dict(it) if isinstance(it, dict) else {"status": "failed"}
                        it["index"] = i
                        if not it.get("event_id"):
                            it["event_id"] = results[i]["event_id"]
                        results[i] = it
                        if it.get("status") == "unavailable":
                            again.append(i)
                            reason = it.get("error") or reason
                    pending = again
                    if not pending:
                        merged = _merge(results, attempts)
                        logger.info("[RTT] %d beacons sent (%d duplicates, %d rejected)",
                                    merged["accepted"], merged["duplicates"], merged["rejected"])
                        return merged
                    last_kind, last_status, last_exc = "unavailable", ans.status, None
                    last_msg = f"{len(pending)} of {n} beacons unavailable: {reason}"
                    retry_after = self._retry_after(ans.headers)
            if attempts > self.retries:
                break
            logger.warning("[RTT] %s %s failed (%s), retrying %d item(s), retry %d of %d",
                           method, path, last_msg, len(pending), attempts, self.retries)
            if not self._pause(attempts, retry_after, cancel):
                last_msg = "stopped while waiting to retry; last: " + last_msg
                break
        _fail(results, pending, "unavailable", last_msg)
        cls = RTTTimeoutError if last_kind == "timeout" else RTTUnavailableError
        raise cls(last_msg, status=last_status, kind=last_kind, attempts=attempts,
                  answer=_merge(results, attempts), method=method, path=path) from last_exc


def _short(err: RTTHTTPError) -> str:
    return f"{err.status} {err.kind}: {err.message}" if err.message else f"{err.status} {err.kind}"


def _fail(results: list, pending: list, status: str, message: str) -> None:
    for i in pending:
        it = results[i]
        if it.get("status") != "unavailable":
            it["status"] = status
        it.setdefault("error", message)


def _merge(results: list, attempts: int) -> dict:
    """A batch answer over all attempts, in the server's shape."""
    accepted = sum(1 for r in results if r.get("status") == "ok")
    duplicates = sum(1 for r in results if r.get("status") == "ok" and r.get("duplicate"))
    rejected = sum(1 for r in results if r.get("status") == "invalid")
    unavailable = sum(1 for r in results if r.get("status") == "unavailable")
    failed = len(results) - accepted - rejected - unavailable
    if accepted == len(results):
        status = "ok"
    elif accepted > 0:
        status = "partial"
    else:
        status = "error"
    return {"status": status, "accepted": accepted, "duplicates": duplicates,
            "rejected": rejected, "unavailable": unavailable, "failed": failed,
            "attempts": attempts, "results": results}


def _quote(site: str) -> str:
    if not isinstance(site, str) or not site:
        raise ValueError("site: must be a non-empty string")
    return urllib.parse.quote(site, safe="")
