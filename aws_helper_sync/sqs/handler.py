"""``sqs_handler(name)``: the Lambda handler of an SQS event source.

    # handler.py of the Lambda (with ReportBatchItemFailures enabled)
    from aws_helper_sync import sqs_handler
    handler = sqs_handler("land-records")   # consumer/land_records.py, LandRecordsConsumer

A record is acknowledged only when its consumer processed it successfully.
When anything fails before or around processing (the consumer cannot be
loaded), every record is reported failed, with the reason logged. An event
that is not an SQS event (no ``Records`` list, records of SNS, Kinesis or
DynamoDB, records without ``messageId``) raises ``BadEventError``: whatever
the handler returned would acknowledge it, raising makes Lambda retry it.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import settings
from .._lazy import deferred_logger
from ..entrypoint import check_entry_name
from ..loading import (
    EntryPointNotFoundError,
    cached_entry,
    load_class,
    to_pascal_case,
    to_snake_case,
)
from . import records as rec
from .consumer_base import SQSConsumer

logger = deferred_logger(__name__, "logger", __name__)

CONSUMER_FOLDER = "consumer"


SQS_EVENT_SOURCE = "aws:sqs"


class BadEventError(ValueError):
    """The event is not an SQS event the handler can account for record by record.

    Raised out of the handler (never answered): SNS ignores return values and
    an empty ``batchItemFailures`` means "all succeeded", so returning would
    lose the event; an exception makes Lambda retry or dead-letter it.
    """


def load_consumer_class(name: str) -> type[SQSConsumer]:
    """``<app root>/consumer/<snake_name>.py`` (or ``<snake_name>_consumer.py``), class ``<PascalName>Consumer``.

    ``land-records``, ``land_records`` and ``LandRecords`` all name
    ``consumer/land_records.py`` with class ``LandRecordsConsumer``. The class
    is looked up once per process (``loading.cached_entry``): a warm invocation
    touches no file; a consumer that fails to load is retried, and reported
    with its own error, on every call.
    """
    return cached_entry(CONSUMER_FOLDER, name, lambda: _find_consumer_class(name))


def _find_consumer_class(name: str) -> type[SQSConsumer]:
    check_entry_name(name, CONSUMER_FOLDER)
    snake = to_snake_case(name).removesuffix("_consumer")
    class_name = to_pascal_case(snake) + "Consumer"
    folder = settings.app_root() / CONSUMER_FOLDER
    for filename in (f"{snake}.py", f"{snake}_consumer.py"):
        path = folder / filename
        if path.is_file():
            return load_class(path, SQSConsumer, class_name=class_name, where=f"{CONSUMER_FOLDER}/{filename}")
    raise EntryPointNotFoundError(
        f"consumer {name!r} not found: expected {CONSUMER_FOLDER}/{snake}.py or "
        f"{CONSUMER_FOLDER}/{snake}_consumer.py under the app root (APP_ROOT) "
        f"defining class {class_name}(SQSConsumer)"
    )


def records_of(event: Any) -> list[dict[str, Any]]:
    """The event's records, each a dict with a message id from SQS; else BadEventError.

    A record whose ``eventSource`` (``EventSource`` for SNS) is present and is
    not ``aws:sqs`` makes the event foreign; hand-built records without one
    are accepted.
    """
    return checked_records(event)[0]


def checked_records(event: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """``records_of(event)`` and the records' message ids, read in the same pass."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        shape = "a dict without a 'Records' list" if isinstance(event, dict) else type(event).__name__
        raise BadEventError(f"not an SQS event: expected a dict with a 'Records' list, got {shape}")
    records: list[dict[str, Any]] = event["Records"]  # each checked to be a dict below
    ids: list[str] = []
    append = ids.append
    source = SQS_EVENT_SOURCE
    for record in records:
        try:  # Lambda's record, checked in a few subscripts (this runs per record, before any work)
            usual = type(record) is dict and record["eventSource"] == source and "EventSource" not in record
            message_id = record["messageId"] if usual else None
        except KeyError:
            message_id = None
        append(message_id if type(message_id) is str and message_id else _checked_id(len(ids), record))
    return records, ids


def _checked_id(index: int, record: Any) -> str:
    """The message id of ``records[index]`` after every check of ``checked_records``; else BadEventError."""
    if not isinstance(record, dict):
        raise BadEventError(f"not an SQS event: record {index} is a {type(record).__name__}, not an object")
    for key in ("eventSource", "EventSource"):  # (SNS spells it EventSource)
        if record.get(key, SQS_EVENT_SOURCE) != SQS_EVENT_SOURCE:
            shown = repr(record[key])
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise BadEventError(
                f"not an SQS event: record {index} has {key} {shown} (expected {SQS_EVENT_SOURCE!r})"
            )
    message_id = rec.message_id(record)
    if message_id is None:
        raise BadEventError(f"not an SQS event: record {index} has no messageId")
    return message_id


def failed_response(records: list[dict[str, Any]], reason: str) -> dict[str, Any]:
    """Every record reported failed (the records come from ``records_of``: each has an id)."""
    ids = [rec.message_id(r) or "" for r in records]
    return rec.batch_response(rec.ProcessingResult.all_failed(ids, reason))


def sqs_handler(name: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler that runs the consumer ``name`` over the event's records.

    Returns ``{"batchItemFailures": [{"itemIdentifier": id}, ...], "processed",
    "successful", "failed"}``; enable ``ReportBatchItemFailures`` on the event
    source mapping so that only the failed records are retried. Raises
    ``BadEventError`` for an event that is not from SQS. With a Lambda
    ``context``, work not started before the deadline margin is reported failed
    (``SQSConsumer.deadline_margin_ms``).
    """

    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        try:
            records, message_ids = checked_records(event)
        except BadEventError as exc:
            logger.error("sqs_handler(%r): %s; raising so that Lambda retries the invocation", name, exc)
            raise BadEventError(f"sqs_handler({name!r}): {exc}") from None
        try:
            consumer = load_consumer_class(name)()
        except Exception as exc:
            logger.exception(
                "sqs_handler(%r): consumer could not be loaded; all %d records reported failed",
                name, len(records),
            )
            return failed_response(records, f"consumer {name!r} could not be loaded: {exc}")
        return rec.batch_response(consumer.run_checked_records(records, message_ids, context))  # never raises

    handler.__qualname__ = handler.__name__ = f"sqs_handler_{to_snake_case(str(name))}"
    return handler
