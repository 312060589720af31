"""What the batch senders share: message checks, the send plan, the retry loop (SNS and SQS).

``SNSPublisher`` (``PublishBatch``) and ``SQSPublisher`` (``SendMessageBatch``)
send lists the same way, so both use this one piece:

- ``encode_content`` / ``string_attributes``: a message's ``content`` as JSON
  (Mongo-aware encoder) and its ``attributes`` as String attributes, the current
  constitution-state added unless the message sets it (and, with
  ``PROPAGATE_SESSION=true``, the async framework's ``session`` with that state),
  at most 10, checked before anything is sent;
- ``SendPlan``: which entries go out next, in requests of at most 10 entries and
  a byte budget, every FIFO message group strictly in input order, retries included;
- ``BatchSender``: the loop that sends the plan's requests, up to
  ``max_concurrency`` at a time on the process's send pool, retries what the
  service failed on its side with backoff, and raises a ``BatchSendError``
  (input index -> reason, plus the ids that did go out) for what still failed.

Both services answer a batch the same way (``Successful``/``Failed`` entries with
``Id``, ``MessageId``, ``SenderFault``, ``Code``, ``Message``), so only the
request itself differs per sender.
"""

from __future__ import annotations

import contextvars
import heapq
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, Callable, Union

from .context.pools import ProcessPool
from .context.sources import (
    SESSION_ATTRIBUTE,
    check_given_session,
    session_attribute,
    session_state_from_base64,
    session_to_write,
)
from .context.state import get_state
from .utils.json_encoder import mongo_json_dumps

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

STATE_ATTRIBUTE = "constitution-state"
MAX_BATCH_ENTRIES = 10
MAX_ATTRIBUTES = 10  # SNS delivers at most 10 to SQS; SQS takes at most 10 per message
DEFAULT_MAX_REQUEST_BYTES = 256 * 1024
# Batch requests of one list in flight at once. Why 8: botocore pools 10 connections per client and
# the library shares one client per service and region (and the send pool is one per process), so
# 8 requests stay on reused connections with room for the single sends of other threads; and the
# client's own work per request of 10 entries (serializing, signing, parsing: about 3.6 ms here, on
# one GIL) fills the wait of a 20 ms round trip at about 7 in flight, so more adds connections, not
# speed. (`benchmarks/bench_sns.py --sweep` prints 1, 2, 4, 8 and 16.)
DEFAULT_MAX_CONCURRENCY = 8
MAX_CONCURRENCY = 64

Message = dict[str, Any]
GroupKey = Union[str, int]  # a FIFO MessageGroupId; without FIFO each entry's own index
Results = dict[int, tuple[str, str]]

# what one batch request did with an entry: sent it; failed it alone, retryably; failed the whole
# request retryably (so nothing of it was sent); failed it for good
SENT, RETRY, RESEND, FAILED = "sent", "retry", "resend", "failed"


class BatchSendError(Exception):
    """Some messages of a list were not sent, even after retries.

    ``failed``: input index -> reason; ``message_ids``: input index -> message
    id of each message that was sent. Resend only the failed indexes.
    """

    verb = "sent"

    def __init__(self, target: str, failed: dict[int, str], message_ids: dict[int, str], total: int) -> None:
        self.target = target
        self.failed = dict(sorted(failed.items()))
        self.message_ids = dict(sorted(message_ids.items()))
        self.total = total
        shown = "; ".join(f"[{i}] {reason}" for i, reason in list(self.failed.items())[:10])
        more = f"; and {len(self.failed) - 10} more" if len(self.failed) > 10 else ""
        super().__init__(
            f"{len(self.failed)} of {total} messages were not {self.verb} to {target} "
            f"({len(self.message_ids)} were): {shown}{more}"
        )


# --- message checks (before anything is sent) ---


def check_message_keys(message: Any, allowed: frozenset[str], where: str) -> None:
    """``message`` is a dict of known keys with a ``content``."""
    if not isinstance(message, dict):
        raise TypeError(f"{where}: expected a dict with 'content', got {type(message).__name__}")
    unknown = set(message) - allowed
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    if message.get("content") is None:
        raise ValueError(f"{where}: 'content' is required")


