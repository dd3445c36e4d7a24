"""Shared test helpers: the live API and ClickHouse from the environment,
and an in-process fake HTTP server for the unit tests."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

# --------------------------------------------------------------------- live

LIVE_HELP = (
    "RTT_URL is not set: this test needs a running rtt API. The Go harness "
    "(go test ./test/sdk -run TestPythonSDK) starts a stack and sets RTT_URL, "
    "RTT_CLICKHOUSE_HTTP and RTT_CLICKHOUSE_DATABASE; by hand: `make up` and "
    "export RTT_URL=http://127.0.0.1:8080/api/rtt RTT_CLICKHOUSE_HTTP=http://127.0.0.1:8123 "
    "RTT_CLICKHOUSE_DATABASE=rtt"
)
CH_HELP = (
    "RTT_CLICKHOUSE_HTTP is not set: this test checks what reached ClickHouse "
    "and needs its HTTP interface, e.g. RTT_CLICKHOUSE_HTTP=http://127.0.0.1:8123 "
    "(and RTT_CLICKHOUSE_DATABASE, default rtt)"
)

#: Unique per test run, so runs against a long-lived stack do not collide.
RUN_ID = uuid.uuid4().hex[:10]


class LiveTestCase(unittest.TestCase):
    """A test against the real API named by RTT_URL. Without RTT_URL it
    fails (it is not skipped), saying what to set."""

    needs_clickhouse = False

    def setUp(self) -> None:
        if not os.environ.get("RTT_URL"):
            self.fail(LIVE_HELP)
        if self.needs_clickhouse and not os.environ.get("RTT_CLICKHOUSE_HTTP"):
            self.fail(CH_HELP)
        self.api = os.environ["RTT_URL"].rstrip("/")

    # ClickHouse over HTTP -------------------------------------------------

    @property
    def db(self) -> str:
        return os.environ.get("RTT_CLICKHOUSE_DATABASE") or "rtt"

    def ch(self, sql: str) -> str:
        """Run sql on ClickHouse's HTTP interface; the answer's text."""
        url = os.environ["RTT_CLICKHOUSE_HTTP"].rstrip("/") + "/"
        req = urllib.request.Request(url, data=sql.encode("utf-8"), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"ClickHouse refused {sql!r}: {e.code} {e.read()[:500]!r}") from e

    def ch_int(self, sql: str) -> int:
        return int(self.ch(sql).strip() or 0)

    def wait_ch(self, checks: dict, timeout: float = 30.0) -> None:
        """Poll every check (name -> (sql, predicate on the text answer))
        until all hold, up to timeout seconds (the sink inserts in batches);
        fail naming the ones that never held and their last answers."""
        deadline = time.monotonic() + timeout
        last: dict = {}
        pending = dict(checks)
        while True:
            for name, (sql, ok) in list(pending.items()):
                out = self.ch(sql)
                last[name] = out
                if ok(out):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                self.fail("not in ClickHouse after %.0fs: %s" % (timeout, "; ".join(
                    f"{n}: {pending[n][0]} -> {last.get(n)!r}" for n in pending)))
            time.sleep(0.3)


def q(s: str) -> str:
    """A ClickHouse string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def post_raw(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    """POST body as is (no SDK); the status and decoded answer."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# -------------------------------------------------------------- fake server

class Recorded:
    def __init__(self, method: str, path: str, headers: Any, body: bytes):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


#: What a script returns for one request.
#:   (status, body)                  body: dict/list (JSON), bytes or str
#:   (status, body, headers)
#:   "reset"                         close the connection with a TCP RST, no answer
#:   "close"                         close the connection without an answer
#:   ("sleep", seconds, answer)      wait, then answer
Script = Callable[[int, Recorded], Any]


class FakeServer:
    """An HTTP server on 127.0.0.1 (free port) in this process, answering
    each request as script(index, request) says and recording requests.
    Use as a context manager; .url is its /api/rtt base URL."""

    def __init__(self, script: Script | list):
        if isinstance(script, list):
            answers = list(script)
            script = lambda i, req: answers[min(i, len(answers) - 1)]  # noqa: E731
        self.script = script
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                rec = Recorded(self.command, self.path, self.headers, body)
                with outer._lock:
                    idx = len(outer.requests)
                    outer.requests.append(rec)
                ans = outer.script(idx, rec)
                outer._answer(self, ans)

            do_GET = do_POST = do_PUT = _handle

            def finish(self) -> None:
                try:
                    super().finish()
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api/rtt"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def _answer(self, h: BaseHTTPRequestHandler, ans: Any) -> None:
        if isinstance(ans, tuple) and ans and ans[0] == "sleep":
            time.sleep(ans[1])
            ans = ans[2]
        if ans in ("reset", "close"):
            if ans == "reset":
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR) if ans == "close" else None
            except OSError:
                pass
            h.connection.close()
            return
        status, body = ans[0], ans[1]
        headers = ans[2] if len(ans) > 2 else {}
        if isinstance(body, (dict, list)) or body is None:
            data = json.dumps(body).encode()
            ctype = "application/json"
        else:
            data = body.encode() if isinstance(body, str) else body
            ctype = "text/plain"
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ok_beacon(i: int, req: Recorded) -> tuple:
    """An answer like the server's to POST /beacon."""
    doc = req.json()
    return 200, {"status": "ok", "event_id": doc.get("event_id"), "duplicate": False, "seq": i + 1}


def ok_batch(i: int, req: Recorded) -> tuple:
    """An answer like the server's to POST /beacons, all stored."""
    items = req.json()
    return 200, {"status": "ok", "accepted": len(items), "duplicates": 0, "rejected": 0,
                 "unavailable": 0,
                 "results": [{"index": j, "status": "ok", "event_id": it.get("event_id")}
                             for j, it in enumerate(items)]}


def closed_port() -> int:
    """A local port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sample_beacon(site: str = "unit", event: str = "cluster_heartbeat", **kw: Any) -> dict:
    payload = {
        "site": site,
        "session": "dc-1768836600",
        "event": event,
        "ts": "2026-01-19T15:30:00Z",
        "structure": {"url": "internal://cluster", "title": "Cluster State", "nav_count": 0,
                      "main_count": 0, "form_count": 0, "button_count": 0, "dom_nodes": 0},
    }
    payload.update(kw)
    return payload


def env(**values: Optional[str]):
    """A context manager setting (value) or removing (None) env variables."""
    class _Env:
        def __enter__(self) -> None:
            self.old = {k: os.environ.get(k) for k in values}
            for k, v in values.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

        def __exit__(self, *exc: Any) -> None:
            for k, v in self.old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return _Env()
