"""SNSPublisher: publish one message or many to a topic (SPEC §8).

    publisher = SNSPublisher(topic_arn)
    with state_scope("connecticut"):
        publisher.publish({"content": {"parcel": 1}})                  # -> message id
        publisher.publish([{"content": d} for d in docs])              # -> ids, input order

A list goes out as ``PublishBatch`` requests of at most 10 entries and 256 KiB.
Entries that SNS fails on its side are retried with backoff; whatever still
fails raises ``PublishBatchError`` with each failed index and reason and the
ids of the messages that did go out, so the caller can resend exactly those.
On a FIFO topic each message group goes out strictly in input order, retries
included: while an entry of a group waits for its retry no later entry of that
group is sent, and once one fails for good the rest of its group is reported
failed unsent (``_SendPlan``); other groups go on meanwhile.
Every message is checked before anything is sent. The current constitution-state
travels as the ``constitution-state`` attribute (unless the message sets it),
so consumers downstream run in the same state.
"""

from __future__ import annotations

import heapq
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Union

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
GroupKey = Union[str, int]  # a FIFO MessageGroupId; on a standard topic each entry's own index

# what one PublishBatch did with an entry: published it; failed it alone, retryably; failed the whole
# request retryably (so nothing of it was published); failed it for good
SENT, RETRY, RESEND, FAILED = "sent", "retry", "resend", "failed"


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
    us-east-2. ``max_attempts`` (sends per entry) and ``backoff_seconds`` govern
    the retries of entries that SNS fails on its side or throttles. On a FIFO
    topic (ARN ending ``.fifo``) a message group's entries go out strictly in
    input order, retries included; a group whose entry fails for good sends
    none of its later entries (reported failed in ``PublishBatchError``).
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
        formatted = [self.format_entry(message, index) for index, message in enumerate(messages)]
        plan = _SendPlan(formatted, ordered=self.is_fifo, max_attempts=self.max_attempts)
        while True:
            chunk = plan.next_chunk()
            if chunk is None:
                attempt, waiting = plan.release_retries()
                if not waiting:
                    break
                self._wait_before_retry(attempt, f"{waiting} entries failed on the SNS side")
                continue
            plan.settle(chunk, self._send_chunk(chunk.entries))
        if plan.held_back:
            first = min(plan.held_back)
            self.logger.warning("%d messages were not sent to %s, to keep their message group's order "
                                "(first: [%d] %s)", len(plan.held_back), self.topic_arn, first, plan.held_back[first])
        if plan.failed:
            raise PublishBatchError(self.topic_arn, plan.failed, plan.message_ids, len(messages))
        self.logger.debug("published %d messages to %s", len(messages), self.topic_arn)
        return [plan.message_ids[index] for index in range(len(messages))]

    def _wait_before_retry(self, attempt: int, what: str) -> None:
        """Exponential backoff with jitter, so concurrent publishers spread out."""
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        self.logger.warning("%s (attempt %d of %d); retrying in %.2fs", what, attempt, self.max_attempts, delay)
        time.sleep(delay * random.uniform(0.5, 1.0))

    def _send_chunk(self, chunk: list[dict[str, Any]]) -> dict[int, tuple[str, str]]:
        """One PublishBatch: input index -> (SENT, message id) or (RETRY, RESEND or FAILED, reason)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.sns_client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=chunk)
        except (BotoCoreError, ClientError) as exc:
            # botocore has retried already, as often as its version and settings say;
            # transient trouble gets the publisher's own rounds too, the rest fails now.
            status = RESEND if is_retryable_error(exc) else FAILED
            self.logger.error("PublishBatch of %d entries to %s failed: %s", len(chunk), self.topic_arn, exc)
            return {int(entry["Id"]): (status, f"{type(exc).__name__}: {exc}") for entry in chunk}
        sent = {entry["Id"] for entry in chunk}
        results: dict[int, tuple[str, str]] = {}
        for item in response.get("Successful", []):
            if item["Id"] in sent:
                results.setdefault(int(item["Id"]), (SENT, item["MessageId"]))
        for item in response.get("Failed", []):
            if item["Id"] in sent:
                # SenderFault: the entry itself is wrong, a retry cannot help
                status = FAILED if item.get("SenderFault") else RETRY
                results.setdefault(int(item["Id"]), (status, f"{item.get('Code')}: {item.get('Message')}"))
        for entry in chunk:
            results.setdefault(int(entry["Id"]), (RETRY, "no result for this entry in the PublishBatch response"))
        return results


@dataclass
class _Chunk:
    """One PublishBatch request: its entries, and which input indexes of each group it carries."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    members: dict[GroupKey, list[int]] = field(default_factory=dict)


