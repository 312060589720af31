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
from .records import BadEventError, checked_records  # (importable from here as before)

logger = deferred_logger(__name__, "logger", __name__)

CONSUMER_FOLDER = "consumer"


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
            records = rec.event_records(event)
            try:
                consumer = load_consumer_class(name)()
            except Exception as exc:
                checked_records(event)  # a foreign event is raised, not answered, whatever else failed
                logger.exception(
                    "sqs_handler(%r): consumer could not be loaded; all %d records reported failed",
                    name, len(records),
                )
                return failed_response(records, f"consumer {name!r} could not be loaded: {exc}")
            # Each record's shape is checked in the consumer's pass over the batch (BadEventError
            # before any record runs), so that the serial part of a batch reads each record once.
            return rec.batch_response(consumer.run_event_records(records, context))  # never raises otherwise
        except BadEventError as exc:
            logger.error("sqs_handler(%r): %s; raising so that Lambda retries the invocation", name, exc)
            raise BadEventError(f"sqs_handler({name!r}): {exc}") from None

    handler.__qualname__ = handler.__name__ = f"sqs_handler_{to_snake_case(str(name))}"
    return handler
