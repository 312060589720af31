"""A JSON encoder for MongoDB documents.

    mongo_json_dumps({"_id": ObjectId(), "at": datetime.now(timezone.utc)})
"""

from __future__ import annotations

import json
from typing import Any

from .serializer import convert_scalar


class MongoJSONEncoder(json.JSONEncoder):
    """``json.JSONEncoder`` that also encodes ObjectId, datetime, Decimal128, Binary, UUID, sets."""

    def default(self, o: Any) -> Any:
        if isinstance(o, (set, frozenset)):
            return list(o)
        converted = convert_scalar(o)
        if converted is not NotImplemented:
            return converted
        return super().default(o)


def mongo_json_dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` with MongoJSONEncoder as the default encoder."""
    kwargs.setdefault("cls", MongoJSONEncoder)
    return json.dumps(obj, **kwargs)
