"""The long-polling SQS worker: the same consumers outside Lambda (scripts, cron, containers).

    from aws_helper_sync.sqs.worker import run_worker
    run_worker("land-records", queue_url)                    # container: until SIGTERM
    run_worker("land-records", queue_url, until_empty=True)  # cron: drain and exit

Each cycle receives up to 10 messages with all their attributes, turns them
into Lambda-shape records, runs them through ``SQSConsumer.run_records`` (the
code path of ``sqs_handler``), and deletes only the records that succeeded,
checking the delete response.

While a batch is processed, a heartbeat thread extends the visibility of its
messages (``ChangeMessageVisibilityBatch`` every half visibility timeout), so a
batch that outlasts the timeout is not delivered to a second worker meanwhile.
Failed records are released for redelivery (visibility set to ``retry_delay``,
0 by default) instead of waiting out the rest of their timeout; SQS moves them
to a DLQ per the queue's redrive policy.

SIGTERM/SIGINT ask the worker to stop: the batch in flight is finished and
deleted, and no further receive is made. Receives wait at most
``stop_check_seconds`` (1 s) at a time, so an idle worker exits within about
that long, well inside ``docker stop``'s 10 s.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

from .. import settings
from ..aws import DEFAULT_REGION, aws_client, is_retryable_error
from . import records as rec
from .consumer_base import SQSConsumer
from .handler import load_consumer_class

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger(__name__)

ConsumerSpec = Union[str, type, SQSConsumer]
RetryDelay = Union[int, Callable[[int], int], None, str]

MAX_MESSAGES = 10  # the SQS limit per receive, per delete batch and per visibility batch
MAX_VISIBILITY_TIMEOUT = 43200  # 12 hours, the SQS limit
FALLBACK_VISIBILITY_TIMEOUT = 30  # the SQS default, set explicitly when the queue's cannot be read
AUTO = "auto"


@dataclass
class WorkerStats:
    """What a worker did: messages received, processed, deleted, kept invisible, released.

    ``extended``/``extend_failed`` count heartbeat extensions of one message
    (a message held through three heartbeats counts three); ``released`` counts
    failed messages made visible again (``retry_delay``).
    """

    receives: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    deleted: int = 0
    delete_failed: int = 0
    receive_errors: int = 0
    extended: int = 0
    extend_failed: int = 0
    released: int = 0
    release_failed: int = 0


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


def _check_seconds(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number of seconds from {low} to {high}, got {value!r}")


class SQSWorker:
    """Long-polls ``queue_url`` and feeds the messages to one consumer.

    ``consumer``: a consumer name (loaded like ``sqs_handler``), an SQSConsumer
    subclass, or an instance (shared by every batch). ``queue_url`` defaults to
    ``consumer.get_queue_url()``.

    ``wait_time_seconds``: the long-poll wait of a receive (0-20; 0 = short
    polling). ``stop_check_seconds`` (1-20, default 1) caps each receive's wait
    so that an idle worker notices a stop within about that long; a larger value
    makes fewer empty receives (each is a billed request) and stops slower.
    ``until_empty``: return as soon as a receive finds no message (cron).

    ``visibility_timeout``: the timeout of received messages (default: the
    queue's, read once with ``GetQueueAttributes``). ``heartbeat`` (default on):
    extend the messages of the batch in flight by that timeout every half of it,
    until each is deleted or released. ``retry_delay``: the visibility given to
    a failed message, i.e. when it is redelivered: seconds, or a function of its
    receive count for a backoff (``lambda receives: min(900, 10 * 2 ** receives)``);
    ``None`` leaves it to its visibility timeout. The default, ``"auto"``, is 0
    (right away) for a long-running worker and ``None`` with ``until_empty``, so a
    drain does not take back what it just failed.

    Signal handlers are installed only when ``run()`` is called from the main thread.
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
        heartbeat: bool = True,
        retry_delay: RetryDelay = AUTO,
        stop_check_seconds: int = 1,
    ) -> None:
        if not 0 <= wait_time_seconds <= 20:
            raise ValueError("wait_time_seconds must be between 0 and 20 (the SQS long-poll limit)")
        if not 1 <= max_messages <= MAX_MESSAGES:
            raise ValueError(f"max_messages must be between 1 and {MAX_MESSAGES}")
        _check_seconds("stop_check_seconds", stop_check_seconds, 1, 20)
        if visibility_timeout is not None:
            _check_seconds("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_TIMEOUT)
        if isinstance(retry_delay, str):
            if retry_delay != AUTO:
                _check_seconds("retry_delay", retry_delay, 0, MAX_VISIBILITY_TIMEOUT)  # raises: not seconds
            retry_delay = None if until_empty else 0
        if retry_delay is not None and not callable(retry_delay):
            _check_seconds("retry_delay", retry_delay, 0, MAX_VISIBILITY_TIMEOUT)
        self.consumer = _consumer_instance(consumer)
        self.queue_url = queue_url or self.consumer.get_queue_url()
        self.region = region or rec.queue_region(self.queue_url) or settings.aws_region(DEFAULT_REGION)
        self.queue_arn = rec.queue_arn(self.queue_url, self.region)
        self.wait_time_seconds = wait_time_seconds
        self.stop_check_seconds = stop_check_seconds
        self.visibility_timeout = visibility_timeout
        self.until_empty = until_empty
        self.max_messages = max_messages
        self.handle_signals = handle_signals
        self.max_backoff_seconds = max_backoff_seconds
        self.heartbeat = heartbeat
        self.retry_delay: int | Callable[[int], int] | None = retry_delay
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._queue_visibility: int | None = None  # read once, when the heartbeat needs it
        self._set_visibility_on_receive = visibility_timeout is not None

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
        """One cycle: receive, process, delete the successes, release the failures.

        Returns the number of messages received.
        """
        messages = self._receive()
        if not messages:
            return 0
        records = [rec.record_from_message(m, self.queue_arn, self.region) for m in messages]
        with _Heartbeat(self, records, self._heartbeat_timeout()) as heartbeat:
            result = self.consumer.run_records(records)
            failed = set(result.failures)
            self.stats.received += len(records)
            self.stats.failed += len(failed)
            succeeded = [r for r in records if r["messageId"] not in failed]
            self.stats.succeeded += len(succeeded)
            heartbeat.drop(succeeded)
            self._delete(succeeded)
            failures = [r for r in records if r["messageId"] in failed]
            heartbeat.drop(failures)
            self._release(failures)
        return len(records)

    # --- visibility ---

    def queue_visibility_timeout(self) -> int:
        """The visibility timeout of received messages: the option, else the queue's (read once).

        When the queue's cannot be read (no ``sqs:GetQueueAttributes`` permission),
        the worker sets 30 s (the SQS default) on its receives, so that the
        heartbeat knows the timeout it keeps up.
        """
        if self.visibility_timeout is not None:
            return self.visibility_timeout
        if self._queue_visibility is None:
            from botocore.exceptions import ClientError

            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"]
                )["Attributes"]
                self._queue_visibility = int(attributes["VisibilityTimeout"])
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if is_retryable_error(exc) or "NonExistentQueue" in code or "QueueDoesNotExist" in code:
                    raise
                logger.warning(
                    "cannot read the visibility timeout of %s (%s): receiving with %d s",
                    self.queue_url, exc, FALLBACK_VISIBILITY_TIMEOUT,
                )
                self._queue_visibility = FALLBACK_VISIBILITY_TIMEOUT
                self._set_visibility_on_receive = True
        return self._queue_visibility

    def _heartbeat_timeout(self) -> int | None:
        if not self.heartbeat:
            return None
        timeout = self.queue_visibility_timeout()
        return timeout if timeout > 0 else None  # a 0 s timeout has nothing to keep up

    def _extend(self, held: dict[str, dict[str, Any]], timeout: int) -> list[str]:
        """One heartbeat: extend every held message by ``timeout``; returns the ids not worth retrying."""
        entries = [(record, timeout) for record in held.values()]
        failed = self._change_visibility(entries)
        self.stats.extended += len(entries) - len(failed)
        self.stats.extend_failed += len(failed)
        hopeless = []
        for record in (r for r, _ in entries if r["messageId"] in failed):
            reason, sender_fault = failed[record["messageId"]]
            logger.warning(
                "could not extend the visibility of message %s (%s): it may be delivered again "
                "while it is processed", record["messageId"], reason,
            )
            if sender_fault:  # a stale handle or a timeout past 12 h: retrying cannot help
                hopeless.append(record["messageId"])
        return hopeless

    def _release(self, records: list[dict[str, Any]]) -> None:
        """Make failed messages visible again after ``retry_delay`` instead of their timeout."""
        if self.retry_delay is None or not records:
            return
        entries = []
        for record in records:
            delay = self.retry_delay
            if callable(delay):
                receives = int(record["attributes"].get("ApproximateReceiveCount") or 1)
                try:
                    delay = max(0, min(MAX_VISIBILITY_TIMEOUT, int(delay(receives))))
                except Exception:
                    logger.exception("retry_delay failed for message %s: released now", record["messageId"])
                    delay = 0
            entries.append((record, delay))
        failed = self._change_visibility(entries)
        self.stats.released += len(entries) - len(failed)
        self.stats.release_failed += len(failed)
        for message_id, (reason, _) in failed.items():
            logger.warning(
                "failed message %s was not released (%s): it is redelivered after its visibility timeout",
                message_id, reason,
            )

    def _change_visibility(self, entries: list[tuple[dict[str, Any], int]]) -> dict[str, tuple[str, bool]]:
        """``ChangeMessageVisibilityBatch`` over (record, seconds); the failed ids -> (reason, sender fault)."""
        from botocore.exceptions import BotoCoreError, ClientError

        failed: dict[str, tuple[str, bool]] = {}
        for start in range(0, len(entries), MAX_MESSAGES):
            chunk = entries[start:start + MAX_MESSAGES]
            request = [{"Id": str(i), "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": seconds}
                       for i, (record, seconds) in enumerate(chunk)]
            try:
                response = self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=request)
            except (BotoCoreError, ClientError) as exc:
                for record, _ in chunk:
                    failed[record["messageId"]] = (f"{type(exc).__name__}: {exc}", False)
                continue
            done = {entry["Id"] for entry in response.get("Successful", [])}
            errors = {entry.get("Id"): entry for entry in response.get("Failed", [])}
            for entry in request:
                if entry["Id"] in done:
                    continue
                error = errors.get(entry["Id"], {})
                reason = f"{error.get('Code')}: {error.get('Message')}" if error else "no result for this entry"
                failed[chunk[int(entry["Id"])][0]["messageId"]] = (reason, bool(error.get("SenderFault")))
        return failed

    # --- receive and delete ---

    def _receive(self) -> list[dict[str, Any]]:
        if self.heartbeat:
            self.queue_visibility_timeout()  # before the receive: it may decide the receive's timeout
        params: dict[str, Any] = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": self.max_messages,
            "WaitTimeSeconds": min(self.wait_time_seconds, self.stop_check_seconds),
            "MessageAttributeNames": ["All"],
            _system_attributes_param(self.sqs): ["All"],
        }
        if self._set_visibility_on_receive:
            params["VisibilityTimeout"] = self.queue_visibility_timeout()
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