def encode_content(content: Any, where: str) -> str:
    """``content`` as JSON text, Mongo types encoded (ObjectId, datetime, Decimal128...)."""
    try:
        return mongo_json_dumps(content, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: content is not JSON serializable: {exc}") from exc


def utf8_size(text: str, where: str, what: str = "content") -> int:
    """Bytes of ``text`` in UTF-8; a lone surrogate (not encodable, so not sendable) is refused."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: {what} holds a character that is not valid Unicode text ({exc.reason} "
                         f"at {exc.start})") from None


def string_attributes(attributes: Any, where: str, service: str) -> dict[str, str]:
    """``attributes`` as String values, with the current state added, at most ``MAX_ATTRIBUTES``.

    Dicts and lists become JSON, other values ``str()``; None or empty is refused
    (AWS needs a value). ``constitution-state`` is added from the current state
    unless the message sets it, and counts toward the limit; so does the
    ``session`` that ``PROPAGATE_SESSION=true`` adds (see ``_session_attribute``).
    """
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise TypeError(f"{where}: 'attributes' must be a dict of name -> value")
    values: dict[str, str] = {}
    for name, value in attributes.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: attribute names must be non-empty strings, got {name!r}")
        if value is None:
            raise ValueError(f"{where}: attribute {name!r} is None ({service} needs a value)")
        text = value if isinstance(value, str) else (
            mongo_json_dumps(value) if isinstance(value, (dict, list, tuple)) else str(value)
        )
        if text == "":
            raise ValueError(f"{where}: attribute {name!r} is empty ({service} needs a value)")
        values[name] = text
    state = get_state()
    added = [STATE_ATTRIBUTE] if state is not None and STATE_ATTRIBUTE not in values else []
    if added:
        values[STATE_ATTRIBUTE] = state  # type: ignore[assignment]
    added += _session_attribute(values, where)
    if len(values) > MAX_ATTRIBUTES:
        including = (f", including the {' and '.join(added)} attribute{'s' if len(added) > 1 else ''} added "
                     "from the current state") if added else ""
        raise ValueError(
            f"{where}: {len(values)} attributes{including}; {service} takes at most {MAX_ATTRIBUTES}"
        )
    return values


def _session_attribute(values: dict[str, str], where: str) -> list[str]:
    """Add the ``session`` attribute (``PROPAGATE_SESSION``) next to the constitution-state; its name if added.

    It carries the state the message is sent with (its own ``constitution-state``
    or the current one), so both agree. A ``session`` the message sets itself
    (in any letter case, as consumers read it) is sent as given, never replaced,
    whatever ``PROPAGATE_SESSION`` says; it must be readable and name that same
    state, else the message is refused before anything is sent.
    """
    state = values.get(STATE_ATTRIBUTE)
    given = [name for name in values if name.lower() == SESSION_ATTRIBUTE]
    for name in given:
        source = f"{where}: attribute {name!r}"
        check_given_session(session_state_from_base64(values[name], source), source, state,
                            f"its {STATE_ATTRIBUTE} attribute")
    if given:
        return []
    session_state = session_to_write(state)
    if session_state is None:
        return []
    values[SESSION_ATTRIBUTE] = session_attribute(session_state)
    return [SESSION_ATTRIBUTE]


def message_attributes(values: dict[str, str], where: str) -> tuple[dict[str, Any], int]:
    """The ``MessageAttributes`` parameter for String ``values`` and the bytes they count for.

    AWS counts each attribute's name, data type and value toward the message size.
    """
    shaped = {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}
    size = sum(utf8_size(n, where, f"attribute name {n!r}") + len("String")
               + utf8_size(v, where, f"attribute {n!r}") for n, v in values.items())
    return shaped, size


# --- the send plan ---


@dataclass
class Chunk:
    """One batch request: its entries, and which input indexes of each group it carries."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    members: dict[GroupKey, list[int]] = field(default_factory=dict)


class SendPlan:
    """Which entries of one batch send go out next, so every FIFO message group keeps its order.

    Entries wait in one ordered queue per message group (without FIFO each
    entry is a group of its own, so nothing waits for anything). A group is
    *ready* (its head may go out), *in flight* (a request carries its next
    entries), *waiting* (its head failed and waits for the backoff round) or
    *closed* (an entry failed for good: its later entries are reported failed,
    never sent). A request takes a run of consecutive entries from the head of
    each ready group, lowest input index first, so a standard topic or queue is
    chunked and retried in input order.

    SNS and SQS handle the entries of one request in order but answer for each
    on its own: they may fail one and accept the next. So an entry that the
    service failed by itself goes again as the last of its group's run (no later
    entry of the group rides along in case it fails again), and an earlier
    entry failed while a later one of its group was sent is reported, not resent
    out of order. A request rejected whole (throttling) sent nothing, and its
    runs go again as they were.

    Because a group is in at most one request at a time, requests go out
    concurrently (``BatchSender._run``: ``next_chunk`` until None, each
    ``settle`` as its answer comes) without breaking any group's order: on a
    FIFO topic or queue only requests of different groups overlap.
    """

    def __init__(
        self,
        formatted: list[tuple[dict[str, Any], int]],
        *,
        ordered: bool,
        max_attempts: int,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self.formatted = formatted
        self.ordered = ordered
        self.max_attempts = max_attempts
        self.max_request_bytes = max_request_bytes
        self.attempts = [0] * len(formatted)
        self.last_failure: dict[int, str] = {}  # the reason of each entry's latest failed attempt
        self.alone: set[int] = set()  # failed by the service on their own: end their group's run when resent
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

    def next_chunk(self) -> Chunk | None:
        """The next request (at most 10 entries and ``max_request_bytes``), or None while no group is ready."""
        chunk = Chunk()
        size = 0
        following: list[tuple[int, int, GroupKey]] = []  # (index, queue position, group) of groups in the chunk
        while len(chunk.entries) < MAX_BATCH_ENTRIES and (self.ready or following):
            if following and (not self.ready or following[0][0] < self.ready[0][0]):
                index, position, key = following[0]
                from_following = True
            else:
                (index, key), position, from_following = self.ready[0], 0, False
            entry, entry_size = self.formatted[index]
            if chunk.entries and size + entry_size > self.max_request_bytes:
                break  # consecutive entries per request, as the size limit allows
            if from_following:
                heapq.heappop(following)
            else:
                heapq.heappop(self.ready)
            chunk.entries.append(entry)
            chunk.members.setdefault(key, []).append(index)
            self.attempts[index] += 1
            size += entry_size
            queue = self.queues[key]
            if position + 1 < len(queue) and index not in self.alone:
                heapq.heappush(following, (queue[position + 1], position + 1, key))
        # a group in the chunk is in flight until settled; its untaken entries stay in its queue
        return chunk if chunk.entries else None

    def settle(self, chunk: Chunk, results: Results) -> None:
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
                # the service took later entries of the group although this one failed:
                # a resent copy would now arrive after them
                self._close(key, f"{reason}; not retried: later entries of message group {key!r} "
                                 f"went out in the same request ({sent_later[0]}), a retry would arrive "
                                 "out of order")
            elif status == FAILED or self.attempts[head] >= self.max_attempts:
                self._close(key, reason)
            else:
                self.waiting.append(key)
                self.retrying += sum(1 for i in indexes if results[i][0] != SENT)

    def _close(self, key: GroupKey, reason: str) -> None:
        """The head of ``key`` failed for good: it and every later entry not yet sent fail."""
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


# --- the send pool: one per process, shared by every sender and thread ---

# One pool for the process, so all the lists sent at once by many threads together have at
# most the largest ``max_concurrency`` in flight (by default 8, under the connections botocore
# pools per client); a larger bound gets a larger pool (``ProcessPool``).
_SENDS = ProcessPool("aws-helper-sync-send")


def send_pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool for batch requests, with at least ``workers`` threads (created on first use)."""
    return _SENDS.get(workers)


# --- the sender ---


class BatchSender:
    """The send loop of a publisher: one call with retries, or a list through a ``SendPlan``.

    Subclasses name the service (``service``, ``single_operation``,
    ``batch_operation``), format an entry (``format_entry``), make the requests
    (``_single_request``, ``_batch_request``), say ``is_fifo`` and
    ``max_request_bytes``, and name the error (``error_class``).
    ``max_attempts`` (sends per entry) and ``backoff_seconds`` govern the retries
    of entries the service fails on its side or throttles. ``max_concurrency``:
    batch requests of one list in flight at once (1 sends them one after the other).
    """

    service = "AWS"
    single_operation = "send"
    batch_operation = "batch"
    error_class: type[BatchSendError] = BatchSendError
    is_fifo = False
    max_request_bytes = DEFAULT_MAX_REQUEST_BYTES

    def __init__(self, target: str, *, max_attempts: int, backoff_seconds: float,
                 max_backoff_seconds: float, max_concurrency: int = DEFAULT_MAX_CONCURRENCY) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) \
                or not 1 <= max_concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"max_concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, "
                             f"got {max_concurrency!r}")
        self.target = target
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_concurrency = max_concurrency
        self.logger = logging.getLogger(type(self).__name__)

    def format_entry(self, message: Message, index: int = 0) -> tuple[dict[str, Any], int]:
        """The batch request entry for ``message`` (``Id``: its index) and its size in bytes."""
        raise NotImplementedError

    def _single_request(self, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _batch_request(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise NotImplementedError

    def _send(self, message: Message | list[Message], method: str) -> str | list[str]:
        """What ``publish`` / ``send`` do: a dict -> its message id; a list -> the ids in input order.

        Every message of a list is checked and formatted (with the caller's state)
        before anything is sent.
        """
        if isinstance(message, dict):
            return self._send_one(message)
        if isinstance(message, (list, tuple)):
            return self._send_all([self.format_entry(m, index) for index, m in enumerate(message)])
        raise TypeError(f"{method}() takes a message dict or a list of them, got {type(message).__name__}")

    def _send_one(self, message: Message) -> str:
        entry, _ = self.format_entry(message)
        params = {key: value for key, value in entry.items() if key != "Id"}
        response = self._call_with_retries(lambda: self._single_request(params), self.single_operation)
        message_id: str = response["MessageId"]
        self.logger.debug("%s of message %s to %s", self.single_operation, message_id, self.target)
        return message_id

    def _call_with_retries(self, call: Callable[[], dict[str, Any]], what: str) -> dict[str, Any]:
        """``call()``; transient AWS trouble gets ``max_attempts`` tries with backoff, the rest raises."""
        from botocore.exceptions import BotoCoreError, ClientError

        from .aws import is_retryable_error

        for attempt in range(1, self.max_attempts + 1):
            try:
                return call()
            except (BotoCoreError, ClientError) as exc:
                if attempt == self.max_attempts or not is_retryable_error(exc):
                    raise
                self._wait_before_retry(attempt, f"{what} to {self.target} failed ({exc})")
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_all(self, formatted: list[tuple[dict[str, Any], int]]) -> list[str]:
        """Send every formatted entry; the message ids in input order, or ``error_class`` raised."""
        plan = SendPlan(formatted, ordered=self.is_fifo, max_attempts=self.max_attempts,
                        max_request_bytes=self.max_request_bytes)
        # in a send pool thread (a botocore hook that publishes), waiting on the pool could deadlock it
        self._run(plan, 1 if _SENDS.inside() else self.max_concurrency)
        if plan.held_back:
            first = min(plan.held_back)
            self.logger.warning("%d messages were not sent to %s, to keep their message group's order "
                                "(first: [%d] %s)", len(plan.held_back), self.target, first, plan.held_back[first])
        if plan.failed:
            raise self.error_class(self.target, plan.failed, plan.message_ids, len(formatted))
        self.logger.debug("sent %d messages to %s", len(formatted), self.target)
        return [plan.message_ids[index] for index in range(len(formatted))]

    def _run(self, plan: SendPlan, bound: int) -> None:
        """Send the plan's requests, at most ``bound`` at a time, until every entry is sent or failed.

        Only this (the caller's) thread touches the plan: it takes each request the
        plan has ready, hands it to the send pool and settles the answers as they
        come, so the plan's rule (a message group is in one request at a time) is
        what keeps each FIFO group in order. A request that is the only one to send
        goes from this thread (no hand-over). The pool threads run each request in
        a copy of this thread's context (the state). Retries wait for the backoff
        once nothing is in flight. An unexpected error of one request stops new
        ones; it is raised once the requests in flight have been answered.
        """
        answers: SimpleQueue[tuple[Chunk, Results | None, BaseException | None]] = SimpleQueue()
        in_flight = 0
        error: BaseException | None = None
        while True:
            chunk = plan.next_chunk() if error is None and in_flight < bound else None
            if chunk is not None:
                if in_flight == 0 and (bound == 1 or not plan.ready):
                    plan.settle(chunk, self._send_chunk(chunk.entries))
                else:
                    send_pool(bound).submit(self._send_in_pool, chunk, contextvars.copy_context(), answers)
                    in_flight += 1
                continue
            if in_flight:
                chunk, results, failure = answers.get()
                in_flight -= 1
                if results is not None:
                    plan.settle(chunk, results)
                elif error is None:
                    error = failure
                continue
            if error is not None:
                raise error
            attempt, waiting = plan.release_retries()
            if not waiting:
                return
            self._wait_before_retry(attempt, f"{waiting} entries failed on the {self.service} side")

    def _send_in_pool(self, chunk: Chunk, context: contextvars.Context,
                      answers: SimpleQueue[tuple[Chunk, Results | None, BaseException | None]]) -> None:
        """A pool thread: send ``chunk`` in the caller's ``context``, put the answer (or error) on ``answers``."""
        try:
            answers.put((chunk, context.run(self._send_chunk, chunk.entries), None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            answers.put((chunk, None, exc))

    def _wait_before_retry(self, attempt: int, what: str) -> None:
        """Exponential backoff with jitter, so concurrent senders spread out."""
        delay = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        self.logger.warning("%s (attempt %d of %d); retrying in %.2fs", what, attempt, self.max_attempts, delay)
        time.sleep(delay * random.uniform(0.5, 1.0))

    def _send_chunk(self, chunk: list[dict[str, Any]]) -> Results:
        """One batch request: input index -> (SENT, message id) or (RETRY, RESEND or FAILED, reason)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from .aws import is_retryable_error

        try:
            response = self._batch_request(chunk)
        except (BotoCoreError, ClientError) as exc:
            # botocore has retried already, as often as its version and settings say;
            # transient trouble gets the sender's own rounds too, the rest fails now.
            status = RESEND if is_retryable_error(exc) else FAILED
            self.logger.error("%s of %d entries to %s failed: %s", self.batch_operation, len(chunk), self.target, exc)
            return {int(entry["Id"]): (status, f"{type(exc).__name__}: {exc}") for entry in chunk}
        sent = {entry["Id"] for entry in chunk}
        results: Results = {}
        for item in response.get("Successful", []):
            if item["Id"] in sent:
                results.setdefault(int(item["Id"]), (SENT, item["MessageId"]))
        for item in response.get("Failed", []):
            if item["Id"] in sent:
                # SenderFault: the entry itself is wrong, a retry cannot help
                status = FAILED if item.get("SenderFault") else RETRY
                results.setdefault(int(item["Id"]), (status, f"{item.get('Code')}: {item.get('Message')}"))
        missing = f"no result for this entry in the {self.batch_operation} response"
        for entry in chunk:
            results.setdefault(int(entry["Id"]), (RETRY, missing))
        return results
