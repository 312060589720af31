"""The long-polling SQS worker: the same consumers outside Lambda (scripts, cron, containers).

    from aws_helper_sync.sqs.worker import run_worker
    run_worker("land-records", queue_url)                    # container: until SIGTERM
    run_worker("land-records", queue_url, until_empty=True)  # cron: drain and exit

Each cycle receives up to 10 messages with all their attributes, turns them
into Lambda-shape records, runs them through ``SQSConsumer.run_records`` (the
code path of ``sqs_handler``), and deletes only the records that succeeded,
checking the delete response. Failed records are left alone: SQS redelivers
them after the visibility timeout (and moves them to a DLQ per the queue's
redrive policy). SIGTERM/SIGINT ask the worker to stop: the batch in flight is
finished and deleted, and no further receive is made.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import Any, Union

from .. import settings
from ..aws import DEFAULT_REGION, aws_client, is_retryable_error
from . import records as rec
from .consumer_base import SQSConsumer
from .handler import load_consumer_class

logger = logging.getLogger(__name__)

ConsumerSpec = Union[str, type, SQSConsumer]

MAX_MESSAGES = 10  # the SQS limit per receive and per delete batch
@dataclass
class WorkerStats:
    """What a worker did: messages received, processed successfully or not, deleted."""

    receives: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    deleted: int = 0
    delete_failed: int = 0
    receive_errors: int = 0


def _consumer_instance(consumer: ConsumerSpec) -> SQSConsumer:
    if isinstance(consumer, SQSConsumer):
        return consumer
    if isinstance(consumer, type) and issubclass(consumer, SQSConsumer):
        return consumer()
    if isinstance(consumer, str):
        return load_consumer_class(consumer)()
    raise TypeError(
        f"consumer must be a consumer name, an SQSConsumer subclass or instance, got {consumer!r}"
    )


class SQSWorker:
    """Long-polls ``queue_url`` and feeds the messages to one consumer.

    ``consumer``: a consumer name (loaded like ``sqs_handler``), an SQSConsumer
    subclass, or an instance (shared by every batch). ``queue_url`` defaults to
    ``consumer.get_queue_url()``. ``wait_time_seconds`` is the long-poll wait
    (0-20; a stop request waits at most this long). ``visibility_timeout``
    overrides the queue's for received messages. ``until_empty``: return as
    soon as a receive finds no message (cron). Signal handlers are installed
    only when ``run()`` is called from the main thread.
    """

    def __init__(
        self,
        consumer: ConsumerSpec,
        queue_url: str | None = None,
        *,
        wait_time_seconds: int = 20,
        visibility_timeout: int | None = None,
        until_empty: bool = False,
        max_messages: int = MAX_MESSAGES,
        region: str | None = None,
        handle_signals: bool = True,
        max_backoff_seconds: float = 20.0,
    ) -> None:
        if not 0 <= wait_time_seconds <= 20:
            raise ValueError("wait_time_seconds must be between 0 and 20 (the SQS long-poll limit)")
        if not 1 <= max_messages <= MAX_MESSAGES:
            raise ValueError(f"max_messages must be between 1 and {MAX_MESSAGES}")
        self.consumer = _consumer_instance(consumer)
        self.queue_url = queue_url or self.consumer.get_queue_url()
        self.region = region or rec.queue_region(self.queue_url) or settings.aws_region(DEFAULT_REGION)
        self.queue_arn = rec.queue_arn(self.queue_url, self.region)
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self.until_empty = until_empty
        self.max_messages = max_messages
        self.handle_signals = handle_signals
        self.max_backoff_seconds = max_backoff_seconds
        self.stats = WorkerStats()
        self._stop = threading.Event()

    @property
    def sqs(self) -> Any:
        return aws_client("sqs", self.region)

    def stop(self) -> None:
        """Ask the worker to stop after the batch in flight (safe from any thread or a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> WorkerStats:
        """Poll until stopped (``stop()``, SIGTERM, SIGINT) or, with ``until_empty``, the queue is empty."""
        restore = self._install_signal_handlers()
        backoff = 0.0
        logger.info("worker started on %s", self.queue_url)
        try:
            while not self._stop.is_set():
                try:
                    received = self.poll_once()
                except Exception as exc:
                    if not is_retryable_error(exc):
                        raise
                    self.stats.receive_errors += 1
                    backoff = min(self.max_backoff_seconds, backoff * 2 or 0.5)
                    logger.warning("receive from %s failed (%s); retrying in %.1fs", self.queue_url, exc, backoff)
                    self._stop.wait(backoff)
                    continue
                backoff = 0.0
                if received == 0:
                    if self.until_empty:
                        break
                    if self.wait_time_seconds == 0:
                        self._stop.wait(1.0)  # short polling: do not spin on an empty queue
        finally:
            restore()
        logger.info("worker stopped: %s", self.stats)
        return self.stats

    def poll_once(self) -> int:
        """One cycle: receive, process, delete the successes. Returns the number of messages received."""
        messages = self._receive()
        if not messages:
            return 0
        records = [rec.record_from_message(m, self.queue_arn, self.region) for m in messages]
        result = self.consumer.run_records(records)
        failed = set(result.failures)
        self.stats.received += len(records)
        self.stats.failed += len(failed)
        succeeded = [r for r in records if r["messageId"] not in failed]
        self.stats.succeeded += len(succeeded)
        self._delete(succeeded)
        return len(records)

    def _receive(self) -> list[dict[str, Any]]:
        params: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.max_messages,
            "WaitTimeSeconds": self.wait_time_seconds,
            "MessageAttributeNames": ["All"],
            _system_attributes_param(self.sqs): ["All"],
        }
        if self.visibility_timeout is not None:
            params["VisibilityTimeout"] = self.visibility_timeout
        self.stats.receives += 1
        messages: list[dict[str, Any]] = self.sqs.receive_message(**params).get("Messages", [])
        return messages

    def _delete(self, records: list[dict[str, Any]]) -> None:
        """Delete processed messages; a failed delete is logged and counted (the message comes back)."""
        from botocore.exceptions import BotoCoreError, ClientError

        for start in range(0, len(records), MAX_MESSAGES):
            chunk = records[start:start + MAX_MESSAGES]
            entries = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)]
            try:
                response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                self.stats.delete_failed += len(chunk)
                logger.error(
                    "could not delete %d processed messages from %s (%s): they will be redelivered",
                    len(chunk), self.queue_url, exc,
                )
                continue
            deleted = {entry["Id"] for entry in response.get("Successful", [])}
            self.stats.deleted += len(deleted)
            for entry in entries:
                if entry["Id"] in deleted:
                    continue
                self.stats.delete_failed += 1
                reason = next(
                    (f"{f.get('Code')}: {f.get('Message')}" for f in response.get("Failed", []) if f.get("Id") == entry["Id"]),
                    "no result for this entry",
                )
                logger.error(
                    "processed message %s was not deleted (%s): it will be redelivered",
                    chunk[int(entry["Id"])]["messageId"], reason,
                )

    def _install_signal_handlers(self) -> Any:
        """SIGTERM/SIGINT -> stop(); a second signal gets the previous behaviour back (force quit)."""
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        def on_signal(signum: int, frame: Any) -> None:
            logger.info("%s received: stopping after the batch in flight", signal.Signals(signum).name)
            self.stop()
            restore()

        for sig in previous:
            signal.signal(sig, on_signal)
        return restore


def _system_attributes_param(client: Any) -> str:
    """``MessageSystemAttributeNames`` where botocore knows it, else the older ``AttributeNames``."""
    members = client.meta.service_model.operation_model("ReceiveMessage").input_shape.members
    return "MessageSystemAttributeNames" if "MessageSystemAttributeNames" in members else "AttributeNames"


def run_worker(consumer: ConsumerSpec, queue_url: str | None = None, **options: Any) -> WorkerStats:
    """Build an SQSWorker and run it; see SQSWorker for the options."""
    return SQSWorker(consumer, queue_url, **options).run()
