"""Idempotency keys: where a key comes from in the input, and its canonical hash.

A key source is one of
- ``None``: the whole payload (an SQS message's content, an API's data, ...);
- a dotted path into the payload, ``"order.id"`` (list items by index: ``"items.0.sku"``),
  or into another part of the input named by a ``$`` prefix: ``"$record.messageId"``
  (an SQS record), ``"$event.requestContext.stage"``, ``"$headers.Idempotency-Key"`` (API);
- a tuple of paths, ``("customer", "order_id")``: all of them together;
- a callable that receives the hook's input (the record, the entry, the payload).

Values are hashed canonically: the same data gives the same hash in any
process, whatever the dict order; Mongo types are tagged so that an ``ObjectId``
and its hex string (or a datetime and its ISO text) are different keys.

    digest(content)    # sha256 hex of the sorted, type-tagged JSON of content
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Union

from .errors import IdempotencyConfigError, IdempotencyKeyError

KeySource = Union[None, str, Sequence[str], Callable[[Any], Any]]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a path gives when the payload has nothing there."""


def check_source(source: object, option: str) -> KeySource:
    """``source`` when it can name a key (None, a path, a tuple of paths, a callable), else a clear error."""
    if source is None or callable(source):
        return source
    if isinstance(source, str):
        if not source or any(not part for part in source.split(".")):
            raise IdempotencyConfigError(f"{option}={source!r}: a path is dotted names such as 'order.id'")
        return source
    if isinstance(source, (tuple, list)) and source and all(isinstance(p, str) for p in source):
        for path in source:
            check_source(path, option)
        return tuple(source)
    raise IdempotencyConfigError(
        f"{option} must be None (the whole payload), a dotted path, a tuple of paths or a callable, "
        f"got {source!r}"
    )


def resolve_path(payload: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``payload`` (dicts by key, lists by index), or MISSING."""
    value = payload
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def is_missing(value: Any) -> bool:
    """No usable key: nothing found, None, or an empty string or container."""
    if value is MISSING or value is None:
        return True
    if isinstance(value, (str, bytes, Mapping, list, tuple, set, frozenset)):
        return len(value) == 0
    return False


def extract(source: KeySource, whole: Any, raw: Any, find: Callable[[str], Any]) -> Any:
    """The key value that ``source`` picks: None -> ``whole``, paths -> ``find(path)``, a callable -> ``source(raw)``.

    A tuple of paths is missing when any of its paths is missing.
    """
    if source is None:
        return whole
    if callable(source):
        return source(raw)
    if isinstance(source, str):
        return find(source)
    values = [find(path) for path in source]
    return MISSING if any(is_missing(v) for v in values) else values


# --- canonical hashing ---

_bson_types: tuple[Any, ...] | None = None


def _bson() -> tuple[Any, ...]:
    global _bson_types
    if _bson_types is None:
        from bson import Binary, Decimal128, ObjectId, Timestamp
        from bson.int64 import Int64

        _bson_types = (ObjectId, Decimal128, Binary, Timestamp, Int64)
    return _bson_types


def _utc_millis(value: dt.datetime) -> str:
    """A datetime as MongoDB keeps it: UTC (naive counts as UTC), millisecond precision."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value.isoformat(timespec="milliseconds")


def canonical(value: Any) -> Any:
    """A JSON-ready copy of ``value`` in which every non-JSON type is tagged (``{"$oid": ...}``)."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)  # Int64 and bool-free ints alike
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, Mapping):
        return {(k if isinstance(k, str) else str(k)): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [canonical(v) for v in value]
        return {"$set": sorted(items, key=_dumps)}
    if isinstance(value, dt.datetime):
        return {"$date": _utc_millis(value)}
    if isinstance(value, dt.date):
        return {"$day": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, decimal.Decimal):
        return {"$numberDecimal": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)) and not isinstance(value, _bson()[2]):
        return {"$binary": base64.b64encode(bytes(value)).decode("ascii")}
    object_id, decimal128, binary, timestamp, _ = _bson()
    if isinstance(value, object_id):
        return {"$oid": str(value)}
    if isinstance(value, decimal128):
        return {"$numberDecimal": str(value.to_decimal())}
    if isinstance(value, binary):
        return {"$binary": base64.b64encode(bytes(value)).decode("ascii"), "subtype": value.subtype}
    if isinstance(value, timestamp):
        return {"$timestamp": [value.time, value.inc]}
    raise IdempotencyKeyError(
        f"cannot use a {type(value).__name__} in an idempotency key or payload hash: "
        "give key= a path or callable that picks JSON or BSON values"
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The canonical JSON text of ``value`` (sorted keys, Mongo types tagged)."""
    return _dumps(canonical(value))


def digest(value: Any) -> str:
    """The sha256 hex digest of ``canonical_json(value)``: equal data, equal digest, in any process."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
