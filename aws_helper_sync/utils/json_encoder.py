"""A JSON encoder for MongoDB documents whose output every client can parse.

    mongo_json_dumps({"_id": ObjectId(), "at": datetime.now(timezone.utc)})

The conversions are those of ``serializer`` (one table for the encoder and
``serialize_mongo_types``); see its docstring. In short: datetimes are ISO 8601
with an offset (naive ones are UTC: ``"2026-01-02T03:04:05+00:00"``), a
Decimal/Decimal128 is a JSON number only when that number is exactly its value
(``12.50`` -> ``12.5``), else its exact text as a string, and NaN/Infinity
(float, Decimal, Decimal128) become ``null``: the output is always RFC 8259 JSON,
so ``json.dumps(..., allow_nan=False)`` of it and ``JSON.parse`` never fail.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .serializer import convert_scalar, make_default, serialize_mongo_types


class MongoJSONEncoder(json.JSONEncoder):
    """``json.JSONEncoder`` that also encodes ObjectId, datetime, Decimal128, Binary, UUID, sets,
    DBRef, Timestamp, Regex, MinKey/MaxKey and Code, and writes NaN/Infinity as ``null``.

    ``allow_nan`` is always False: bare ``NaN``/``Infinity`` is not JSON. Decimals keep
    their precision: a number when exact (``Decimal("19.99")`` -> ``19.99``), else a
    string (``Decimal("0.1000000000000000000001")`` -> ``"0.1000000000000000000001"``).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs["allow_nan"] = False
        fallback = kwargs.pop("default", None)
        super().__init__(**kwargs)
        if fallback is not None:  # json.JSONEncoder would replace default(): keep the Mongo types
            # An instance attribute shadowing the method, as json.JSONEncoder does itself.
            self.default = make_default(fallback)  # type: ignore[method-assign,assignment]
        self._one_shot = _c_encoder(self)

    def default(self, o: Any) -> Any:
        if isinstance(o, (set, frozenset)):
            return list(o)
        converted = convert_scalar(o)
        if converted is not NotImplemented:
            return converted
        return super().default(o)

    def encode(self, o: Any) -> str:
        # The C encoder first (fast); a non-finite float (or a key json cannot write)
        # stops it, and the value is then encoded again once made JSON-ready.
        try:
            if self._one_shot is not None:
                return "".join(self._one_shot(o, 0))
            return super().encode(o)
        except (ValueError, TypeError):
            return super().encode(serialize_mongo_types(o))

    def iterencode(self, o: Any, _one_shot: bool = False) -> Any:
        if _one_shot:  # from encode(), which retries
            return super().iterencode(o, _one_shot)
        # json.dump() writes chunks as they come, too late to retry: convert first
        return super().iterencode(serialize_mongo_types(o), _one_shot)


def _c_encoder(encoder: json.JSONEncoder) -> Callable[[Any, int], Any] | None:
    """The C encoder for ``encoder``'s settings, built once instead of once per ``encode()``
    as ``json.JSONEncoder`` does; None where json has no C part, or for indented output.

    It is built without the circular-reference markers, which is what lets one
    instance serve every thread (the C encoder keeps no other state between
    calls); a circular value then ends in RecursionError instead of ValueError,
    a server fault either way.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.indent is not None:
        return None
    string = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    return make(None, encoder.default, string, None, encoder.key_separator, encoder.item_separator,
                encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)


def mongo_json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` with MongoJSONEncoder as the default encoder (always valid JSON)."""
    kwargs.setdefault("cls", MongoJSONEncoder)
    return json.dumps(obj, **kwargs)
