"""SNSPublisher: publish one message or many to a topic (SPEC §8).

    publisher = SNSPublisher(topic_arn)
    with state_scope("connecticut"):
        publisher.publish({"content": {"parcel": 1}})                  # -> message id
        publisher.publish([{"content": d} for d in docs])              # -> ids, input order

A list goes out as ``PublishBatch`` requests of at most 10 entries and 256 KiB.
Entries that SNS fails on its side are retried with backoff; whatever still
fails raises ``PublishBatchError`` with each failed index and reason and the
ids of the messages that did go out, so the caller can resend exactly those.
Every message is checked before anything is sent. The current constitution-state
travels as the ``constitution-state`` attribute (unless the message sets it),
so consumers downstream run in the same state.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from .. import settings
from ..aws import DEFAULT_REGION, aws_client, is_retryable_error
from ..context.state import get_state
from ..utils.json_encoder import mongo_json_dumps

STATE_ATTRIBUTE = "constitution-state"
MAX_BATCH_ENTRIES = 10
MAX_PAYLOAD_BYTES = 256 * 1024  # per message, and per PublishBatch request
MAX_ATTRIBUTES = 10
MESSAGE_KEYS = frozenset({"content", "attributes", "subject", "group_id", "deduplication_id"})

Message = dict[str, Any]


class PublishBatchError(Exception):
    """Some messages of a list were not published, even after retries.

    ``failed``: input index -> reason; ``message_ids``: input index -> message
    id of each message that was published. Resend only the failed indexes.
    """

    def __init__(self, topic_arn: str, failed: dict[int, str], message_ids: dict[int, str], total: int) -> None:
        self.topic_arn = topic_arn
        self.failed = dict(sorted(failed.items()))
        self.message_ids = dict(sorted(message_ids.items()))
        self.total = total
        shown = "; ".join(f"[{i}] {reason}" for i, reason in list(self.failed.items())[:10])
        more = f"; and {len(self.failed) - 10} more" if len(self.failed) > 10 else ""
        super().__init__(
            f"{len(self.failed)} of {total} messages were not published to {topic_arn} "
            f"({len(self.message_ids)} were): {shown}{more}"
        )


class SNSPublisher:
    """Publishes to one SNS topic; thread-safe, one instance can serve every thread.

    ``region``: the argument, else ``AWS_REGION``, ``AWS_DEFAULT_REGION``, else
    us-east-2. ``max_attempts`` and ``backoff_seconds`` govern the retries of
    entries that a ``PublishBatch`` response reports failed on the SNS side.
    """

    def __init__(
        self,
        topic_arn: str,
        region: str | None = None,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        if not topic_arn or not isinstance(topic_arn, str):
            raise ValueError(f"{type(self).__name__}: topic_arn is required (the ARN of the SNS topic)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.topic_arn = topic_arn
        self.region = region or settings.aws_region(DEFAULT_REGION)
        self.is_fifo = topic_arn.endswith(".fifo")
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.logger = logging.getLogger(type(self).__name__)

    @property
    def sns_client(self) -> Any:
        """The shared, cached boto3 SNS client for this region (honours AWS_ENDPOINT_URL)."""
        return aws_client("sns", self.region)

    def publish(self, message: Message | list[Message]) -> str | list[str]:
        """A dict -> one ``Publish``, returns its message id; a list -> ids in input order.

        Raises ValueError or TypeError (nothing sent) when a message is
        malformed, and PublishBatchError when some messages of a list could
        not be published.
        """
        if isinstance(message, dict):
            return self._publish_one(message)
        if isinstance(message, (list, tuple)):
            return self._publish_many(list(message))
        raise TypeError(f"publish() takes a message dict or a list of them, got {type(message).__name__}")

    # --- formatting (checked before sending) ---

    def format_entry(self, message: Message, index: int = 0) -> tuple[dict[str, Any], int]:
        """The ``PublishBatchRequestEntries`` entry for ``message`` and its size in bytes."""
        where = f"message {index}"
        if not isinstance(message, dict):
            raise TypeError(f"{where}: expected a dict with 'content', got {type(message).__name__}")
        unknown = set(message) - MESSAGE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(MESSAGE_KEYS)}")
        if message.get("content") is None:
            raise ValueError(f"{where}: 'content' is required")
        try:
            body = mongo_json_dumps(message["content"], ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: content is not JSON serializable: {exc}") from exc
        entry: dict[str, Any] = {"Id": str(index), "Message": body}
        size = len(body.encode("utf-8"))

        attributes = self._attributes(message.get("attributes"), where)
        if attributes:
            entry["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            }
            size += sum(len(n.encode("utf-8")) + len("String") + len(v.encode("utf-8")) for n, v in attributes.items())
        subject = message.get("subject")
        if subject is not None:
            entry["Subject"] = str(subject)
            size += len(entry["Subject"].encode("utf-8"))
        if message.get("group_id") is not None:
            entry["MessageGroupId"] = str(message["group_id"])
        elif self.is_fifo:
            raise ValueError(f"{where}: 'group_id' is required for the FIFO topic {self.topic_arn}")
        if message.get("deduplication_id") is not None:
            entry["MessageDeduplicationId"] = str(message["deduplication_id"])
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"{where}: {size} bytes with its attributes, over the SNS limit of 256 KiB")
        return entry, size

    def _attributes(self, attributes: Any, where: str) -> dict[str, str]:
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, dict):
            raise TypeError(f"{where}: 'attributes' must be a dict of name -> value")
        values: dict[str, str] = {}
        for name, value in attributes.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"{where}: attribute names must be non-empty strings, got {name!r}")
            if value is None:
                raise ValueError(f"{where}: attribute {name!r} is None (SNS needs a value)")
            text = value if isinstance(value, str) else (
                mongo_json_dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
            )
            if text == "":
                raise ValueError(f"{where}: attribute {name!r} is empty (SNS needs a value)")
            values[name] = text
        state = get_state()
        added = state is not None and STATE_ATTRIBUTE not in values
        if added:
            values[STATE_ATTRIBUTE] = state  # type: ignore[assignment]
        if len(values) > MAX_ATTRIBUTES:
            including = f", including the {STATE_ATTRIBUTE} attribute added from the current state" if added else ""
            raise ValueError(
                f"{where}: {len(values)} attributes{including}; SNS delivers at most {MAX_ATTRIBUTES}"
            )
        return values

    # --- sending ---

    def _publish_one(self, message: Message) -> str:
        entry, _ = self.format_entry(message)
        params = {key: value for key, value in entry.items() if key != "Id"}
        from botocore.exceptions import BotoCoreError, ClientError

        for attempt in range(1, self.max_attempts + 1):
            try:
                response = self.sns_client.publish(TopicArn=self.topic_arn, **params)
                break
            except (BotoCoreError, ClientError) as exc:
                if attempt == self.max_attempts or not is_retryable_error(exc):
                    raise
                self._wait_before_retry(attempt, f"Publish to {self.topic_arn} failed ({exc})")
        message_id = response["MessageId"]
        self.logger.debug("published message %s to %s", message_id, self.topic_arn)
        return message_id

    def _publish_many(self, messages: list[Message]) -> list[str]:
        pending = [self.format_entry(message, index) for index, message in enumerate(messages)]
        message_ids: dict[int, str] = {}
        failed: dict[int, str] = {}
        for attempt in range(1, self.max_attempts + 1):
            retry: dict[int, str] = {}
            for chunk in _chunks(pending):
                self._send_chunk(chunk, message_ids, failed, retry)
            if not retry:
                break
            if attempt == self.max_attempts:
                failed.update(retry)
                break
            self._wait_before_retry(attempt, f"{len(retry)} entries failed on the SNS side")
            pending = [item for item in pending if int(item[0]["Id"]) in retry]
        if failed:
            raise PublishBatchError(self.topic_arn, failed, message_ids, len(messages))
        self.logger.debug("published %d messages to %s", len(messages), self.topic_arn)
        return [message_ids[index] for index in range(len(messages))]

    def _wait_before_retry(self, attempt: int, what: str) -> None:
        """Exponential backoff with jitter, so concurrent publishers spread out."""
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        self.logger.warning("%s (attempt %d of %d); retrying in %.2fs", what, attempt, self.max_attempts, delay)
        time.sleep(delay * random.uniform(0.5, 1.0))

    def _send_chunk(
        self,
        chunk: list[dict[str, Any]],
        message_ids: dict[int, str],
        failed: dict[int, str],
        retry: dict[int, str],
    ) -> None:
        """One PublishBatch: ids of the sent entries, reasons of the failed or retryable ones."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.sns_client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=chunk)
        except (BotoCoreError, ClientError) as exc:
            # botocore has retried already, as often as its version and settings say;
            # transient trouble gets the publisher's own rounds too, the rest fails now.
            target = retry if is_retryable_error(exc) else failed
            self.logger.error("PublishBatch of %d entries to %s failed: %s", len(chunk), self.topic_arn, exc)
            for entry in chunk:
                target[int(entry["Id"])] = f"{type(exc).__name__}: {exc}"
            return
        unanswered = {int(entry["Id"]) for entry in chunk}
        for item in response.get("Successful", []):
            index = int(item["Id"])
            if index in unanswered:
                message_ids[index] = item["MessageId"]
                unanswered.discard(index)
        for item in response.get("Failed", []):
            index = int(item["Id"])
            if index not in unanswered:
                continue
            unanswered.discard(index)
            reason = f"{item.get('Code')}: {item.get('Message')}"
            if item.get("SenderFault"):
                failed[index] = reason  # the entry itself is wrong: a retry cannot help
            else:
                retry[index] = reason
        for index in unanswered:
            retry[index] = "no result for this entry in the PublishBatch response"


def _chunks(formatted: list[tuple[dict[str, Any], int]]) -> list[list[dict[str, Any]]]:
    """Consecutive ``(entry, size)`` grouped by at most 10 entries and 256 KiB per request."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    current_size = 0
    for entry, size in formatted:
        if current and (len(current) == MAX_BATCH_ENTRIES or current_size + size > MAX_PAYLOAD_BYTES):
            chunks.append(current)
            current, current_size = [], 0
        current.append(entry)
        current_size += size
    if current:
        chunks.append(current)
    return chunks
