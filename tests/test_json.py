"""Mongo-aware JSON: every listed BSON/Python type, recursively."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid

import pytest
from bson import Binary, Decimal128, ObjectId

from aws_helper_sync import MongoJSONEncoder, mongo_json_dumps, serialize_mongo_types
from aws_helper_sync.utils import ApiResponse

OID = ObjectId("64b7f0c2a1b2c3d4e5f60718")
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = dt.datetime(2026, 11, 26, 5, 12, 15, 123000, tzinfo=dt.timezone.utc)

DOC = {
    "_id": OID,
    "at": WHEN,
    "naive": dt.datetime(2026, 1, 2, 3, 4, 5),
    "day": dt.date(2026, 11, 26),
    "price": Decimal128("12.50"),
    "ratio": decimal.Decimal("0.25"),
    "blob": Binary(b"\x00\x01binary"),
    "raw": b"\xffbytes",
    "uid": UID,
    "tags": {"b"},
    "pair": (1, OID),
    "nested": [{"deep": [OID, {"when": WHEN}]}],
    "plain": {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None},
}

EXPECTED = {
    "_id": "64b7f0c2a1b2c3d4e5f60718",
    "at": "2026-11-26T05:12:15.123000+00:00",
    "naive": "2026-01-02T03:04:05",
    "day": "2026-11-26",
    "price": 12.5,
    "ratio": 0.25,
    "blob": base64.b64encode(b"\x00\x01binary").decode(),
    "raw": base64.b64encode(b"\xffbytes").decode(),
    "uid": "12345678-1234-5678-1234-567812345678",
    "tags": ["b"],
    "pair": [1, "64b7f0c2a1b2c3d4e5f60718"],
    "nested": [{"deep": ["64b7f0c2a1b2c3d4e5f60718", {"when": "2026-11-26T05:12:15.123000+00:00"}]}],
    "plain": {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None},
}


def test_serializer_converts_every_type():
    assert serialize_mongo_types(DOC) == EXPECTED


def test_encoder_round_trips_through_json():
    assert json.loads(mongo_json_dumps(DOC)) == EXPECTED
    assert json.loads(json.dumps(DOC, cls=MongoJSONEncoder)) == EXPECTED


def test_serialized_values_are_plain_json():
    assert json.loads(json.dumps(serialize_mongo_types(DOC))) == EXPECTED


def test_binary_round_trips_to_the_same_bytes():
    out = json.loads(mongo_json_dumps({"b": Binary(b"\x00\xfe")}))
    assert base64.b64decode(out["b"]) == b"\x00\xfe"


def test_objectid_string_parses_back():
    assert ObjectId(json.loads(mongo_json_dumps(OID))) == OID


def test_unknown_types_still_fail_loudly():
    with pytest.raises(TypeError):
        mongo_json_dumps({"x": object()})


def test_document_from_the_server_serializes(mongo_client, make_state):
    coll = mongo_client[make_state("json")]["docs"]
    coll.insert_one({k: v for k, v in DOC.items() if k not in ("tags", "pair", "ratio", "uid", "raw", "day")})
    stored = coll.find_one({})
    out = json.loads(mongo_json_dumps(stored))
    assert out["_id"] == EXPECTED["_id"]
    assert out["price"] == 12.5
    assert out["at"].startswith("2026-11-26T05:12:15.123")


def test_response_helpers_shape():
    assert ApiResponse.success({"a": 1}) == {"code": 200, "body": {"a": 1}, "headers": {}}
    assert ApiResponse.created({"id": 1})["code"] == 201
    assert ApiResponse.no_content() == {"code": 204, "body": None, "headers": {}}
    assert ApiResponse.not_found()["code"] == 404
    assert ApiResponse.bad_request("x", {"f": "y"})["body"] == {
        "error": True, "message": "x", "details": {"f": "y"}}
    assert ApiResponse.unauthorized()["code"] == 401
    assert ApiResponse.forbidden()["code"] == 403
    assert ApiResponse.error("boom")["code"] == 500
