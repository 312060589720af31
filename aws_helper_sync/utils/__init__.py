"""JSON encoding, serialization and response helpers."""

from .json_encoder import MongoJSONEncoder, mongo_json_dumps
from .response import ApiResponse
from .serializer import serialize_mongo_types

__all__ = ["ApiResponse", "MongoJSONEncoder", "mongo_json_dumps", "serialize_mongo_types"]
