"""sqs_handler when things go wrong around the consumer: nothing is acknowledged unprocessed."""

from __future__ import annotations

import logging
import threading

import pytest

from aws_helper_sync import sqs_handler as top_level_sqs_handler
from aws_helper_sync.loading import AsyncHookError, EntryPointNotFoundError
from aws_helper_sync.sqs import SQSConsumer
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
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


def test_record_without_message_id_fails_the_whole_batch(app_root):
    good = lambda_record({"n": 1})
    broken = {"body": "{}"}

    response = sqs_handler("state_recorder")(lambda_event(good, broken), None)

    # The identifiable record is named; the empty identifier makes Lambda retry the whole batch.
    assert response["batchItemFailures"] == [{"itemIdentifier": good["messageId"]}, {"itemIdentifier": ""}]
    assert load_consumer_class("state_recorder").seen == []


@pytest.mark.parametrize("event", [None, {}, {"Records": "nope"}, []])
def test_event_without_records_list_is_reported_not_raised(app_root, event):
    response = sqs_handler("state_recorder")(event, None)
    assert response["batchItemFailures"] == []
    assert "Records" in response["error"]


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
