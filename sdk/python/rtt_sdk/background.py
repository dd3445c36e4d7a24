"""Background senders: HeartbeatThread and BatchSender."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from .client import prepare_beacon
from .errors import RTTError, RTTUnavailableError
from .helpers import now_rfc3339

__all__ = ["HeartbeatThread", "BatchSender"]

logger = logging.getLogger("rtt")


class HeartbeatThread(threading.Thread):
    """Sends a beacon at once and then every `every` seconds until stop().

    payload_fn is called for each beacon and returns its payload; a dict
    may be given instead, and each beacon is then a copy of it with "ts"
    set to the send time (an identical payload would be recognised as a
    re-send and stored once). A failed send is logged to the "rtt" logger
    and counted, never raised; the next tick goes on. Ticks that fall due
    during a slow send are skipped, not queued.

    Attributes: sent, failed (counts), last_answer, last_error.
    The thread is a daemon: it does not keep the interpreter alive.
    """

    def __init__(self, client: Any, payload_fn: Any, every: float = 30.0, *,
                 name: str = "rtt-heartbeat"):
        super().__init__(name=name, daemon=True)
        if every <= 0:
            raise ValueError("every: must be above 0 seconds")
        if not callable(payload_fn) and not isinstance(payload_fn, dict):
            raise TypeError("payload_fn: must be a callable returning a payload, or a dict")
        self.client = client
        self.payload_fn = payload_fn
        self.every = float(every)
        self.sent = 0
        self.failed = 0
        self.last_answer: Optional[dict] = None
        self.last_error: Optional[BaseException] = None
        self._stopping = threading.Event()

    def _payload(self) -> dict:
        if isinstance(self.payload_fn, dict):
            payload = dict(self.payload_fn)
            payload["ts"] = now_rfc3339()
            payload.pop("event_id", None)
            return payload
        return self.payload_fn()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                self.last_answer = self.client._beacon(self._payload(), cancel=self._stopping)
                self.sent += 1
            except RTTError as e:
                self.failed += 1
                self.last_error = e
                if not self._stopping.is_set():
                    logger.warning("[RTT] heartbeat not sent: %s", e)
            except Exception as e:  # a bug in payload_fn must not end the thread
                self.failed += 1
                self.last_error = e
                logger.exception("[RTT] heartbeat failed")
            now = time.monotonic()
            next_at += self.every
            if next_at <= now:  # skip ticks missed during a slow send
                next_at += ((now - next_at) // self.every + 1) * self.every
            self._stopping.wait(next_at - now)

    def stop(self, timeout: Optional[float] = 10.0) -> None:
        """Stop the heartbeats (a send waiting to retry gives up) and wait
        up to timeout seconds for the thread to end."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def __enter__(self) -> "HeartbeatThread":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class BatchSender:
    """Buffers beacons and sends them with POST /beacons when max_items
    have gathered or `interval` seconds have passed, whichever is first.

    add() fixes each beacon's event_id at once (the content-derived one,
    as RTTClient.beacon does), so a batch sent again after a failure is
    stored once. A background daemon thread does the timed and size-based
    sends; flush() sends what is buffered from the calling thread and
    raises on failure; close() (or leaving a `with` block) flushes and
    stops.

    Failures of background sends are logged to the "rtt" logger and kept
    in last_error. Items the server could not store ("unavailable", or a
    network failure after the client's retries) go back to the front of
    the buffer and are tried again at the next send; items it rejected
    ("invalid", or a request refused with 4xx) are counted and dropped.
    on_result(answer, error), if given, is called after every send with
    the merged batch answer (or None) and the error (or None).

    Counters: sent (accepted), duplicates, rejected, failed (dropped after
    a refused request), and pending (buffered now).
    """

    def __init__(self, client: Any, max_items: int = 500, interval: float = 1.0, *,
                 max_buffer: int = 100_000,
                 on_result: Optional[Callable[[Optional[dict], Optional[BaseException]], None]] = None):
        if max_items <= 0:
            raise ValueError("max_items: must be at least 1")
        if interval <= 0:
            raise ValueError("interval: must be above 0 seconds")
        self.client = client
        self.max_items = int(max_items)
        self.interval = float(interval)
        self.max_buffer = max(int(max_buffer), self.max_items)
        self.on_result = on_result
        self.sent = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.last_error: Optional[BaseException] = None
        self._buf: list = []  # (body, event_id)
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._closed = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtt-batch-sender", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._buf)

    def add(self, payload: dict) -> str:
        """Buffer one beacon; returns its event_id. Raises RTTError after
        close() and RTTUnavailableError when max_buffer beacons are
        waiting (the server has been unreachable for a while)."""
        item = prepare_beacon(payload)
        with self._cond:
            if self._closed:
                raise RTTError("BatchSender is closed")
            if len(self._buf) >= self.max_buffer:
                raise RTTUnavailableError(f"{len(self._buf)} beacons waiting to be sent: buffer full",
                                          kind="buffer_full", event_id=item[1])
            self._buf.append(item)
            if len(self._buf) >= self.max_items:
                self._cond.notify_all()
        return item[1]

    def flush(self) -> None:
        """Send everything buffered now, in batches of max_items, from this
        thread. Raises the first error (what was not stored stays
        buffered, or is dropped when refused, as for background sends)."""
        while True:
            with self._cond:
                if not self._buf:
                    return
            self._send_once(raise_errors=True)

    def close(self, flush: bool = True) -> None:
        """Stop the background thread and, unless flush is False, send
        what is left (raising its error). flush=False abandons the buffered
        beacons (see pending), for a shutdown that must not wait. Later
        add() calls raise; close() may be called again."""
        with self._cond:
            self._closed = True
            self._stopping.set()
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
        if flush:
            self.flush()

    def __enter__(self) -> "BatchSender":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ internals

    def _run(self) -> None:
        deadline = time.monotonic() + self.interval
        hold_until = 0.0  # after a failed send, wait an interval before the next
        while True:
            with self._cond:
                while not self._stopping.is_set():
                    now = time.monotonic()
                    if now >= deadline:
                        break
                    full = len(self._buf) >= self.max_items
                    if full and now >= hold_until:
                        break
                    wake = min(deadline, hold_until) if full else deadline
                    self._cond.wait(max(wake - now, 0.001))
                if self._stopping.is_set():
                    return
                deadline = time.monotonic() + self.interval
                if not self._buf:
                    continue
            if not self._send_once(raise_errors=False):
                hold_until = time.monotonic() + self.interval

    def _send_once(self, raise_errors: bool) -> bool:
        """Send up to max_items buffered beacons; False when it failed."""
        with self._send_lock:
            with self._cond:
                items = self._buf[: self.max_items]
                del self._buf[: len(items)]
            if not items:
                return True
            answer, error = None, None
            try:
                answer = self.client._beacons_prepared(
                    items, cancel=None if raise_errors else self._stopping)
            except RTTUnavailableError as e:
                error, answer = e, e.answer
            except RTTError as e:
                error, answer = e, getattr(e, "answer", None)
            except Exception as e:  # keep the items: nothing says they were stored
                error = e
            self._account(items, answer, error)
            if self.on_result is not None:
                try:
                    self.on_result(answer, error)
                except Exception:
                    logger.exception("[RTT] BatchSender on_result failed")
            if error is not None:
                self.last_error = error
                if raise_errors:
                    raise error
                logger.warning("[RTT] batch of %d beacons: %s", len(items), error)
                return False
            return True

    def _account(self, items: list, answer: Optional[dict], error: Optional[BaseException]) -> None:
        retry: list = []
        if answer is None:
            if isinstance(error, RTTError) and not isinstance(error, RTTUnavailableError):
                self.failed += len(items)
            else:
                retry = items
        else:
            for it in answer.get("results", []):
                i = it.get("index")
                status = it.get("status")
                if status == "ok":
                    self.sent += 1
                    if it.get("duplicate"):
                        self.duplicates += 1
                elif status == "invalid":
                    self.rejected += 1
                    logger.warning("[RTT] beacon %s rejected: %s", it.get("event_id"), it.get("error"))
                elif status in ("unavailable", "pending") and isinstance(i, int):
                    retry.append(items[i])
                else:
                    self.failed += 1
        if retry:
            with self._cond:
                self._buf[:0] = retry
