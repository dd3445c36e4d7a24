"""Canonical JSON and event ids, byte for byte as the rtt server makes them.

The server (``pkg/beacon.DeriveID``) derives the event id of a beacon that
has none as::

    "b-" + sha256(canonical)[:16].hex()

where ``canonical`` is the payload decoded into generic JSON values (numbers
kept exactly as written, Go's ``json.Number``) and encoded again by Go's
``encoding/json``: object keys sorted (by UTF-8 bytes, which is code point
order), no insignificant whitespace, strings escaped the Go way.

:func:`canonical_json` produces exactly that encoding from a Python value,
and is a fixed point of the server's decode/encode: the bytes this SDK sends
are re-encoded by the server to the same bytes. So the id computed here is
the id the server derives.

Go's string escaping, which differs from :func:`json.dumps`:

* ``<``, ``>`` and ``&`` become ``\\u003c``, ``\\u003e``, ``\\u0026``;
* U+2028 and U+2029 become ``\\u2028`` and ``\\u2029``;
* ``\\b \\f \\n \\r \\t``, ``\\"`` and ``\\\\`` use the short escapes, other
  control characters ``\\u00XX`` (lower-case hex); every other character,
  DEL and non-ASCII included, is written as UTF-8.

Numbers: an ``int`` is written in decimal and a ``float`` as Python's
``repr`` (``12.5``, ``1e-07``, ``1e+16``). Both are valid JSON numbers, which
the server keeps as written, so floats derive identically too. ``NaN`` and
infinities are not JSON and raise ``ValueError``.

Limits (:func:`derivable` is false, and the SDK then gives the beacon a
random ``u-<uuid>`` event id instead, before the first attempt):

* a string (or key) holding a surrogate code point (U+D800..U+DFFF, which
  Python allows in ``str`` and UTF-8 does not): it is sent escaped and the
  server reads it as U+FFFD, so the canonical bytes differ.

Keys may be ``str``, ``int``, ``float``, ``bool`` or ``None`` (converted as
:func:`json.dumps` does); two keys of one object that are equal once
converted (``1`` and ``"1"``) raise ``ValueError``. Other Python types
(sets, dates, Decimal, objects) raise ``TypeError``, as :func:`json.dumps`
does.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

__all__ = [
    "canonical_json",
    "derivable",
    "derive_event_id",
    "random_event_id",
    "content_id",
]

_HEX = "0123456789abcdef"


def _escape_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for c in range(0x20):
        table[c] = "\\u00" + _HEX[c >> 4] + _HEX[c & 0xF]
    table.update({
        ord("\b"): "\\b",
        ord("\f"): "\\f",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("&"): "\\u0026",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    })
    # Surrogates cannot be written as UTF-8; escaping keeps the body valid
    # JSON (the server reads each as U+FFFD). derivable() reports them.
    for c in range(0xD800, 0xE000):
        table[c] = "\\u" + format(c, "04x")
    return table


_ESCAPES = _escape_table()


class _NotDerivable(Exception):
    pass


def _encode_str(s: str) -> str:
    return '"' + s.translate(_ESCAPES) + '"'


def _has_surrogate(s: str) -> bool:
    # Fast path: almost every string is free of them.
    try:
        s.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, bool):  # before int: bool is an int
        return "true" if k else "false"
    if isinstance(k, int):
        return int.__repr__(k)
    if k is None:
        return "null"
    if isinstance(k, float):
        return _float(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _float(x: float) -> str:
    if math.isnan(x) or math.isinf(x):
        raise ValueError(f"{x!r} is not a JSON number (NaN and infinities cannot be sent)")
    return float.__repr__(x)


def _encode(v: Any, out: list[str], strict: bool) -> None:
    if isinstance(v, str):
        if strict and _has_surrogate(v):
            raise _NotDerivable
        out.append(_encode_str(v))
    elif v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(int.__repr__(v))
    elif isinstance(v, float):
        out.append(_float(v))
    elif isinstance(v, dict):
        items = []
        seen = set()
        for k, val in v.items():
            ks = _key(k)
            if ks in seen:
                raise ValueError(f"duplicate key {ks!r} after conversion to a string")
            seen.add(ks)
            items.append((ks, val))
        items.sort(key=lambda kv: kv[0])
        out.append("{")
        for i, (ks, val) in enumerate(items):
            if i:
                out.append(",")
            if strict and _has_surrogate(ks):
                raise _NotDerivable
            out.append(_encode_str(ks))
            out.append(":")
            _encode(val, out, strict)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            _encode(item, out, strict)
        out.append("]")
    else:
        raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


def canonical_json(value: Any) -> bytes:
    """Encode value as the server's canonical JSON (UTF-8 bytes).

    Raises TypeError for values JSON cannot hold and ValueError for NaN,
    infinities and keys that collide once converted to strings.
    """
    out: list[str] = []
    _encode(value, out, strict=False)
    # surrogatepass never triggers: surrogates were escaped above.
    return "".join(out).encode("utf-8")


def derivable(value: Any) -> bool:
    """Whether derive_event_id(value) equals the id the server derives."""
    try:
        _encode(value, [], strict=True)
        return True
    except _NotDerivable:
        return False


def derive_event_id(payload: dict) -> str:
    """The event id the server derives for payload sent without one.

    Any ``event_id`` key of payload is ignored (the id is of the payload
    without it). Raises ValueError when the server's id cannot be
    reproduced (see :func:`derivable`).
    """
    if not isinstance(payload, dict):
        raise TypeError("a beacon payload is a dict")
    doc = {k: v for k, v in payload.items() if k != "event_id"}
    if not derivable(doc):
        raise ValueError("payload holds surrogate code points: "
                         "its server-side id cannot be reproduced")
    return "b-" + hashlib.sha256(canonical_json(doc)).hexdigest()[:32]


def random_event_id() -> str:
    """A random event id ("u-" and 32 hex digits) for payloads whose
    content-derived id cannot be reproduced."""
    return "u-" + uuid.uuid4().hex


def content_id(prefix: str, *parts: bytes) -> str:
    """The id the server gives profiles ("p-", site, body) and diagnostics
    ("g-", kind, body): sha256 over each part followed by a zero byte,
    first 32 hex digits."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return prefix + h.hexdigest()[:32]
