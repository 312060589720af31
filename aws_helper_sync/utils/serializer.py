"""Turn MongoDB and Python values into JSON-ready ones.

ObjectId and UUID -> str, datetime/date -> ISO 8601, Decimal128/Decimal ->
float, Binary/bytes -> base64 text, set/tuple -> list; dicts and lists are
walked recursively. bson is imported on first use, not with the package.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import uuid
from typing import Any, Callable

_bson_types: tuple[type, type] | None = None


def _bson() -> tuple[type, type]:
    global _bson_types
    if _bson_types is None:
        from bson import Decimal128, ObjectId

        _bson_types = (ObjectId, Decimal128)
    return _bson_types


def convert_scalar(value: Any) -> Any:
    """The JSON-ready form of one non-container value; ``NotImplemented`` when unknown."""
    object_id, decimal128 = _bson()
    if isinstance(value, object_id):
        return str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal128):
        return float(value.to_decimal())
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):  # bson.Binary is bytes
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return NotImplemented


_PLAIN = (str, int, float, bool, type(None))


def serialize_mongo_types(obj: Any) -> Any:
    """A copy of ``obj`` with every Mongo/Python special type made JSON-ready."""
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: serialize_mongo_types(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [serialize_mongo_types(v) for v in obj]
    converted = convert_scalar(obj)
    return obj if converted is NotImplemented else converted


def make_default(fallback: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """A ``json.dumps(default=...)`` hook that knows the Mongo types."""

    def default(value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return list(value)
        converted = convert_scalar(value)
        if converted is not NotImplemented:
            return converted
        if fallback is not None:
            return fallback(value)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    return default
