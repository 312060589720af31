"""sqs_handler when things go wrong around the consumer: nothing is acknowledged unprocessed."""

from __future__ import annotations

import logging
import re
import threading

import pytest

from aws_helper_sync import sqs_handler as top_level_sqs_handler
from aws_helper_sync.loading import AsyncHookError, EntryPointNotFoundError
from aws_helper_sync.sqs import SQSConsumer
from aws_helper_sync.sqs import records as rec
from aws_helper_sync.sqs.handler import BadEventError, load_consumer_class, sqs_handler
from tests.sqs_support import failed_ids, lambda_event, lambda_record


def test_top_level_name_is_the_handler():
    assert top_level_sqs_handler is sqs_handler


def test_unknown_consumer_reports_every_record(app_root, caplog):
    records = [lambda_record({"n": i}) for i in range(3)]

    with caplog.at_level(logging.ERROR):
        response = sqs_handler("no_such_consumer")(lambda_event(*records), None)

    assert failed_ids(response) == {r["messageId"] for r in records}
    assert (response["processed"], response["successful"], response["failed"]) == (3, 0, 3)
    assert "consumer/no_such_consumer.py" in response["error"]
    assert "could not be loaded" in caplog.text
    assert str(app_root) not in response["error"]  # no file-system paths in the answer


def test_async_consumer_is_refused_and_every_record_reported(app_root):
    records = [lambda_record({"n": 1}), lambda_record({"n": 2})]

    response = sqs_handler("async_hooks")(lambda_event(*records), None)

    assert failed_ids(response) == {r["messageId"] for r in records}
    assert "synchronous" in response["error"]
    with pytest.raises(AsyncHookError):
        load_consumer_class("async_hooks")


@pytest.mark.parametrize("name", ["../state_recorder", "state recorder", "", "a/b"])
def test_invalid_consumer_names_report_every_record(app_root, name):
    record = lambda_record({})
    response = sqs_handler(name)(lambda_event(record), None)
    assert failed_ids(response) == {record["messageId"]}


def _sns_direct_event() -> dict:
    """An SNS notification as Lambda delivers it to an SNS-subscribed function (EventSource aws:sns)."""
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-2:123456789012:parcel-events:21be56ed-a058-49f5-8c98-aedd2564c486",
        "Sns": {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": "arn:aws:sns:us-east-2:123456789012:parcel-events",
            "Subject": None,
            "Message": '{"parcel_id": "HFD-0002"}',
            "Timestamp": "2026-11-26T05:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
            "SigningCertUrl": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-ac565b8b1a6c5d002d285f9598aa1d9b.pem",
            "UnsubscribeUrl": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:...",
            "MessageAttributes": {"constitution-state": {"Type": "String", "Value": "connecticut"}},
        },
    }]}


def _kinesis_record() -> dict:
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1", "sequenceNumber": "4954511524144",
                    "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==", "approximateArrivalTimestamp": 1545084650.987},
        "eventSource": "aws:kinesis", "eventVersion": "1.0",
        "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
        "eventName": "aws:kinesis:record", "awsRegion": "us-east-2",
        "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
    }


