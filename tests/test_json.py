"""Mongo-aware JSON: every listed BSON/Python type, recursively."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import io
import json
import re
import threading
import uuid

import pytest
from bson import (
    Binary,
    Code,
    DBRef,
    Decimal128,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
    json_util,
)

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
    "naive": "2026-01-02T03:04:05+00:00",  # naive datetimes are UTC (issue 12 §4)
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


# --- issue 11 §6: output is RFC 8259 JSON; issue 12 §4: datetimes carry an offset ---

def strict_loads(text: str):
    """json.loads that refuses NaN/Infinity, as JSON.parse and every strict parser do."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def all_three(value):
    """The value through each public entry point: they must agree."""
    return [
        strict_loads(mongo_json_dumps(value)),
        strict_loads(json.dumps(value, cls=MongoJSONEncoder)),
        strict_loads(json.dumps(serialize_mongo_types(value), allow_nan=False)),
    ]


NON_FINITE = [float("nan"), float("inf"), float("-inf"), decimal.Decimal("NaN"), decimal.Decimal("sNaN"),
              decimal.Decimal("Infinity"), decimal.Decimal("-Infinity"), Decimal128("NaN"),
              Decimal128("Infinity"), Decimal128("-Infinity")]


@pytest.mark.parametrize("value", NON_FINITE, ids=repr)
def test_non_finite_numbers_become_null_everywhere(value):
    doc = {"v": value, "deep": [{"v": value}, (value,)], "n": 1}
    expected = {"v": None, "deep": [{"v": None}, [None]], "n": 1}
    assert all_three(doc) == [expected] * 3
    assert all_three(value) == [None] * 3  # also at the top level


def test_non_finite_output_holds_with_indent_sort_keys_and_json_dump():
    doc = {"b": float("nan"), "a": [float("inf"), OID], 2: "int key"}
    assert strict_loads(mongo_json_dumps(doc, indent=2, sort_keys=True)) == {
        "a": [None, "64b7f0c2a1b2c3d4e5f60718"], "b": None, "2": "int key"}
    out = io.StringIO()
    json.dump(doc, out, cls=MongoJSONEncoder)  # chunk by chunk: converted before writing
    assert strict_loads(out.getvalue())["b"] is None
    # even when the caller asks for NaN: bare NaN is not JSON
    assert mongo_json_dumps([float("nan")], allow_nan=True) == "[null]"


@pytest.mark.parametrize(("value", "expected"), [
    (decimal.Decimal("12.50"), 12.5),
    (decimal.Decimal("19.99"), 19.99),
    (decimal.Decimal("0.1"), 0.1),
    (decimal.Decimal("-0"), -0.0),
    (decimal.Decimal("1E-7"), 1e-7),
    (decimal.Decimal(123456789012345), 123456789012345.0),
    (decimal.Decimal(9007199254740993), "9007199254740993"),  # 2**53 + 1: no float holds it
    (decimal.Decimal("0.1000000000000000000001"), "0.1000000000000000000001"),
    (decimal.Decimal("12345678901234567890.5"), "12345678901234567890.5"),
    (decimal.Decimal("1E+400"), "1E+400"),  # float() would be Infinity
    (decimal.Decimal("1E-400"), "1E-400"),  # float() would be 0.0
    (Decimal128("12.50"), 12.5),
    (Decimal128("1234567890.123456789012345678901234"), "1234567890.123456789012345678901234"),
    (Decimal128("9.999999999999999999999999999999999E+6144"), "9.999999999999999999999999999999999E+6144"),
], ids=str)
def test_decimals_keep_their_precision(value, expected):
    got = all_three({"v": value})
    assert got == [{"v": expected}] * 3
    assert type(got[0]["v"]) is type(expected)
    # whatever the form, the text read back is the stored number, digit for digit
    exact = value.to_decimal() if isinstance(value, Decimal128) else value
    text = mongo_json_dumps({"v": value})
    assert decimal.Decimal(str(json.loads(text, parse_float=decimal.Decimal)["v"])) == exact