class _Heartbeat:
    """Keeps the messages of one batch invisible while the worker holds them.

    A daemon thread extends every held message by ``timeout`` each half
    ``timeout``. ``drop`` takes messages out before they are deleted or
    released; it waits for an extension in progress, so no extension races the
    delete of the same message (which would count a spurious failure).
    ``timeout`` None: no thread (heartbeat off).
    """

    def __init__(self, worker: SQSWorker, records: list[dict[str, Any]], timeout: int | None) -> None:
        self._worker = worker
        self._timeout = timeout
        self._held = {record["messageId"]: record for record in records}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self._timeout is not None:
            self._thread = threading.Thread(target=self._beat, name="sqs-visibility-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def drop(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            for record in records:
                self._held.pop(record["messageId"], None)

    def _beat(self) -> None:
        assert self._timeout is not None
        interval = self._timeout / 2
        while not self._done.wait(interval):
            with self._lock:
                if self._done.is_set() or not self._held:
                    continue
                try:
                    hopeless = self._worker._extend(self._held, self._timeout)
                except Exception:  # never let the heartbeat die silently mid-batch
                    logger.exception("visibility heartbeat failed")
                    continue
                for message_id in hopeless:
                    self._held.pop(message_id, None)


def _system_attributes_param(client: Any) -> str:
    """``MessageSystemAttributeNames`` where botocore knows it, else the older ``AttributeNames``."""
    members = client.meta.service_model.operation_model("ReceiveMessage").input_shape.members
    return "MessageSystemAttributeNames" if "MessageSystemAttributeNames" in members else "AttributeNames"


def run_worker(consumer: ConsumerSpec, queue_url: str | None = None, **options: Any) -> WorkerStats:
    """Build an SQSWorker and run it; see SQSWorker for the options."""
    return SQSWorker(consumer, queue_url, **options).run()