class _SendPlan:
    """Which entries of one ``publish(list)`` go out next, so every FIFO message group keeps its order.

    Entries wait in one ordered queue per message group (on a standard topic each
    entry is a group of its own, so nothing waits for anything). A group is
    *ready* (its head may go out), *in flight* (a request carries its next
    entries), *waiting* (its head failed and waits for the backoff round) or
    *closed* (an entry failed for good: its later entries are reported failed,
    never sent). A request takes a run of consecutive entries from the head of
    each ready group, lowest input index first, so a standard topic is chunked
    and retried exactly as before.

    SNS publishes the entries of one request in order but answers for each on
    its own: it may fail one and publish the next. So an entry that SNS failed
    by itself goes again as the last of its group's run (no later entry of the
    group rides along in case it fails again), and an earlier entry failed
    while a later one of its group was published is reported, not resent out
    of order. A request rejected whole (throttling) published nothing, and its
    runs go again as they were.

    Because a group is in at most one request at a time, requests could go out
    concurrently (``next_chunk`` until None, each ``settle`` as its answer
    comes) without breaking any group's order.
    """

    def __init__(self, formatted: list[tuple[dict[str, Any], int]], *, ordered: bool, max_attempts: int) -> None:
        self.formatted = formatted
        self.ordered = ordered
        self.max_attempts = max_attempts
        self.attempts = [0] * len(formatted)
        self.last_failure: dict[int, str] = {}  # the reason of each entry's latest failed attempt
        self.alone: set[int] = set()  # failed by SNS on their own: end their group's run when resent
        self.message_ids: dict[int, str] = {}
        self.failed: dict[int, str] = {}
        self.held_back: dict[int, str] = {}  # failed without ever being sent (a subset of failed)
        self.queues: dict[GroupKey, deque[int]] = {}
        for index, (entry, _) in enumerate(formatted):
            key: GroupKey = entry["MessageGroupId"] if ordered else index
            self.queues.setdefault(key, deque()).append(index)
        self.ready: list[tuple[int, GroupKey]] = [(queue[0], key) for key, queue in self.queues.items()]
        heapq.heapify(self.ready)
        self.waiting: list[GroupKey] = []
        self.retrying = 0  # entries of the waiting groups that failed retryably

    def next_chunk(self) -> _Chunk | None:
        """The next request (at most 10 entries and 256 KiB), or None while no group is ready."""
        chunk = _Chunk()
        size = 0
        following: list[tuple[int, int, GroupKey]] = []  # (index, queue position, group) of groups in the chunk
        while len(chunk.entries) < MAX_BATCH_ENTRIES and (self.ready or following):
            if following and (not self.ready or following[0][0] < self.ready[0][0]):
                index, position, key = following[0]
                source = following
            else:
                (index, key), position, source = self.ready[0], 0, self.ready
            entry, entry_size = self.formatted[index]
            if chunk.entries and size + entry_size > MAX_PAYLOAD_BYTES:
                break  # consecutive entries per request, as SNS's size limit allows
            heapq.heappop(source)
            chunk.entries.append(entry)
            chunk.members.setdefault(key, []).append(index)
            self.attempts[index] += 1
            size += entry_size
            queue = self.queues[key]
            if position + 1 < len(queue) and index not in self.alone:
                heapq.heappush(following, (queue[position + 1], position + 1, key))
        # a group in the chunk is in flight until settled; its untaken entries stay in its queue
        return chunk if chunk.entries else None

    def settle(self, chunk: _Chunk, results: dict[int, tuple[str, str]]) -> None:
        """Take in the answer to ``chunk``: each group it carried becomes ready, waiting, closed or done."""
        for index, (status, value) in results.items():
            if status == SENT:
                self.message_ids[index] = value
                self.last_failure.pop(index, None)
            else:
                self.last_failure[index] = value
                if status == RETRY:
                    self.alone.add(index)
        for key, indexes in chunk.members.items():
            queue = self.queues[key]
            while queue and queue[0] in self.message_ids:
                queue.popleft()
            if not queue:
                continue
            head = queue[0]
            if head not in results:  # the whole run went out; the rest of the group is next
                heapq.heappush(self.ready, (head, key))
                continue
            status, reason = results[head]
            sent_later = [i for i in indexes if i > head and results[i][0] == SENT]
            if sent_later:
                # SNS published later entries of the group although this one failed:
                # a resent copy would now arrive after them
                self._close(key, f"{reason}; not retried: SNS published later entries of message group "
                                 f"{key!r} from the same request ({sent_later[0]}), a retry would arrive "
                                 "out of order")
            elif status == FAILED or self.attempts[head] >= self.max_attempts:
                self._close(key, reason)
            else:
                self.waiting.append(key)
                self.retrying += sum(1 for i in indexes if results[i][0] != SENT)

    def _close(self, key: GroupKey, reason: str) -> None:
        """The head of ``key`` failed for good: it and every later entry not yet published fail."""
        queue = self.queues[key]
        first = queue.popleft()
        self.failed[first] = reason
        because = f"an earlier entry ({first}) of message group {key!r} failed"
        for index in queue:
            if index in self.message_ids:
                continue
            if index in self.last_failure:
                self.failed[index] = f"{self.last_failure[index]}; not retried: {because}"
            else:
                self.failed[index] = self.held_back[index] = f"not sent: {because}"
        queue.clear()

    def release_retries(self) -> tuple[int, int]:
        """Make the waiting groups ready again: (highest attempt of their heads, entries that failed)."""
        if not self.waiting:
            return 0, 0
        heads = [self.queues[key][0] for key in self.waiting]
        for key in self.waiting:
            heapq.heappush(self.ready, (self.queues[key][0], key))
        retrying, self.waiting, self.retrying = self.retrying, [], 0
        return max(self.attempts[index] for index in heads), retrying