def test_every_decimal_either_is_exact_as_a_number_or_is_a_string():
    """A sweep over digit counts and exponents: no decimal ever loses a digit."""
    import random

    rng = random.Random(11)
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 34)))
        value = decimal.Decimal(f"{rng.choice('+-')}{digits}E{rng.randint(-320, 320)}")
        out = json.loads(mongo_json_dumps(value), parse_float=decimal.Decimal, parse_int=decimal.Decimal)
        assert decimal.Decimal(out) == value, value


@pytest.mark.parametrize(("value", "expected"), [
    (dt.datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05+00:00"),
    (dt.datetime(2026, 1, 2, 3, 4, 5, 678000), "2026-01-02T03:04:05.678000+00:00"),
    (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2026-01-02T03:04:05+00:00"),
    (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))), "2026-01-02T03:04:05-05:00"),
    (dt.date(2026, 1, 2), "2026-01-02"),
], ids=str)
def test_every_datetime_has_an_offset(value, expected):
    assert all_three(value) == [expected] * 3
    if isinstance(value, dt.datetime):
        assert dt.datetime.fromisoformat(expected).tzinfo is not None


def test_naive_and_aware_datetimes_of_the_same_instant_read_the_same():
    naive = dt.datetime(2026, 1, 2, 3, 4, 5)
    aware = naive.replace(tzinfo=dt.timezone.utc)
    assert mongo_json_dumps([naive]) == mongo_json_dumps([aware])


REF_ID = ObjectId("64b7f0c2a1b2c3d4e5f60719")


@pytest.mark.parametrize(("value", "expected"), [
    (DBRef("users", REF_ID), {"$ref": "users", "$id": "64b7f0c2a1b2c3d4e5f60719"}),
    (DBRef("users", REF_ID, "core", note="x"),
     {"$ref": "users", "$id": "64b7f0c2a1b2c3d4e5f60719", "$db": "core", "note": "x"}),
    (DBRef("users", Decimal128("NaN")), {"$ref": "users", "$id": None}),
    (Timestamp(1767322800, 7), {"$timestamp": {"t": 1767322800, "i": 7}}),
    (Regex("^hfd-[0-9]+$", "im"), {"$regularExpression": {"pattern": "^hfd-[0-9]+$", "options": "im"}}),
    (re.compile("a+", re.IGNORECASE), {"$regularExpression": {"pattern": "a+", "options": "iu"}}),
    (MinKey(), {"$minKey": 1}),
    (MaxKey(), {"$maxKey": 1}),
    (Code("function () { return 1; }"), "function () { return 1; }"),
], ids=lambda v: type(v).__name__)
def test_other_bson_types_serialize(value, expected):
    assert all_three({"v": value}) == [{"v": expected}] * 3


def test_extended_json_forms_read_back_with_bson_json_util():
    doc = {"ts": Timestamp(1767322800, 7), "re": Regex("^a", "i"), "min": MinKey(), "max": MaxKey()}
    assert json_util.loads(mongo_json_dumps(doc)) == doc


def test_every_bson_type_read_from_the_server_serializes(mongo_client, make_state):
    """A document holding each BSON type, as pymongo hands it back, is valid JSON."""
    coll = mongo_client[make_state("bson")]["docs"]
    coll.insert_one({
        "_id": 1, "ref": DBRef("users", REF_ID), "ts": Timestamp(1767322800, 7),
        "re": Regex("^a", "i"), "min": MinKey(), "max": MaxKey(), "code": Code("f()"),
        "nan": float("nan"), "inf": float("-inf"), "dnan": Decimal128("NaN"), "dinf": Decimal128("Infinity"),
        "price": Decimal128("0.1000000000000000000001"), "at": dt.datetime(2026, 1, 2, 3, 4, 5),
    })
    stored = coll.find_one({"_id": 1})
    for out in all_three(stored):
        assert out["ref"] == {"$ref": "users", "$id": "64b7f0c2a1b2c3d4e5f60719"}
        assert out["ts"] == {"$timestamp": {"t": 1767322800, "i": 7}}
        assert (out["min"], out["max"], out["code"]) == ({"$minKey": 1}, {"$maxKey": 1}, "f()")
        assert [out[k] for k in ("nan", "inf", "dnan", "dinf")] == [None] * 4
        assert out["price"] == "0.1000000000000000000001"
        assert out["at"] == "2026-01-02T03:04:05+00:00"


