"""SQSPublisher: send one message or many straight to a queue, with the state (SPEC §13).

    publisher = SQSPublisher(queue_url)
    with state_scope("connecticut"):
        publisher.send({"content": {"parcel": 1}})                     # -> message id
        publisher.send([{"content": d} for d in docs])                 # -> ids, input order

The SNS publisher's sibling for queues without a topic in front: a list goes out
as ``SendMessageBatch`` requests of at most 10 entries and 256 KiB in total
(up to ``max_concurrency``, default 8, in flight at once),
entries that SQS fails on its side are retried with backoff, and what still
fails raises ``SendMessageBatchError`` (each failed index and reason, and the
ids of the messages that went out). On a FIFO queue (URL ending ``.fifo``) each
message group goes out strictly in input order, retries included. The chunking,
the order per group and the retries are the ``batching`` module's, shared with
``SNSPublisher``. The current constitution-state travels as the
``constitution-state`` String message attribute (unless the message sets it),
which is where ``sqs_handler`` and the worker read it; with
``PROPAGATE_SESSION=true`` also as the ``session`` attribute (base64 of
``{"state": ...}``) that the async framework's 0.33+ consumers read.

A message: ``content`` (JSON with the Mongo-aware encoder), optional
``attributes`` (String values, at most 10 with the state), ``delay_seconds``
(0-900, standard queues only: FIFO queues take the delay of the queue), and
``group_id`` (required on FIFO queues) / ``deduplication_id``.
"""

from __future__ import annotations

import re
from typing import Any

from .. import settings
from ..aws import DEFAULT_REGION, aws_client
from ..batching import (
    DEFAULT_MAX_CONCURRENCY,
    BatchSender,
    BatchSendError,
    Message,
    check_message_keys,
    encode_content,
    message_attributes,
    string_attributes,
    utf8_size,
)
from ..utils.json_encoder import mongo_json_dumps
from . import records

# The message size limit: 256 KiB per message and per SendMessageBatch request
# (the sum of its messages), attributes included, is what every queue takes.
# Since August 2025 SQS accepts up to 1 MiB (1,048,576 bytes) for both, on
# queues whose MaximumMessageSize allows it ("Amazon SQS increases maximum
# message payload size to 1 MiB";
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api-actions.html:
# "the total size of all messages sent in a single SendMessageBatch call can't
# exceed 1,048,576 bytes"): pass max_message_bytes=1_048_576 for such a queue.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024
SQS_MAX_MESSAGE_BYTES = 1024 * 1024
MAX_DELAY_SECONDS = 900
MESSAGE_KEYS = frozenset({"content", "attributes", "group_id", "deduplication_id", "delay_seconds"})

# the characters SQS accepts in a body or String attribute value (the XML 1.0 set)
_INVALID_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# MessageGroupId / MessageDeduplicationId: 1-128 of alphanumerics and punctuation
_FIFO_ID = re.compile(r"[!-~]{1,128}\Z")
# message attribute names: letters, digits, _ - . (no leading/trailing/double period), not AWS./Amazon.
_ATTRIBUTE_NAME = re.compile(r"(?!\.)(?!.*\.\.)[A-Za-z0-9_.\-]{1,256}(?<!\.)\Z")


class SendMessageBatchError(BatchSendError):
    """Some messages of a list were not sent to the queue, even after retries.

    ``failed``: input index -> reason; ``message_ids``: input index -> message
    id of each message that was sent. Resend only the failed indexes.
    """

    def __init__(self, queue_url: str, failed: dict[int, str], message_ids: dict[int, str], total: int) -> None:
        super().__init__(queue_url, failed, message_ids, total)
        self.queue_url = queue_url


