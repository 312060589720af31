"""``sqs_handler(name)``: the Lambda handler of an SQS event source.

    # handler.py of the Lambda (with ReportBatchItemFailures enabled)
    from aws_helper_sync import sqs_handler
    handler = sqs_handler("land-records")   # consumer/land_records.py, LandRecordsConsumer

The handler never raises and always answers ``batchItemFailures``: a record is
acknowledged only when its consumer processed it successfully. When anything
fails before or around processing (the consumer cannot be loaded, the event
is malformed), every record is reported failed, with the reason logged.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from .. import settings
from ..entrypoint import check_entry_name
from ..loading import EntryPointNotFoundError, load_class, to_pascal_case, to_snake_case
from . import records as rec
from .consumer_base import SQSConsumer

logger = logging.getLogger(__name__)

CONSUMER_FOLDER = "consumer"


class BadEventError(ValueError):
    """The event is not an SQS event the handler can account for record by record."""


def load_consumer_class(name: str) -> type[SQSConsumer]:
    """``<app root>/consumer/<snake_name>.py`` (or ``<snake_name>_consumer.py``), class ``<PascalName>Consumer``.

    ``land-records``, ``land_records`` and ``LandRecords`` all name
    ``consumer/land_records.py`` with class ``LandRecordsConsumer``.
    """
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
    """The event's records, each a dict with a message id; else BadEventError."""
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list):
        raise BadEventError("not an SQS event: expected a dict with a 'Records' list")
    records = event["Records"]
    for index, record in enumerate(records):
        if rec.message_id(record) is None:
            raise BadEventError(f"record {index} has no messageId: the event is not an SQS event")
    return records


def failed_response(event: Any, reason: str) -> dict[str, Any]:
    """Every record of ``event`` reported failed (those without an id too: see batch_response)."""
    raw = event.get("Records") if isinstance(event, dict) else None
    raw = raw if isinstance(raw, list) else []
    ids = [mid for mid in (rec.message_id(r) for r in raw) if mid is not None]
    return rec.batch_response(rec.ProcessingResult.all_failed(ids, reason), unidentified=len(raw) - len(ids))


def sqs_handler(name: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A Lambda handler that runs the consumer ``name`` over the event's records.

    Returns ``{"batchItemFailures": [{"itemIdentifier": id}, ...], "processed",
    "successful", "failed"}``; enable ``ReportBatchItemFailures`` on the event
    source mapping so that only the failed records are retried.
    """

    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        try:
            records = records_of(event)
        except BadEventError as exc:
            logger.error("sqs_handler(%r): %s; every record is reported failed", name, exc)
            return failed_response(event, str(exc))
        try:
            consumer = load_consumer_class(name)()
        except Exception as exc:
            logger.exception(
                "sqs_handler(%r): consumer could not be loaded; all %d records reported failed",
                name, len(records),
            )
            return failed_response(event, f"consumer {name!r} could not be loaded: {exc}")
        return rec.batch_response(consumer.run_records(records))  # run_records never raises

    handler.__qualname__ = handler.__name__ = f"sqs_handler_{to_snake_case(str(name))}"
    return handler