def test_keys_are_written_as_json_writes_them():
    doc = {1: "a", 2.5: "b", None: "c", False: "d", OID: "e"}
    expected = {"1": "a", "2.5": "b", "null": "c", "false": "d", "64b7f0c2a1b2c3d4e5f60718": "e"}
    assert all_three(doc) == [expected] * 3


def test_circular_containers_are_a_value_error_not_a_recursion_error():
    loop: list = [float("nan")]
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        mongo_json_dumps(loop)
    with pytest.raises(ValueError, match="Circular"):
        serialize_mongo_types(loop)


def test_a_caller_default_still_sees_only_unknown_types():
    class Point:
        pass

    out = strict_loads(mongo_json_dumps({"p": Point(), "id": OID, "x": float("nan")}, default=lambda o: "point"))
    assert out == {"p": "point", "id": "64b7f0c2a1b2c3d4e5f60718", "x": None}


def test_the_shared_encoder_is_safe_across_threads():
    """events.py shares one encoder between request threads; NaN retries must not mix."""
    encoder = MongoJSONEncoder()
    errors: list[str] = []

    def worker(n: int) -> None:
        for i in range(300):
            doc = {"n": n, "i": i, "x": float("nan") if i % 2 else 1.5, "d": Decimal128(f"{n}.{i}")}
            try:
                out = strict_loads(encoder.encode(doc))
            except ValueError as exc:
                errors.append(str(exc))
                continue
            if out != {"n": n, "i": i, "x": None if i % 2 else 1.5, "d": float(f"{n}.{i}")}:
                errors.append(repr(out))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


# --- what the library emits, end to end: Lambda results and SNS messages ---

HOSTILE_NUMBERS = {"nan": float("nan"), "inf": float("inf"), "dnan": Decimal128("NaN"),
                   "dinf": Decimal128("-Infinity"), "exact": Decimal128("19.99"),
                   "precise": Decimal128("0.1000000000000000000001"),
                   "at": dt.datetime(2026, 1, 2, 3, 4, 5)}
HOSTILE_EXPECTED = {"nan": None, "inf": None, "dnan": None, "dinf": None, "exact": 19.99,
                    "precise": "0.1000000000000000000001", "at": "2026-01-02T03:04:05+00:00"}


def test_lambda_results_are_strict_json(app_root):
    from aws_helper_sync import lambda_handler

    result = lambda_handler("echo")({"constitution-state": "ohio", "data": HOSTILE_NUMBERS}, None)
    assert result["success"] is True
    out = strict_loads(json.dumps(result, allow_nan=False))  # what the Lambda runtime sends
    assert out["data"]["data"] == HOSTILE_EXPECTED
    assert out["data"]["at"] == "2024-01-02T03:04:05+00:00"  # the Lambda's own naive datetime


def test_sns_message_bodies_are_strict_json(boto_client, unique):
    from aws_helper_sync import SNSPublisher, state_scope
    from tests.sqs_support import create_queue, receive_all, subscribe_queue

    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-json")["TopicArn"]
    queue = create_queue(sqs, f"{unique}-json")
    subscribe_queue(sns, sqs, topic, queue, raw=True)
    with state_scope("ohio"):
        SNSPublisher(topic).publish({"content": HOSTILE_NUMBERS, "attributes": {"n": [float("nan"), 1]}})
    (message,) = receive_all(sqs, queue)
    assert strict_loads(message["Body"]) == HOSTILE_EXPECTED
    assert strict_loads(message["MessageAttributes"]["n"]["StringValue"]) == [None, 1]