class SQSPublisher(BatchSender):
    """Sends to one SQS queue; thread-safe, one instance can serve every thread.

    ``region``: the argument, else the region in the queue URL, else
    ``AWS_REGION``/``AWS_DEFAULT_REGION``, else us-east-2. ``max_message_bytes``:
    the size limit per message and per batch request (default 256 KiB, see
    ``SQS_MAX_MESSAGE_BYTES`` for queues that take 1 MiB). ``max_attempts`` and
    ``backoff_seconds`` govern the retries of entries SQS fails on its side.
    ``max_concurrency`` (default 8): SendMessageBatch requests of one list in
    flight at once (1: one after the other); on a FIFO queue only requests of
    different message groups overlap.
    """

    service = "SQS"
    single_operation = "SendMessage"
    batch_operation = "SendMessageBatch"
    error_class = SendMessageBatchError

    def __init__(
        self,
        queue_url: str,
        region: str | None = None,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if not queue_url or not isinstance(queue_url, str):
            raise ValueError(f"{type(self).__name__}: queue_url is required (the URL of the SQS queue)")
        if not 1024 <= max_message_bytes <= SQS_MAX_MESSAGE_BYTES:
            raise ValueError(f"max_message_bytes must be between 1024 and {SQS_MAX_MESSAGE_BYTES} (the SQS limit)")
        super().__init__(queue_url, max_attempts=max_attempts, backoff_seconds=backoff_seconds,
                         max_backoff_seconds=max_backoff_seconds, max_concurrency=max_concurrency)
        self.queue_url = queue_url
        self.region = region or records.queue_region(queue_url) or settings.aws_region(DEFAULT_REGION)
        self.is_fifo = queue_url.rstrip("/").endswith(".fifo")
        self.max_message_bytes = self.max_request_bytes = max_message_bytes

    @property
    def sqs_client(self) -> Any:
        """The shared, cached boto3 SQS client for this region (AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL)."""
        return aws_client("sqs", self.region)

    def send(self, message: Message | list[Message]) -> str | list[str]:
        """A dict -> one ``SendMessage``, returns its message id; a list -> ids in input order.

        Raises ValueError or TypeError (nothing sent) when a message is
        malformed, and SendMessageBatchError when some messages of a list could
        not be sent.
        """
        return self._send(message, "send")

    def format_entry(self, message: Message, index: int = 0) -> tuple[dict[str, Any], int]:
        """The ``SendMessageBatchRequestEntry`` for ``message`` and its size in bytes."""
        where = f"message {index}"
        check_message_keys(message, MESSAGE_KEYS, where)
        body = encode_content(message["content"], where)
        if _INVALID_CHARACTER.search(body):
            # SQS refuses some characters (U+FFFE, lone surrogates...): JSON can carry them escaped
            body = mongo_json_dumps(message["content"], ensure_ascii=True)
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
        size = utf8_size(body, where)

        attributes = string_attributes(message.get("attributes"), where, self.service)
        for name, value in attributes.items():
            if not _ATTRIBUTE_NAME.match(name) or name.lower().startswith(("aws.", "amazon.")):
                raise ValueError(f"{where}: {name!r} is not a valid SQS attribute name (letters, digits, _ - .; "
                                 "no leading, trailing or double period; not AWS. or Amazon.)")
            bad = _INVALID_CHARACTER.search(value)
            if bad:
                raise ValueError(f"{where}: attribute {name!r} holds {bad.group()!r}, which SQS does not accept")
        if attributes:
            entry["MessageAttributes"], attributes_size = message_attributes(attributes, where)
            size += attributes_size

        delay = message.get("delay_seconds")
        if delay is not None:
            if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_SECONDS:
                raise ValueError(f"{where}: delay_seconds must be a whole number from 0 to {MAX_DELAY_SECONDS}, "
                                 f"got {delay!r}")
            if self.is_fifo:
                raise ValueError(f"{where}: delay_seconds is not allowed per message on the FIFO queue "
                                 f"{self.queue_url} (set the queue's DelaySeconds)")
            entry["DelaySeconds"] = delay
        for key, parameter in (("group_id", "MessageGroupId"), ("deduplication_id", "MessageDeduplicationId")):
            given = message.get(key)
            if given is None:
                continue
            text = str(given)
            if not _FIFO_ID.match(text):
                raise ValueError(f"{where}: {key} must be 1-128 letters, digits or punctuation, got {text!r}")
            entry[parameter] = text
        if self.is_fifo and "MessageGroupId" not in entry:
            raise ValueError(f"{where}: 'group_id' is required for the FIFO queue {self.queue_url}")
        if not self.is_fifo and "MessageDeduplicationId" in entry:
            raise ValueError(f"{where}: deduplication_id applies to FIFO queues only, not {self.queue_url}")
        if size > self.max_message_bytes:
            raise ValueError(f"{where}: {size} bytes with its attributes, over the limit of "
                             f"{self.max_message_bytes} bytes ({self.max_message_bytes // 1024} KiB)")
        return entry, size

    def _single_request(self, params: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = self.sqs_client.send_message(QueueUrl=self.queue_url, **params)
        return response

    def _batch_request(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        response: dict[str, Any] = self.sqs_client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return response
