"""SQS records: state from each source, content unwrapping, the partial-batch response.

Lambda-shape records are built as Lambda documents them; boto3-shape records
and SNS envelopes come from real deliveries on the moto server.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from aws_helper_sync.sqs import records as rec
from tests.sqs_support import (
    FIFO_QUEUE_ARN,
    create_queue,
    lambda_record,
    receive_all,
    send,
    subscribe_queue,
)

# --- state extraction, one source at a time ---


def test_state_from_lambda_message_attribute():
    record = lambda_record({"parcel": 1}, state="connecticut")
    assert rec.extract_state(record) == "connecticut"


def test_state_from_boto3_message_attribute(boto_client, unique):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-q")
    send(sqs, url, {"parcel": 1}, state="ohio")

    [message] = receive_all(sqs, url)

    assert message["MessageAttributes"]["constitution-state"]["StringValue"] == "ohio"
    assert rec.extract_state(message) == "ohio"


def test_state_from_sns_envelope_attribute(boto_client, unique):
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-topic")["TopicArn"]
    url = create_queue(sqs, f"{unique}-q")
    subscribe_queue(sns, sqs, topic, url, raw=False)
    sns.publish(
        TopicArn=topic, Message=json.dumps({"parcel": 7}),
        MessageAttributes={"constitution-state": {"DataType": "String", "StringValue": "nevada"}},
    )

    [message] = receive_all(sqs, url)

    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification"
    assert "constitution-state" not in message.get("MessageAttributes", {})
    assert rec.extract_state(message) == "nevada"
    assert rec.extract_content(message) == {"parcel": 7}


def test_state_from_raw_sns_delivery_arrives_as_sqs_attribute(boto_client, unique):
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-topic")["TopicArn"]
    url = create_queue(sqs, f"{unique}-q")
    subscribe_queue(sns, sqs, topic, url, raw=True)
    sns.publish(
        TopicArn=topic, Message=json.dumps({"parcel": 8}),
        MessageAttributes={"constitution-state": {"DataType": "String", "StringValue": "utah"}},
    )

    [message] = receive_all(sqs, url)

    assert json.loads(message["Body"]) == {"parcel": 8}
    assert rec.extract_state(message) == "utah"


def test_state_from_body():
    assert rec.extract_state(lambda_record({"constitution_state": "texas", "x": 1})) == "texas"


def test_state_from_body_content():
    record = lambda_record({"content": {"constitution_state": "maine"}})
    assert rec.extract_state(record) == "maine"


def test_state_sources_first_found_wins():
    body = {"constitution_state": "texas", "content": {"constitution_state": "maine"}}
    assert rec.extract_state(lambda_record(body, state="iowa")) == "iowa"
    assert rec.extract_state(lambda_record(body)) == "texas"
    envelope = {
        "Type": "Notification", "TopicArn": "arn:aws:sns:us-east-2:123456789012:t",
        "Message": json.dumps(body),
        "MessageAttributes": {"constitution-state": {"Type": "String", "Value": "idaho"}},
    }
    assert rec.extract_state(lambda_record(envelope)) == "idaho"
    assert rec.extract_state(lambda_record(envelope, state="iowa")) == "iowa"


def test_no_state_anywhere_is_none():
    assert rec.extract_state(lambda_record({"x": 1})) is None
    assert rec.extract_state(lambda_record("plain text")) is None


def test_invalid_state_is_returned_as_found_not_dropped():
    # The caller validates and fails the record; a silent None would run it stateless.
    assert rec.extract_state(lambda_record({"x": 1}, state="Admin; drop")) == "Admin; drop"
    assert rec.extract_state(lambda_record({"constitution_state": 42})) == 42


# --- content ---


def test_content_json_body():
    assert rec.extract_content(lambda_record({"a": [1, 2]})) == {"a": [1, 2]}


def test_content_non_json_body_is_raw():
    assert rec.extract_content(lambda_record("not json {")) == {"raw": "not json {"}


def test_content_envelope_with_non_json_message_is_raw():
    envelope = {"Type": "Notification", "Message": "hello", "TopicArn": "arn:aws:sns:us-east-2:1:t"}
    assert rec.extract_content(lambda_record(envelope)) == {"raw": "hello"}


def test_content_json_that_only_looks_like_sns_is_kept():
    body = {"Type": "Notification", "Message": {"not": "a string"}}
    assert rec.extract_content(lambda_record(body)) == body


# --- FIFO detection ---


def test_fifo_group_from_attribute_or_fifo_arn():
    assert rec.fifo_group(lambda_record({}, group="g1")) == "g1"
    assert rec.fifo_group(lambda_record({}, source_arn="arn:aws:sqs:us-east-2:1:q.fifo")) == ""
    assert rec.fifo_group(lambda_record({})) is None


# --- the response, built in one place ---


def test_batch_response_lists_failures_in_input_order_with_counts():
    result = rec.ProcessingResult(message_ids=["a", "b", "c", "d"])
    result.fail("c", "boom")
    result.fail("a", "bad")
    result.fail("a", "second reason is ignored")

    response = rec.batch_response(result)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}],
        "processed": 4, "successful": 2, "failed": 2,
    }
    assert result.failures["a"] == "bad"


def test_batch_response_all_succeeded_has_empty_failures():
    response = rec.batch_response(rec.ProcessingResult(message_ids=["a"]))
    assert response["batchItemFailures"] == []
    assert response["successful"] == 1


def test_batch_response_unidentified_records_fail_the_whole_batch():
    # Lambda treats an empty itemIdentifier as a failure of the entire batch.
    response = rec.batch_response(rec.ProcessingResult.all_failed(["a"], "bad event"), unidentified=1)
    assert response["batchItemFailures"] == [{"itemIdentifier": "a"}, {"itemIdentifier": ""}]
    assert response["failed"] == 2
    assert response["error"] == "bad event"


# --- boto3 message -> Lambda record (the worker's path) ---


def test_record_from_real_message_has_the_lambda_shape(boto_client, unique):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-q.fifo", ContentBasedDeduplication="true")
    send(sqs, url, {"n": 1}, MessageGroupId="g7",
         MessageAttributes={
             "constitution-state": {"DataType": "String", "StringValue": "ohio"},
             "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
         })
    [message] = receive_all(sqs, url)

    record = rec.record_from_message(message, rec.queue_arn(url, "us-east-2"), "us-east-2")

    assert record["messageId"] == message["MessageId"]
    assert record["receiptHandle"] == message["ReceiptHandle"]
    assert json.loads(record["body"]) == {"n": 1}
    assert record["messageAttributes"]["constitution-state"]["stringValue"] == "ohio"
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert record["attributes"]["MessageGroupId"] == "g7"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["eventSourceARN"].endswith(f":{unique}-q.fifo")
    assert rec.extract_state(record) == "ohio"
    assert rec.fifo_group(record) == "g7"


@pytest.mark.parametrize(("url", "region"), [
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1"),
    ("https://us-west-2.queue.amazonaws.com/123456789012/q", "us-west-2"),
    ("http://127.0.0.1:5000/123456789012/q", None),
])
def test_queue_region_from_url(url, region):
    assert rec.queue_region(url) == region


def test_queue_arn_from_url():
    assert rec.queue_arn("https://sqs.cn-north-1.amazonaws.com.cn/123/q.fifo", "cn-north-1") == \
        "arn:aws-cn:sqs:cn-north-1:123:q.fifo"
    assert rec.queue_arn("http://127.0.0.1:5000/123456789012/jobs", "us-east-2") == \
        "arn:aws:sqs:us-east-2:123456789012:jobs"


# --- bodies that cannot be parsed are not JSON, never an exception (issue 10 §4) ---

DEEP_BODY = "[" * 100_000 + "]" * 100_000  # 200 KB: fits in an SQS message, beyond any recursion limit


def _unparsable_bodies() -> dict[str, object]:
    return {
        "nested-100000-deep": DEEP_BODY,
        "nested-object-100000-deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
        "int-beyond-the-digit-limit": '{"n": ' + "9" * 100_000 + "}",
        "invalid-utf8-bytes": b'{"a": "\xff\xfe"}',
        "truncated": '{"uid": "x", ',
    }


@pytest.mark.parametrize("kind", sorted(_unparsable_bodies()))
def test_a_body_that_cannot_be_parsed_is_raw_content_never_an_exception(kind):
    body = _unparsable_bodies()[kind]
    record = {**lambda_record(""), "body": body}

    assert rec.extract_content(record) == {"raw": body}
    assert rec.extract_state(record) is None  # and no exception on the way
    assert rec.sns_envelope(record) is None


def test_an_sns_envelope_whose_message_cannot_be_parsed_is_raw():
    record = lambda_record({"Type": "Notification", "MessageId": "x", "Message": DEEP_BODY})
    assert rec.extract_content(record) == {"raw": DEEP_BODY}
    assert rec.extract_state(record) is None


def test_parse_body_on_the_consumer_never_raises_on_a_deep_body():
    from aws_helper_sync.sqs import SQSConsumer

    record = lambda_record(DEEP_BODY)
    assert SQSConsumer().parse_body(record) == {"raw": DEEP_BODY}
    assert SQSConsumer().extract_content_message(record) == {"raw": DEEP_BODY}


# --- the attribute name constitution-state in any case (issue 12 §5) ---


def _attribute(value: str, shape: str = "lambda") -> dict:
    if shape == "lambda":
        return {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    if shape == "boto3":
        return {"StringValue": value, "DataType": "String"}
    return {"Type": "String", "Value": value}  # SNS envelope


@pytest.mark.parametrize("name", ["Constitution-State", "CONSTITUTION-STATE", "constitution-State"])
@pytest.mark.parametrize("shape", ["lambda", "boto3"])
def test_state_attribute_name_in_any_case(name, shape):
    body_key = "messageAttributes" if shape == "lambda" else "MessageAttributes"
    record = {**lambda_record({"n": 1}), body_key: {name: _attribute("ohio", shape)}}
    if shape == "boto3":
        record.pop("messageAttributes")
    assert rec.extract_state(record) == "ohio"


def test_state_attribute_name_in_any_case_in_the_sns_envelope():
    envelope = {"Type": "Notification", "MessageId": "x", "Message": json.dumps({"n": 1}),
                "MessageAttributes": {"Constitution-State": _attribute("nevada", "sns")}}
    assert rec.extract_state(lambda_record(envelope)) == "nevada"


def test_two_spellings_with_the_same_state_agree():
    record = lambda_record({"n": 1})
    record["messageAttributes"] = {"constitution-state": _attribute("ohio"), "Constitution-State": _attribute("ohio")}
    assert rec.extract_state(record) == "ohio"


@pytest.mark.parametrize("where", ["sqs", "sns"])
def test_two_spellings_that_disagree_raise(where):
    attributes = {"constitution-state": _attribute("ohio", "lambda" if where == "sqs" else "sns"),
                  "Constitution-State": _attribute("utah", "lambda" if where == "sqs" else "sns")}
    if where == "sqs":
        record = {**lambda_record({"n": 1}), "messageAttributes": attributes}
    else:
        record = lambda_record({"Type": "Notification", "MessageId": "x", "Message": "{}",
                                "MessageAttributes": attributes})

    with pytest.raises(rec.ConflictingStateAttributesError, match="'ohio' and 'utah'"):
        rec.extract_state(record)


def test_a_spelling_without_a_value_does_not_conflict():
    record = lambda_record({"n": 1})
    record["messageAttributes"] = {"Constitution-State": {"dataType": "String"}, "constitution-state": _attribute("ohio")}
    assert rec.extract_state(record) == "ohio"


# --- the short way for the usual record gives the answer of the full walk ---


def _session(state: str) -> dict:
    import base64

    return {"dataType": "String", "stringValue": base64.b64encode(json.dumps({"state": state}).encode()).decode()}


@pytest.mark.parametrize("spelling", ["Notification", "Notific\\u0061tion", "\\u004eotification"])
def test_an_envelope_spelled_with_escapes_is_still_read(spelling):
    # The attribute alone would say "iowa"; the envelope's session says "ohio": the record must be refused.
    envelope = json.dumps({
        "Type": "Notification", "Message": "{}",
        "MessageAttributes": {"session": {"Type": "String", "Value": _session("ohio")["stringValue"]}},
    }).replace('"Notification"', f'"{spelling}"')
    record = lambda_record(envelope, state="iowa")
    assert rec.sns_envelope(record) is not None
    with pytest.raises(rec.InvalidStateError, match="disagree"):
        rec.find_state(record)


@pytest.mark.parametrize("attributes", [
    {"constitution-state": {"stringValue": "iowa", "dataType": "String"}},
    {"constitution-state": {"stringValue": "iowa"}, "trace": {"stringValue": "x"}},
    {"constitution-state": {"stringValue": "iowa"}, "Constitution-State": {"stringValue": "ohio"}},
    {"constitution-state": {"stringValue": "iowa"}, "Constitution-State": {"stringValue": "iowa"}},
    {"constitution-state": {"stringValue": "iowa"}, "session": _session("ohio")},
    {"constitution-state": {"stringValue": "iowa"}, "SESSION": _session("iowa")},
    {"constitution-state": {"stringValue": None, "StringValue": "iowa"}},
    {"constitution-state": {"stringValue": None}},
    {"constitution-state": "iowa"},
    {1: "odd key", "constitution-state": {"stringValue": "iowa"}},
])
@pytest.mark.parametrize("body", ['{"constitution_state": "texas"}', '{"x": "a\\\\b"}', "plain", None])
def test_find_state_agrees_with_the_full_walk(attributes, body):
    from aws_helper_sync.context.sources import first_agreeing

    record = lambda_record({})
    record["messageAttributes"] = attributes
    record["body"] = body

    def outcome(read):
        try:
            return read(record)
        except rec.InvalidStateError as exc:
            return type(exc)

    assert outcome(rec.find_state) == outcome(lambda r: first_agreeing(rec.state_sources(r)))


# --- usual_record, the batch's one pass: the same answers as the readers, for every shape ---


class _OddMapping(dict):
    """A dict subclass: not the plain dict JSON gives, so the subscript shortcut must not decide for it."""


def _shapes() -> list[dict]:
    """Records of every shape the shortcut could misjudge, each with what it should be compared against."""
    base = lambda_record({"n": 1}, state="iowa")
    fifo = lambda_record({"n": 1}, state="iowa", group="g1", source_arn=FIFO_QUEUE_ARN)

    def variant(record: dict, **changes) -> dict:
        out = json.loads(json.dumps(record))
        for key, value in changes.items():
            if value is KeyError:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    state = base["messageAttributes"]["constitution-state"]
    envelope = json.dumps({"Type": "Notification", "Message": "{}",
                           "MessageAttributes": {"session": {"Type": "String", "Value": _session("ohio")["stringValue"]}}})
    return [
        base, fifo,
        variant(fifo, attributes={**fifo["attributes"], "MessageGroupId": ""}),  # "" : the queue's one group
        variant(fifo, attributes={**fifo["attributes"], "MessageGroupId": 7}),
        variant(base, attributes={"MessageGroupId": ""}),  # "" on a standard queue: no group
        variant(base, attributes={"MessageGroupId": "g2"}),  # a group on a standard (fair) queue
        variant(base, eventSourceARN=FIFO_QUEUE_ARN),  # .fifo without MessageGroupId
        variant(base, eventSourceARN=None, EventSourceARN=FIFO_QUEUE_ARN),  # read from the other spelling
        variant(base, eventSourceARN=KeyError, EventSourceARN=FIFO_QUEUE_ARN),
        variant(base, eventSourceARN=5),
        variant(base, attributes=None, Attributes={"MessageGroupId": "g3"}),
        variant(base, attributes=KeyError),
        variant(base, attributes=["MessageGroupId"]),
        variant(base, body=None, Body="plain"),
        variant(base, body={"constitution_state": "ohio"}),  # a dict body (hand-built)
        variant(base, body=json.loads(envelope)),  # an envelope as a dict (hand-built): its session disagrees
        variant(base, body='{"Type": "Notification", "Message": "{}"}'),
        variant(base, body=envelope),  # its session disagrees with the attribute: refused
        variant(base, body=envelope.replace('"Notification"', '"Notific\\u0061tion"')),
        variant(base, body='{"x": "\\u0041"}'),
        variant(base, body=KeyError, Body="x"),
        variant(base, messageAttributes={"constitution-state": {**state, "stringValue": None,
                                                                "StringValue": "utah"}}),
        variant(base, messageAttributes={"constitution-state": {"StringValue": "utah"}}),
        variant(base, messageAttributes={"constitution-state": "utah"}),  # the plain value
        variant(base, messageAttributes={"constitution-state": ["utah"]}),
        variant(base, messageAttributes={"constitution-state": {"stringValue": ["utah"]}}),
        variant(base, messageAttributes={"constitution-state": {"stringValue": 5}}),
        variant(base, messageAttributes={"Constitution-State": state}),
        variant(base, messageAttributes={"constitution-state": state, "Constitution-State": {"stringValue": "ohio"}}),
        variant(base, messageAttributes={"constitution-state": state, "session": _session("ohio")}),
        variant(base, messageAttributes={"session": _session("ohio")}),
        variant(base, messageAttributes={"constitution-state": state, "trace": {"stringValue": "t"}}),
        variant(base, messageAttributes={}),
        variant(base, messageAttributes=None, MessageAttributes={"constitution-state": {"StringValue": "utah"}}),
        variant(base, messageAttributes=KeyError, MessageAttributes={"constitution-state": {"StringValue": "utah"}}),
        variant(base, messageAttributes=[state]),
        variant(base, messageAttributes="c"),
        {**base, "messageAttributes": _OddMapping(base["messageAttributes"])},
        {**base, "messageAttributes": {"constitution-state": _OddMapping(state)}},
        {**base, "attributes": _OddMapping({"MessageGroupId": "g4"})},
        {"MessageId": "m", "Body": "{}", "MessageAttributes": {"constitution-state": {"StringValue": "utah"}},
         "Attributes": {"MessageGroupId": "g5"}},  # boto3's spelling
    ]


def _expected(record: dict):
    """What usual_record must say of ``record``: derived from the readers it stands for."""
    from aws_helper_sync.context.sources import first_agreeing

    try:
        found = first_agreeing(rec.state_sources(record))
    except rec.InvalidStateError:
        return None  # the long way raises: the shortcut must not have answered
    if found is None or found[0] != rec.ATTRIBUTE_SOURCE:
        return "long way"
    return found[1], rec.fifo_group(record)


@pytest.mark.parametrize("index", range(len(_shapes())))
def test_usual_record_answers_what_the_readers_answer(index):
    record = _shapes()[index]
    usual = rec.usual_record(record)
    expected = _expected(record)
    if usual is None:  # the long way: always allowed, since it is the readers themselves
        return
    assert expected not in (None, "long way")
    assert usual == expected
    assert type(usual[0]) is type(expected[0])
    assert rec.find_state(record) == (rec.ATTRIBUTE_SOURCE, usual[0])


def test_usual_record_takes_the_short_way_for_the_usual_shapes():
    # (so that the test above compares something: these must not all fall back)
    base = lambda_record({"n": 1}, state="iowa")
    fifo = lambda_record({"n": 1}, state="iowa", group="g1", source_arn=FIFO_QUEUE_ARN)
    no_group = lambda_record({"n": 1}, state="iowa", source_arn=FIFO_QUEUE_ARN)
    assert [rec.usual_record(r) for r in (base, fifo, no_group)] == [("iowa", None), ("iowa", "g1"), ("iowa", "")]



def _recorders():
    from aws_helper_sync import get_state
    from aws_helper_sync.sqs.consumer_base import SQSConsumer

    class Recorder(SQSConsumer):
        processing_mode = "batch"

        def __init__(self) -> None:
            self.ran: dict[str, str | None] = {}
            self.lock = threading.Lock()

        def process_batch(self, records):
            for record in records:  # one at a time: a FIFO group's records after a failure are held back
                mid = record.get("messageId") or record.get("MessageId")
                with self.lock:
                    self.ran[mid] = get_state()
                if mid in ("shape", "fifo"):
                    self.add_message_failed(mid, "marked")

    class LongWay(Recorder):
        def extract_state(self, record):  # overridden: every record is read the long way, by the readers
            return rec.extract_state(record)

    return Recorder, LongWay


def _outcome(consumer, result) -> tuple[dict, dict]:
    # (the long way names its source "..extract_state()" where the record's own source is named)
    failures = {mid: re.sub(r"disagree: .*? is ('[^']*'|\[.*?\]) but", r"disagree: <source> is \1 but", why)
                for mid, why in result.failures.items()}
    return failures, consumer.ran


@pytest.mark.parametrize("index", range(len(_shapes())))
@pytest.mark.parametrize("entry", ["run_records", "run_event_records"])
def test_the_consumer_short_lane_settles_each_shape_as_the_readers_do(index, entry):
    # SQSConsumer._prepare settles a usual record of a state already seen with plain subscripts: each
    # shape, after usual records of its state and of the state it might claim, of a standard and of a
    # FIFO queue (the lane keeps the last standard queue ARN it read), must end as the readers say.
    shape = _shapes()[index]  # (marked failed when it runs: a FIFO group's followers are held back)
    shape = {**shape, "messageId": "shape"} if "messageId" in shape else {**shape, "MessageId": "shape"}
    batch = [lambda_record({"n": 1}, message_id="first", state="iowa"),
             lambda_record({"n": 2}, message_id="utah", state="utah"),
             lambda_record({"n": 3}, message_id="ohio", state="ohio"),
             shape,
             lambda_record({"n": 4}, message_id="fifo", state="iowa", source_arn=FIFO_QUEUE_ARN),
             {**shape, "messageId": "again"} if "messageId" in shape else {**shape, "MessageId": "again"},
             lambda_record({"n": 5}, message_id="fifo2", state="iowa", source_arn=FIFO_QUEUE_ARN),
             lambda_record({"n": 6}, message_id="last", state="iowa")]
    outcomes = []
    for cls in _recorders():
        consumer = cls()
        records = json.loads(json.dumps(batch))
        result = getattr(consumer, entry)(records)
        assert result.message_ids == [rec.message_id(r) for r in batch]
        outcomes.append(_outcome(consumer, result))
    assert outcomes[0] == outcomes[1]
    failures, ran = outcomes[0]
    assert ran["first"] == ran["last"] == "iowa" and ran["utah"] == "utah"
    assert "fifo2" in failures and "fifo2" not in ran  # (held back: its FIFO group failed before it)
    assert not set(ran) & (set(failures) - {"shape", "fifo"})  # nothing else reported failed was handed out


def test_the_consumer_short_lane_is_taken_for_the_usual_record(monkeypatch):
    # (so that the test above compares two ways: usual records skip the readers, and each state
    # named is validated once, for the first record that names it)
    from aws_helper_sync.sqs import consumer_base

    read, validated = [], []
    monkeypatch.setattr(rec, "usual_record", lambda record, real=rec.usual_record: read.append(record) or real(record))
    monkeypatch.setattr(consumer_base, "known_state",
                        lambda value, real=consumer_base.known_state: validated.append(value) or real(value))
    recorder, _ = _recorders()
    batch = [lambda_record({"n": n}, message_id=f"m{n}", state=("iowa", "utah")[n % 2]) for n in range(10)]
    result = recorder().run_event_records(batch)
    assert not result.failures
    assert read == []
    assert validated == ["iowa", "utah"]


def test_usual_record_of_a_record_that_is_not_a_dict_raises_and_the_consumer_reads_each_alone():
    # run_records called by hand with a poison entry: it fails alone, the others still run.
    from aws_helper_sync.sqs.consumer_base import SQSConsumer

    seen = []

    class Recorder(SQSConsumer):
        def process_record(self, record):
            seen.append(record["messageId"])

    good = lambda_record({"n": 1}, message_id="good")
    with pytest.raises(AttributeError):  # (the readers' record.get)
        rec.usual_record(["not", "a", "record"])  # type: ignore[arg-type]
    result = Recorder().run_records([good, ["not", "a", "record"]])  # type: ignore[list-item]
    assert seen == ["good"]
    assert set(result.failures) == {""}  # the entry without an id
    assert result.failures[""].startswith("not processed: record could not be read")
