"""Turn MongoDB and Python values into JSON-ready ones: the one conversion table.

``serialize_mongo_types``, ``MongoJSONEncoder`` and ``mongo_json_dumps`` all use
it, so a value reads the same in an API body, a Lambda result, an SNS message
and a Fargate env. The output is always valid JSON (RFC 8259), which has no
NaN or Infinity:

================================  =============================================
``float`` NaN, +/-Infinity        ``null``
ObjectId, UUID                    ``str``
datetime                          ISO 8601 with its offset; a naive one is UTC:
                                  ``"2026-01-02T03:04:05+00:00"``
date, time                        ISO 8601 (``"2026-01-02"``, ``"03:04:05"``)
Decimal, Decimal128               a JSON number when its shortest float text is
                                  the same number (``12.50`` -> ``12.5``,
                                  ``0.1`` -> ``0.1``), else the exact decimal
                                  text as a string (``"0.1000000000000000000001"``,
                                  ``"12345678901234567890.5"``), so no digit is
                                  ever lost; NaN and +/-Infinity -> ``null``
bytes, Binary                     base64 text
set, frozenset, tuple             list
DBRef                             ``{"$ref", "$id", "$db"?}`` ($id converted)
Timestamp                         ``{"$timestamp": {"t": seconds, "i": increment}}``
Regex, compiled re pattern        ``{"$regularExpression": {"pattern", "options"}}``
MinKey, MaxKey                    ``{"$minKey": 1}``, ``{"$maxKey": 1}``
Code                              its JavaScript text (Code is a ``str``; a scope,
                                  deprecated in MongoDB, is not written)
================================  =============================================

DBRef to MaxKey follow MongoDB Extended JSON (relaxed), so ``bson.json_util``
reads them back. Dict keys become strings as ``json`` writes them (``True`` ->
``"true"``, an ObjectId -> its hex). bson is imported on first use, not with the
package.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Callable

from .._lazy import deferred

if TYPE_CHECKING:
    import base64
    import datetime as _dt
    import decimal
    import uuid
else:  # needed by the converters, built on first use (with bson, which imports them too)
    base64 = deferred(__name__, "base64", "base64")
    _dt = deferred(__name__, "_dt", "datetime")
    decimal = deferred(__name__, "decimal", "decimal")
    uuid = deferred(__name__, "uuid", "uuid")
_PLAIN = (str, int, bool, type(None))  # bool is an int; float is checked for NaN/Infinity

_REGEX_OPTIONS = ((re.IGNORECASE, "i"), (re.LOCALE, "l"), (re.MULTILINE, "m"), (re.DOTALL, "s"),
                  (re.UNICODE, "u"), (re.VERBOSE, "x"))

_converters: dict[type, Callable[[Any], Any]] | None = None


def _decimal(value: decimal.Decimal) -> Any:
    """A number when JSON's text of the float is exactly ``value``, else the exact text."""
    if not value.is_finite():
        return None
    _, digits, exponent = value.as_tuple()
    # up to 15 significant digits in the normal range: the float's shortest text is the
    # same number (IEEE 754 double, DBL_DIG); otherwise compare the texts
    if len(digits) <= 15 and -300 < exponent + len(digits) < 300:  # type: ignore[operator]
        return float(value)
    as_float = float(value)
    if math.isfinite(as_float) and decimal.Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def _datetime(value: _dt.datetime) -> str:
    return (value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)).isoformat()


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _base64(value: Any) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _regex(value: Any) -> dict[str, Any]:
    flags = value.flags
    if isinstance(flags, int):  # re flags -> MongoDB's option letters, as json_util writes them
        flags = "".join(letter for bit, letter in _REGEX_OPTIONS if flags & bit)
    return {"$regularExpression": {"pattern": str(value.pattern), "options": flags}}


def _dbref(ref: Any) -> dict[str, Any]:  # as_doc(): $ref, $id, $db when set, extra fields
    return {k: serialize_mongo_types(v) for k, v in ref.as_doc().items()}


def _build_converters() -> dict[type, Callable[[Any], Any]]:
    """Type -> converter, in the order subclasses are matched; bson loads on first use."""
    global _converters
    if _converters is None:
        from bson import DBRef, Decimal128, MaxKey, MinKey, ObjectId, Regex, Timestamp

        _converters = {
            ObjectId: str,
            _dt.datetime: _datetime,  # before date: a datetime is a date
            float: _float,
            Decimal128: lambda v: _decimal(v.to_decimal()),
            decimal.Decimal: _decimal,
            _dt.date: _dt.date.isoformat,
            _dt.time: _dt.time.isoformat,
            bytes: _base64,  # bson.Binary is bytes
            bytearray: _base64,
            memoryview: _base64,
            uuid.UUID: str,
            DBRef: _dbref,
            Timestamp: lambda v: {"$timestamp": {"t": v.time, "i": v.inc}},
            Regex: _regex,
            re.Pattern: lambda v: _regex(Regex.from_native(v)),
            MinKey: lambda v: {"$minKey": 1},
            MaxKey: lambda v: {"$maxKey": 1},
        }
    return _converters


def convert_scalar(value: Any) -> Any:
    """The JSON-ready form of one non-container value; ``NotImplemented`` when unknown.

    Containers it returns (DBRef, ...) are JSON-ready already.
    """
    converters = _converters or _build_converters()
    converter = converters.get(type(value))
    if converter is None:  # a subclass (bson.Binary, a datetime subclass...) or unknown
        converter = next((c for kind, c in converters.items() if isinstance(value, kind)), None)
        if converter is None:
            return NotImplemented
    return converter(value)


def _key(key: Any) -> str:
    """A dict key as JSON writes it (``json.dumps({True: 1})`` gives ``{"true": 1}``)."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return "null" if key is None else ("true" if key else "false")
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        if math.isfinite(key):
            return float.__repr__(key)
        return "NaN" if math.isnan(key) else ("Infinity" if key > 0 else "-Infinity")
    converted = convert_scalar(key)
    return converted if isinstance(converted, str) else str(key)


def serialize_mongo_types(obj: Any) -> Any:
    """A copy of ``obj`` with every Mongo/Python special type made JSON-ready (see the table).

    Unknown objects are left as they are (``json.dumps`` then names their type).
    A container that contains itself is a ValueError, as in ``json``.
    """
    return _walk(obj, set())


def _walk(obj: Any, active: set[int]) -> Any:
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, dict):
        marker = id(obj)
        if marker in active:
            raise ValueError("Circular reference detected")
        active.add(marker)
        result = {_key(k): _walk(v, active) for k, v in obj.items()}
        active.discard(marker)
        return result
    if isinstance(obj, (list, tuple, set, frozenset)):
        marker = id(obj)
        if marker in active:
            raise ValueError("Circular reference detected")
        active.add(marker)
        items = [_walk(v, active) for v in obj]
        active.discard(marker)
        return items
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