def _dynamodb_record() -> dict:
    return {
        "eventID": "c4ca4238a0b923820dcc509a6f75849b", "eventName": "INSERT", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-2",
        "dynamodb": {"Keys": {"Id": {"N": "101"}}, "NewImage": {"Id": {"N": "101"}},
                     "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        "eventSourceARN": "arn:aws:dynamodb:us-east-2:123456789012:table/Example/stream/2026-11-26T00:00:00.000",
    }


def foreign_events() -> dict[str, object]:
    """Events that are not SQS events, each shaped as its source sends it (imported by the reliability suite)."""
    good = lambda_record({"n": 1})
    sqs_with_a_kinesis_record = lambda_event(good, _kinesis_record())
    no_id = lambda_event(good, {"body": "{}", "eventSource": "aws:sqs"})
    return {
        "sns-direct": _sns_direct_event(),
        "kinesis": lambda_event(_kinesis_record()),
        "dynamodb": lambda_event(_dynamodb_record()),
        "sqs-mixed-with-kinesis": sqs_with_a_kinesis_record,
        "record-without-messageId": no_id,
        "record-with-empty-messageId": lambda_event({**good, "messageId": ""}),
        "record-not-an-object": lambda_event(good, "m-2"),
        "Records-a-string": {"Records": "x"},
        "Records-a-dict": {"Records": {"messageId": "m-1"}},
        "no-Records": {"detail-type": "Scheduled Event", "source": "aws.events"},
        "empty-dict": {},
        "None": None,
        "a-list": [good],
    }


@pytest.mark.parametrize("kind", sorted(foreign_events()))
def test_an_event_that_is_not_from_sqs_raises_and_runs_nothing(app_root, kind, caplog):
    """Returning would acknowledge it (SNS ignores the answer; [] means all succeeded): raise so Lambda retries."""
    event = foreign_events()[kind]

    with pytest.raises(BadEventError, match=r"sqs_handler\('state_recorder'\): not an SQS event") as raised:
        sqs_handler("state_recorder")(event, None)

    assert isinstance(raised.value, ValueError)
    assert load_consumer_class("state_recorder").seen == []
    assert "not an SQS event" in caplog.text


def test_foreign_event_source_is_named_in_the_error(app_root):
    with pytest.raises(BadEventError, match=r"record 0 has EventSource 'aws:sns'"):
        sqs_handler("state_recorder")(_sns_direct_event(), None)
    with pytest.raises(BadEventError, match=r"record 1 has eventSource 'aws:kinesis'"):
        sqs_handler("state_recorder")(lambda_event(lambda_record({}), _kinesis_record()), None)


@pytest.mark.parametrize("kind", sorted(foreign_events()))
def test_a_foreign_event_raises_even_when_the_consumer_cannot_be_loaded(app_root, kind):
    # The records are checked in the consumer's pass; without a consumer they are checked before answering.
    with pytest.raises(BadEventError, match=r"sqs_handler\('no_such_consumer'\): not an SQS event"):
        sqs_handler("no_such_consumer")(foreign_events()[kind], None)
    with pytest.raises(BadEventError, match=r"record 1 has eventSource 'aws:kinesis'"):
        sqs_handler("no_such_consumer")(lambda_event(lambda_record({}), _kinesis_record()), None)


def test_a_batch_aborted_before_every_record_was_checked_still_raises_for_a_foreign_event():
    # A fault that aborts the batch in the middle of the pass that checks the records (here a
    # ConfigurationError, as a missing registry gives) must not answer for records not checked yet.
    from aws_helper_sync.errors import ConfigurationError

    class Aborting(SQSConsumer):
        def extract_state(self, record):
            raise ConfigurationError("no state registry")

        def process_record(self, record):
            raise AssertionError("nothing runs in an aborted batch")

    good = [lambda_record({"n": n}, message_id=f"m-{n}", state="iowa") for n in range(3)]
    with pytest.raises(BadEventError, match=r"record 2 has eventSource 'aws:kinesis'"):
        Aborting().run_event_records([*good[:2], _kinesis_record()])
    result = Aborting().run_event_records(good)  # an SQS event: every record reported failed instead
    assert result.message_ids == ["m-0", "m-1", "m-2"]
    assert set(result.failures) == set(result.message_ids) and result.error.startswith("batch aborted")


def test_hand_built_records_without_event_source_keep_working(app_root):
    """The README's hand-built events carry no eventSource: they are SQS events."""
    records = [{"messageId": "m-1", "body": "{}"}, {"messageId": "m-2", "body": '{"n": 2}', "attributes": {}}]

    response = sqs_handler("state_recorder")(lambda_event(*records), None)

    assert response == {"batchItemFailures": [], "processed": 2, "successful": 2, "failed": 0}
    assert [mid for mid, _, _ in load_consumer_class("state_recorder").seen] == ["m-1", "m-2"]


def test_empty_batch_is_an_empty_success(app_root):
    assert sqs_handler("state_recorder")({"Records": []}, None) == {
        "batchItemFailures": [], "processed": 0, "successful": 0, "failed": 0,
    }


def test_invalid_processing_mode_fails_every_record(app_root):
    class Confused(SQSConsumer):
        processing_mode = "parallel"

        def process_record(self, record):
            raise AssertionError("must not run")

    records = [lambda_record({}), lambda_record({})]
    result = Confused().run_records(records)

    assert set(result.failures) == {r["messageId"] for r in records}
    assert "processing_mode" in result.error


def test_missing_process_record_fails_records_with_a_clear_reason():
    class Empty(SQSConsumer):
        pass

    record = lambda_record({})
    result = Empty().run_records([record])
    assert "must implement process_record" in result.failures[record["messageId"]]


@pytest.mark.parametrize("name", ["state_recorder", "state-recorder", "StateRecorder"])
def test_consumer_name_forms(app_root, name):
    assert load_consumer_class(name).__name__ == "StateRecorderConsumer"


@pytest.mark.parametrize("name", ["land_records", "land-records", "land_records_consumer"])
def test_consumer_file_with_consumer_suffix(app_root, name):
    assert load_consumer_class(name).__name__ == "LandRecordsConsumer"


def test_missing_consumer_error_names_both_files(app_root):
    with pytest.raises(EntryPointNotFoundError, match=r"consumer/ghost\.py or consumer/ghost_consumer\.py"):
        load_consumer_class("ghost")


def test_loader_loads_once_under_concurrent_first_use(app_root):
    start = threading.Barrier(16)
    classes: list[type] = []

    def load() -> None:
        start.wait()
        classes.append(load_consumer_class("state-recorder"))

    threads = [threading.Thread(target=load) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(classes) == 16
    assert len({id(c) for c in classes}) == 1


def test_get_queue_url_from_environment(monkeypatch):
    for name, value in {
        "AWS_REGION": "us-west-2", "AWS_ACCOUNT_ID": "123456789012",
        "SERVICE_NAME": "titles", "QUEUE_NAME": "Indexer", "ENV": "prod",
    }.items():
        monkeypatch.setenv(name, value)

    assert SQSConsumer().get_queue_url() == "https://sqs.us-west-2.amazonaws.com/123456789012/titlesIndexer-prod"


def test_get_queue_url_names_missing_variables(monkeypatch):
    monkeypatch.setenv("AWS_ACCOUNT_ID", "123456789012")
    for name in ("SERVICE_NAME", "QUEUE_NAME", "ENV"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ValueError, match="SERVICE_NAME, QUEUE_NAME, ENV"):
        SQSConsumer().get_queue_url()


@pytest.mark.parametrize("changes, outcome", [
    ({"EventSource": "aws:sqs"}, "ok"),  # both spellings, both SQS
    ({"EventSource": "aws:sns"}, "record 0 has EventSource 'aws:sns'"),  # next to a good eventSource
    ({"eventSource": None}, "record 0 has eventSource None"),
    ({"eventSource": "aws:sqs "}, "record 0 has eventSource 'aws:sqs '"),
    ({"messageId": None, "MessageId": "boto-id"}, "ok"),  # boto3's spelling
    ({"messageId": 5}, "record 0 has no messageId"),
    ({"messageId": None}, "record 0 has no messageId"),
    ({"messageId": ""}, "record 0 has no messageId"),
])
def test_checked_records_judges_every_spelling_as_the_readers_do(changes, outcome):
    # checked_records reads Lambda's record with plain subscripts; every other spelling must still be judged.
    from aws_helper_sync.sqs.handler import checked_records

    record = {**lambda_record({"n": 1}, message_id="m-1"), **changes}
    if outcome == "ok":
        assert checked_records(lambda_event(record)) == ([record], [rec.message_id(record)])
    else:
        with pytest.raises(BadEventError, match=re.escape(outcome)):
            checked_records(lambda_event(record))

    # The handler checks each record in the consumer's pass over the batch instead (run_event_records),
    # where a record of a state already seen takes a short lane: it must judge every record the same.
    ran: list[str] = []

    class Recorder(SQSConsumer):
        processing_mode = "batch"

        def process_batch(self, records):
            ran.extend(r["messageId"] or r["MessageId"] for r in records)

    state = lambda_record({"n": 0}, message_id="m-0", state="iowa")
    records = [state, {**record, "messageAttributes": state["messageAttributes"]}]
    if outcome == "ok":
        result = Recorder().run_event_records(records)
        assert result.message_ids == ["m-0", rec.message_id(record)] and not result.failures
        assert sorted(ran) == sorted(result.message_ids)
    else:
        with pytest.raises(BadEventError, match=re.escape(outcome.replace("record 0", "record 1"))):
            Recorder().run_event_records(records)
        assert ran == []  # raised before any record ran
