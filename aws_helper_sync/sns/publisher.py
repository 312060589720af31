"""SNSPublisher: publish one message or many to a topic (SPEC §8).

    publisher = SNSPublisher(topic_arn)
    with state_scope("connecticut"):
        publisher.publish({"content": {"parcel": 1}})                  # -> message id
        publisher.publish([{"content": d} for d in docs])              # -> ids, input order

A list goes out as ``PublishBatch`` requests of at most 10 entries and 256 KiB,
up to ``max_concurrency`` (default 8) of them in flight at once.
Entries that SNS fails on its side are retried with backoff; whatever still
fails raises ``PublishBatchError`` with each failed index and reason and the
ids of the messages that did go out, so the caller can resend exactly those.
On a FIFO topic each message group goes out strictly in input order, retries
included: while an entry of a group waits for its retry no later entry of that
group is sent, and once one fails for good the rest of its group is reported
failed unsent; other groups go on meanwhile. The chunking, the order per group
and the retries are the ``batching`` module's, shared with ``SQSPublisher``.
Every message is checked before anything is sent. The current constitution-state
travels as the ``constitution-state`` attribute (unless the message sets it),
so consumers downstream run in the same state; with ``PROPAGATE_SESSION=true``
also as the async framework's ``session`` attribute (base64 of ``{"state": ...}``),
for its 0.33+ consumers on the same topic.
"""

from __future__ import annotations

from typing import Any

from .. import settings
from ..aws import DEFAULT_REGION, aws_client
from ..batching import (  # noqa: F401 - FAILED ... STATE_ATTRIBUTE: still importable from here
    DEFAULT_MAX_CONCURRENCY,
    FAILED,
    MAX_ATTRIBUTES,
    MAX_BATCH_ENTRIES,
    RESEND,
    RETRY,
    SENT,
    STATE_ATTRIBUTE,
    BatchSender,
    BatchSendError,
    Message,
    check_message_keys,
    encode_content,
    message_attributes,
    string_attributes,
    utf8_size,
)
from ..batching import Chunk as _Chunk  # noqa: F401 - the names the send plan had here
from ..batching import SendPlan as _SendPlan  # noqa: F401

__all__ = ["PublishBatchError", "SNSPublisher"]

MAX_PAYLOAD_BYTES = 256 * 1024  # per message, and per PublishBatch request
MESSAGE_KEYS = frozenset({"content", "attributes", "subject", "group_id", "deduplication_id"})


class PublishBatchError(BatchSendError):
    """Some messages of a list were not published, even after retries.

    ``failed``: input index -> reason; ``message_ids``: input index -> message
    id of each message that was published. Resend only the failed indexes.
    """

    verb = "published"

    def __init__(self, topic_arn: str, failed: dict[int, str], message_ids: dict[int, str], total: int) -> None:
        super().__init__(topic_arn, failed, message_ids, total)
        self.topic_arn = topic_arn


class SNSPublisher(BatchSender):
    """Publishes to one SNS topic; thread-safe, one instance can serve every thread.

    ``region``: the argument, else ``AWS_REGION``, ``AWS_DEFAULT_REGION``, else
    us-east-2. ``max_attempts`` (sends per entry) and ``backoff_seconds`` govern
    the retries of entries that SNS fails on its side or throttles.
    ``max_concurrency`` (default 8): PublishBatch requests of one list in flight
    at once, on the process's send pool (1: one after the other). On a FIFO
    topic (ARN ending ``.fifo``) a message group's entries go out strictly in
    input order, retries included (a group is in one request at a time, so only
    requests of different groups overlap); a group whose entry fails for good
    sends none of its later entries (reported failed in ``PublishBatchError``).
    """

    service = "SNS"
    single_operation = "Publish"
    batch_operation = "PublishBatch"
    error_class = PublishBatchError
    max_request_bytes = MAX_PAYLOAD_BYTES

    def __init__(
        self,
        topic_arn: str,
        region: str | None = None,
        *,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if not topic_arn or not isinstance(topic_arn, str):
            raise ValueError(f"{type(self).__name__}: topic_arn is required (the ARN of the SNS topic)")
        super().__init__(topic_arn, max_attempts=max_attempts, backoff_seconds=backoff_seconds,
                         max_backoff_seconds=max_backoff_seconds, max_concurrency=max_concurrency)
        self.topic_arn = topic_arn
        self.region = region or settings.aws_region(DEFAULT_REGION)
        self.is_fifo = topic_arn.endswith(".fifo")

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
        return self._send(message, "publish")

    def format_entry(self, message: Message, index: int = 0) -> tuple[dict[str, Any], int]:
        """The ``PublishBatchRequestEntries`` entry for ``message`` and its size in bytes."""
        where = f"message {index}"
        check_message_keys(message, MESSAGE_KEYS, where)
        body = encode_content(message["content"], where)
        entry: dict[str, Any] = {"Id": str(index), "Message": body}
        size = utf8_size(body, where)

        attributes = string_attributes(message.get("attributes"), where, self.service)
        if attributes:
            entry["MessageAttributes"], attributes_size = message_attributes(attributes, where)
            size += attributes_size
        subject = message.get("subject")
        if subject is not None:
            entry["Subject"] = str(subject)
            size += utf8_size(entry["Subject"], where, "subject")
        if message.get("group_id") is not None:
            entry["MessageGroupId"] = str(message["group_id"])
        elif self.is_fifo:
            raise ValueError(f"{where}: 'group_id' is required for the FIFO topic {self.topic_arn}")
        if message.get("deduplication_id") is not None:
            entry["MessageDeduplicationId"] = str(message["deduplication_id"])
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"{where}: {size} bytes with its attributes, over the SNS limit of 256 KiB")
        return entry, size

    def _single_request(self, params: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.sns_client.publish(TopicArn=self.topic_arn, **params)
        return response

    def _batch_request(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = self.sns_client.publish_batch(
            TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        return response
