"""SQSConsumer: the base class of SQS consumers and the lifecycle of one batch.

Subclasses fill hooks; the base decides how records run, so that the Lambda
handler and the long-polling worker behave the same:

    class LandRecordsConsumer(SQSConsumer):          # single mode
        def process_record(self, record):
            LandRecords().collection.insert_one(self.parse_body(record))

    class IndexConsumer(SQSConsumer):                # batch mode
        processing_mode = "batch"
        def process_batch(self, records):            # one call per state group
            for record in records:
                if not ok(record):
                    self.add_message_failed(record["messageId"], "not indexable")

Every record (single mode) and every state group (batch mode) runs through
``run_unit`` in its own context with exactly its own state, so nothing leaks
from one to the next. Groups of a batch run concurrently on a thread pool and
share this instance, so per-group bookkeeping lives in a per-unit collector
(found through a ContextVar), never in attributes of ``self``.

What a batch can rely on (SPEC §7): a record that cannot be read (its state,
body or envelope) fails alone; on FIFO queues a message group's records after
its first failure are never handed to the consumer (``BatchRecords``) and are
reported failed; under Lambda, work not started when the deadline is near is
reported failed instead of being cut off by the timeout.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from functools import cached_property, partial
from itertools import repeat
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

from .. import settings
from .._lazy import deferred
from ..context.sources import (
    TENANT_ID_SOURCE,
    ConflictingStateSourcesError,
    Found,
    MalformedSessionError,
    first_agreeing,
    tenant_id,
)
from ..context.state import InvalidStateError, _state
from ..context.units import run_in_validated_unit_context
from ..entrypoint import EntryPoint, known_state
from ..errors import ConfigurationError, StateRegistryUnavailableError
from ..loading import check_sync_hooks, hook_result
from . import records as rec
from .records import SQS_EVENT_SOURCE, STATE_ATTRIBUTE

if TYPE_CHECKING:
    import logging

    from ..context.threads import run_all
else:  # not at cold start: logging on first use; context.threads imports concurrent.futures
    logging = deferred(__name__, "logging", "logging")
    run_all = deferred(__name__, "run_all", "aws_helper_sync.context.threads", "run_all")

DEFAULT_MAX_WORKERS_CAP = 8
DEFAULT_DEADLINE_MARGIN_MS = 500
PROCESSING_MODES = ("single", "batch")
NOT_PROCESSED = "not processed: "


#: A record ready to run: ``(record, message id, its checked state, its FIFO message group)``.
#: A plain tuple, unpacked where it is read: ``_prepare`` makes one per record in single mode
#: and for FIFO batches, before any unit can start (a class's ``__init__`` made that serial
#: part a tenth longer); a batch-mode state group keeps parallel lists instead (``BatchRecords``).
_Item = tuple[dict[str, Any], str, Optional[str], Optional[str]]


class _Prepared:
    """What ``_prepare`` leaves: the records ready to run, in order and (batch mode) by state.

    ``fifo``: some record is in a FIFO message group, so that ``groups`` (one
    round of every record) may not run as it is (``_fifo_rounds``). Batch
    mode needs ``items`` for that alone: it is empty when ``fifo`` is False.
    """

    __slots__ = ("fifo", "groups", "items")

    def __init__(self, items: list[_Item], groups: dict[str | None, BatchRecords] | None, fifo: bool) -> None:
        self.items = items
        self.groups = groups
        self.fifo = fifo


class _UnitFailures:
    """The failures marked inside one unit (a record or a state group); thread-safe.

    It also keeps, per FIFO message group, the earliest record marked failed:
    ``BatchRecords`` stops handing out a group's records from there on.
    """

    def __init__(self, batch: BatchRecords) -> None:
        # weak: the batch holds this unit, and a cycle per group would leave every invocation's
        # groups to the cycle collector (RSS creeping up between its full collections)
        self._batch = weakref.ref(batch)
        self.failures: dict[str, str] = {}
        self.broken_groups: dict[str, str] = {}
        self._lock = threading.Lock()

    # Built on the first mark: most groups never mark a record, and a group of a
    # thousand records would otherwise pay for both before process_batch starts.
    @cached_property
    def groups(self) -> dict[str, str | None]:
        batch = self._batch()  # (alive: marks come from inside the group's unit)
        assert batch is not None
        return dict(zip(batch._mids, batch._fifo_groups()))

    @cached_property
    def positions(self) -> dict[str, int]:
        batch = self._batch()
        assert batch is not None
        return {mid: position for position, mid in enumerate(batch._mids)}

    def mark(self, message_id: str, reason: str) -> None:
        if message_id not in self.groups:
            raise ValueError(
                f"add_message_failed({message_id!r}): that message is not one of the records "
                "being processed in this call (each state group only marks its own records)"
            )
        with self._lock:
            self.failures.setdefault(message_id, reason)
            group = self.groups[message_id]
            if group is not None:
                earlier = self.broken_groups.get(group)
                if earlier is None or self.positions[message_id] < self.positions[earlier]:
                    self.broken_groups[group] = message_id

    def first_failure(self, group: str | None) -> str | None:
        """The earliest record marked failed in FIFO message ``group``, or None."""
        return None if group is None else self.broken_groups.get(group)


class _RecordFailures:
    """``_UnitFailures`` of a single-mode record: only that record can be marked (built per record, so small)."""

    __slots__ = ("failures", "message_id")

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.failures: dict[str, str] = {}

    def mark(self, message_id: str, reason: str) -> None:
        if message_id != self.message_id:
            raise ValueError(
                f"add_message_failed({message_id!r}): that message is not the record being "
                "processed in this call (process_record only marks its own record)"
            )
        self.failures.setdefault(message_id, reason)  # one key: atomic, no lock needed


_Append = Callable[[dict[str, Any]], None]

_current_unit: ContextVar[_UnitFailures | _RecordFailures | None] = ContextVar("sqs_unit_failures", default=None)


class _Deadline:
    """Whether work may still start before the Lambda times out.

    When a function times out, Lambda redelivers the whole batch, the records
    that succeeded included; stopping in time lets those be acknowledged. A
    unit may start while the remaining time is at least the margin plus the
    longest unit so far (a unit that ran once is the best guess of the next).
    Once stopped, it stays stopped for the rest of the call.
    """

    def __init__(self, remaining_ms: Callable[[], Any] | None, margin_ms: float, logger: Any) -> None:
        self._remaining_ms = remaining_ms
        self.margin_ms = margin_ms
        self.longest_ms = 0.0
        self.reason: str | None = None
        self.logger = logger  # the consumer's, read once per call (logging.getLogger takes a lock)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, context: Any, margin_ms: float | None, logger: Any) -> _Deadline:
        getter = getattr(context, "get_remaining_time_in_millis", None)
        watched = callable(getter) and margin_ms is not None
        return cls(getter if watched else None, margin_ms or 0.0, logger)

    def stop_reason(self, expected_ms: float | None = None) -> str | None:
        """None when a unit expected to take ``expected_ms`` (default: the longest so far) may start, else why not."""
        if self._remaining_ms is None:
            return None
        if self.reason is not None:
            return self.reason
        try:
            left = float(self._remaining_ms())
            if math.isnan(left):
                raise ValueError("NaN")
        except Exception:
            self.logger.warning("context.get_remaining_time_in_millis() failed: the deadline is not watched",
                                 exc_info=True)
            self._remaining_ms = None
            return None
        expected = self.longest_ms if expected_ms is None else expected_ms
        if left >= self.margin_ms + expected:
            return None
        with self._lock:
            if self.reason is None:
                self.reason = (
                    f"{NOT_PROCESSED}the Lambda deadline is near ({left:.0f} ms left, margin "
                    f"{self.margin_ms:.0f} ms + {expected:.0f} ms expected for the next unit)"
                )
                self.logger.warning("%s: records not started yet are reported failed", self.reason)
        return self.reason

    @property
    def watched(self) -> bool:
        """False without a Lambda context (or once its clock failed): nothing to time."""
        return self._remaining_ms is not None

    def record(self, started: float) -> None:
        """Note a unit that began at ``started`` (``time.monotonic()``) and just ended."""
        elapsed_ms = (time.monotonic() - started) * 1000.0
        with self._lock:
            self.longest_ms = max(self.longest_ms, elapsed_ms)


class BatchRecords(list[dict[str, Any]]):
    """The records of one state group as ``process_batch`` receives them: a list, guarded when iterated.

    ``len()``, indexing and slicing see every record of the group. Iterating
    (``for record in records``, ``list(records)``, comprehensions) yields them
    in order, except:

    - FIFO queues: once a record of a message group has been marked failed
      (``add_message_failed``), later records of that group are not yielded;
      records of other groups go on. So a consumer that handles each record
      inside its loop never sees a group's later records after a failure.
    - Near the Lambda deadline, iteration stops.

    Records held back that way are reported failed without having been
    processed (SQS redelivers them, in order). A bulk consumer that collects
    the records first and writes them later gets the same guarantee with an
    ordered write, marking every record from the first error on as failed
    (see ``SQSConsumer.process_batch``).
    """

    def __init__(self, deadline: _Deadline, state: str | None) -> None:
        # Empty: ``_add`` (or the read pass itself) fills the parallel lists of what was read, on the
        # thread that reads the batch; ``_hand_out`` then copies the records into the list itself,
        # which is the consumer's to change, in one C-level copy. (Built on the group's own thread,
        # from another core, the list would touch every record again while the other groups wait for
        # that thread to start theirs; a tuple per record, made and freed, was a tenth of the serial
        # part.)
        super().__init__()
        self._records: list[dict[str, Any]] = []
        self._mids: list[str] = []
        self._groups: list[str | None] | None = None  # each record's FIFO message group; None: none has one
        self._state = state
        self._unit = _UnitFailures(self)  # (reads the message ids when a record is first marked)
        self._deadline = deadline
        self._logger = deadline.logger
        self._handed: set[str] = set()
        self.held_back: dict[str, str] = {}  # message id -> why it was reported failed unprocessed

    def _add(self, item: _Item) -> None:
        record, mid, _, group = item
        if group is not None and self._groups is None:
            self._groups = [None] * len(self._mids)
        self._records.append(record)
        self._mids.append(mid)
        if self._groups is not None:
            self._groups.append(group)

    def _hand_out(self) -> None:
        """Fill the list ``process_batch`` receives with the records read (once, before the group runs)."""
        self.extend(self._records)

    def _fifo_groups(self) -> Iterable[str | None]:
        """Each record's FIFO message group, in order (None for all on a standard queue)."""
        return repeat(None) if self._groups is None else self._groups

    @property
    def _items(self) -> list[_Item]:
        """The records as ``_prepare`` read them, one ``_Item`` each (rare paths: FIFO rounds, failures)."""
        return list(zip(self._records, self._mids, repeat(self._state), self._fifo_groups()))

    def _hold_back(self, mid: str, reason: str) -> None:
        if mid not in self.held_back and mid not in self._unit.failures:
            self.held_back[mid] = reason
            self._logger.error("message %s %s", mid, reason)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        last_handed: float | None = None
        longest_gap_ms = 0.0  # the longest the consumer took over one record: the next may take as long
        for position, (record, mid, group) in enumerate(zip(self._records, self._mids, self._fifo_groups())):
            failed_id = self._unit.first_failure(group)
            if failed_id is not None and self._unit.positions[failed_id] <= position:
                if failed_id != mid and mid not in self._handed:
                    self._hold_back(mid, _fifo_reason(group or "", failed_id))
                continue  # (one handed out before the failure is reported by _apply_group_failures)
            now = time.monotonic()
            if last_handed is not None:
                longest_gap_ms = max(longest_gap_ms, (now - last_handed) * 1000.0)
            stop = self._deadline.stop_reason(longest_gap_ms)
            if stop is not None:
                for rest in self._mids[position:]:
                    if rest in self._handed:  # seen earlier in this call, not finished: still failed
                        self._hold_back(rest, stop.replace(NOT_PROCESSED, "stopped unfinished: ", 1))
                    else:
                        self._hold_back(rest, stop)
                return
            last_handed = now
            self._handed.add(mid)
            yield record


class SQSConsumer(EntryPoint):
    """Base class for SQS consumers (SPEC §7).

    ``processing_mode``: ``"single"`` (default, ``process_record`` per record)
    or ``"batch"`` (``process_batch`` per state group, groups concurrently).
    ``max_workers``: batch-mode threads; None means one per group, at most 8.
    ``deadline_margin_ms``: under Lambda, records and groups not started when
    the remaining time is below this margin (plus the longest unit so far)
    are reported failed unprocessed, so the handler returns before the
    timeout; None turns the check off.
    One instance handles a whole batch and is shared by the group threads.
    """

    processing_mode: ClassVar[str] = "single"
    max_workers: ClassVar[int | None] = None
    deadline_margin_ms: ClassVar[float | None] = DEFAULT_DEADLINE_MARGIN_MS
    #: The Lambda context of the invocation being processed (None in the worker): hooks and
    #: ``@idempotent`` read its remaining time. Set by ``run_records``; a consumer is made per call.
    context: Any = None

    # --- hooks ---

    def process_record(self, record: dict[str, Any]) -> None:
        """Process one record (single mode). Raise to fail this record only."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement process_record() "
            "(or set processing_mode = 'batch' and implement process_batch())"
        )

    def process_batch(self, records: list[dict[str, Any]]) -> None:
        """Process the records of one state group (batch mode).

        Mark individual failures with ``add_message_failed``; an exception
        fails every record of the group. ``records`` is a ``BatchRecords``
        list: on a FIFO queue, iterating it stops handing out a message
        group's records once one of them is marked failed, so a loop that
        handles each record in turn keeps the group's order.

        A bulk consumer (records collected first, written at once) keeps the
        same guarantee with an ordered write and marks every record from the
        first error on, because an ordered write applies nothing after it::

            batch = list(records)
            try:
                collection.bulk_write([to_operation(r) for r in batch], ordered=True)
            except BulkWriteError as exc:
                first = exc.details["writeErrors"][0]["index"]
                for record in batch[first:]:
                    self.add_message_failed(record["messageId"], exc)

        With ``ordered=False`` later records of a group could be applied
        before the failed one is retried, which breaks FIFO order.
        """
        raise NotImplementedError(
            f"{type(self).__name__} sets processing_mode = 'batch' but does not implement process_batch()"
        )

    def add_message_failed(self, message_id: str, error: str | BaseException | None = None) -> None:
        """Report ``message_id`` (a record of the current call) as failed, so SQS redelivers it.

        Scoped to the record or state group being processed in this thread (and
        threads it starts with a context-copying executor): concurrent groups
        never see each other's failures.
        """
        unit = _current_unit.get()
        if unit is None:
            raise RuntimeError(
                "add_message_failed() can only be called while process_batch() or "
                "process_record() runs (from their thread or a ContextThreadPoolExecutor)"
            )
        reason = _reason(error) if error is not None else "marked failed by the consumer"
        unit.mark(message_id, reason)
        self.logger.error("message %s marked failed: %s", message_id, reason)

    def extract_content_message(self, record: dict[str, Any]) -> Any:
        """The message content: JSON body, SNS envelope unwrapped, non-JSON as ``{"raw": ...}``."""
        return rec.extract_content(record)

    def parse_body(self, record: dict[str, Any]) -> Any:
        """Same as ``extract_content_message`` (both names exist in the async framework)."""
        return self.extract_content_message(record)

    def extract_state(self, record: dict[str, Any]) -> Any:
        """The record's state as found (validated by the caller), or None.

        From ``constitution-state`` (attribute, SNS envelope, body) or the
        async framework's ``session`` attribute; sources that disagree, or a
        malformed session, raise (the record fails). Under Lambda tenant
        isolation ``context.tenant_id`` must agree with it (checked by the caller).
        """
        return rec.extract_state(record)

    def get_queue_url(self) -> str:
        """``https://sqs.<AWS_REGION>.amazonaws.com/<AWS_ACCOUNT_ID>/<SERVICE_NAME><QUEUE_NAME>-<ENV>``."""
        values = {
            "AWS_REGION": settings.aws_region(),
            "AWS_ACCOUNT_ID": settings.aws_account_id(),
            "SERVICE_NAME": settings.service_name(),
            "QUEUE_NAME": settings.queue_name(),
            "ENV": settings.deployment_env(),
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.get_queue_url() needs the environment variables "
                f"{', '.join(missing)} (or override get_queue_url())"
            )
        return (
            f"https://sqs.{values['AWS_REGION']}.amazonaws.com/{values['AWS_ACCOUNT_ID']}/"
            f"{values['SERVICE_NAME']}{values['QUEUE_NAME']}-{values['ENV']}"
        )

    # --- the lifecycle (not meant to be overridden) ---

    def run_records(self, records: list[dict[str, Any]], context: Any = None) -> rec.ProcessingResult:
        """Process a batch of records and return which ones failed; never raises ``Exception``.

        Used by ``sqs_handler`` and the worker alike. Records must carry a
        message id (the callers check the event shape first). ``context`` is
        the Lambda context: its ``get_remaining_time_in_millis()``, when it has
        one, bounds what is started (``deadline_margin_ms``). A record that
        cannot be read fails alone; anything that goes wrong outside the
        consumer's own hooks fails every record that has not already failed:
        no record is acknowledged unprocessed.
        """
        return self._run(records, [rec.message_id(r) or "" for r in records], context)

    def run_event_records(self, records: list[dict[str, Any]], context: Any = None) -> rec.ProcessingResult:
        """``run_records`` for the ``Records`` of a Lambda event, not checked yet (``sqs_handler``).

        Each record is checked as it is read (``rec.checked_message_id``), in
        the pass that reads its state: an event with a record that is not
        SQS's raises ``BadEventError`` before any record runs, as
        ``rec.checked_records`` would have.
        """
        return self._run(records, None, context)

    def _run(
        self, records: list[dict[str, Any]], message_ids: list[str] | None, context: Any,
    ) -> rec.ProcessingResult:
        check_ids = message_ids is None
        result = rec.ProcessingResult(message_ids=message_ids)
        self.context = context
        logger = self.logger  # read once, before the groups run (logging.getLogger takes a lock)
        try:
            mode = self.processing_mode
            if mode not in PROCESSING_MODES:
                raise ValueError(
                    f"{type(self).__name__}.processing_mode is {mode!r}; use 'single' or 'batch'"
                )
            check_sync_hooks(type(self))  # also for classes not loaded by name (the worker takes classes)
            deadline = _Deadline.of(context, self._deadline_margin(), logger)
            prepared = self._prepare(records, result, tenant_id(context), deadline if mode == "batch" else None,
                                     check_ids)
            if mode == "batch":
                self._run_batch_mode(prepared, result, deadline)
            else:
                self._run_single_mode(prepared.items, result, deadline)
        except Exception as exc:  # a fault of the framework or the consumer's configuration
            if check_ids:  # (BadEventError from _prepare, or a fault before every record was checked)
                result.message_ids = rec.checked_message_ids(records)  # a foreign event raises BadEventError
            logger.exception("batch aborted; every record not yet failed is reported failed")
            reason = f"batch aborted: {_reason(exc)}"
            result.error = reason
            for mid in result.message_ids:
                result.fail(mid, reason)
        if logger.isEnabledFor(logging.INFO):  # counting is a pass over every record
            logger.info("processed %d records: %d succeeded, %d failed",
                        len(result.message_ids), len(result.succeeded), len(result.failures))
        return result

    def _deadline_margin(self) -> float | None:
        margin = self.deadline_margin_ms
        if margin is None:
            return None
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not margin >= 0 \
                or math.isinf(margin):
            raise ValueError(
                f"{type(self).__name__}.deadline_margin_ms must be a non-negative number of "
                f"milliseconds or None, got {margin!r}"
            )
        return float(margin)

    def _state_reader(self) -> Callable[[dict[str, Any]], Found | None]:
        """How to read ``(source, value)`` of a record's own state: ``extract_state`` when a subclass overrides it."""
        if type(self).extract_state is SQSConsumer.extract_state:
            return rec.find_state
        source = f"{type(self).__name__}.extract_state()"

        def overridden(record: dict[str, Any]) -> Found | None:
            value = self.extract_state(record)
            return None if value is None else (source, value)

        return overridden

    def _prepare(
        self, records: list[dict[str, Any]], result: rec.ProcessingResult, tenant: Any = None,
        by_state: _Deadline | None = None, check_ids: bool = False,
    ) -> _Prepared:
        """Resolve each record's state; a record that cannot be read fails alone (and, FIFO, its followers).

        ``tenant``: ``context.tenant_id`` (Lambda tenant isolation mode), a
        state source of every record of the invocation: the state of a record
        that names none, and refused for a record that names another.
        ``by_state`` (batch mode): also group the records by state in the
        same pass, each group a ``BatchRecords`` watched by that deadline;
        ``items`` is then kept only once a FIFO record shows (``_Prepared``).
        ``check_ids``: the records of a Lambda event, not checked yet: each is
        checked here (``rec.checked_message_id``: BadEventError, before any
        record runs) and ``result.message_ids`` is filled in.

        This pass is the serial part of a batch (no state group starts before
        it ends), so the commonest record, a Lambda one of a standard queue
        whose only message attribute names a state already seen in this batch,
        takes a short lane read with plain subscripts: a key that is missing,
        a value of another type or anything unusual sends it the long way, the
        readers themselves (``rec.usual_record``, ``rec.find_state``).
        """
        items: list[_Item] = []
        groups: dict[str | None, BatchRecords] | None = None if by_state is None else {}
        fifo = False
        broken_groups: dict[str, str] = {}
        # A batch carries few distinct states: each value is validated once, then its records of a
        # standard queue take the short lane. For each value: its state and, in batch mode, the
        # appends that are its group's BatchRecords._add of such a record (None in single mode).
        seen: dict[str, tuple[str, tuple[_Append, Callable[[str], None]] | None]] = {}
        read_state = self._state_reader()
        short = tenant is None and read_state is rec.find_state  # (a tenant is a second source to compare with)
        given = None if check_ids else result.message_ids  # else read (and checked) here
        ids: list[str] = []
        add_id = ids.append
        standard_arn = ""  # the eventSourceARN of the last short-lane record: not a FIFO queue's
        value: Any
        state: str | None
        for record in records:
            known: tuple[Any, str | None] | None = None  # (value, FIFO group) of a usual record
            if short:
                try:  # the checks of rec.checked_message_id and rec.usual_record, for Lambda's spellings
                    if type(record) is dict and record["eventSource"] == SQS_EVENT_SOURCE \
                            and "EventSource" not in record:
                        mid = record["messageId"]
                        attributes = record["messageAttributes"]
                        value = attributes[STATE_ATTRIBUTE]["stringValue"]
                        body = record["body"]
                        source = record["eventSourceARN"]
                        if type(value) is str and type(mid) is str and mid and len(attributes) == 1 \
                                and type(body) is str and "Notification" not in body and "\\" not in body \
                                and (source == standard_arn or source[-5:] != ".fifo") \
                                and record["attributes"].get("MessageGroupId") is None:
                            standard_arn = source
                            add_id(mid)
                            hit = seen.get(value)
                            if hit is not None:
                                state, appends = hit
                                if appends is None:  # single mode: each record runs alone, as an _Item
                                    items.append((record, mid, state, None))
                                else:  # batch._add((record, mid, state, None)), written out (bound methods)
                                    add_record, add_mid = appends
                                    add_record(record)
                                    add_mid(mid)
                                continue
                            known = (value, None)  # the first of its state in this batch: validated below
                except (KeyError, TypeError, AttributeError):  # (a str, list or None where a dict belongs)
                    pass
            if known is None:  # the long way: the readers themselves
                mid = given[len(ids)] if given is not None else rec.checked_message_id(len(ids), record)
                add_id(mid)
            group = None
            try:
                if known is None and read_state is rec.find_state:
                    known = rec.usual_record(record)
                value = None
                if known is None:
                    group = rec.fifo_group(record)
                else:
                    value, group = known
                if group is not None:
                    if not fifo and groups is not None:
                        # Batch mode's first FIFO record: _fifo_rounds needs items from here on. The records
                        # so far have no FIFO group (all run in the first round) and each state's are in
                        # order, so the groups give them; every later record comes this way, into items.
                        items = [item for batch in groups.values() for item in batch._items]
                        short = False
                    fifo = True
                    if group in broken_groups:
                        self._fail(result, mid, _fifo_reason(group, broken_groups[group]))
                        continue
                if known is None or tenant is not None:
                    found = read_state(record) if known is None else (rec.ATTRIBUTE_SOURCE, value)
                    if tenant is not None:
                        found = first_agreeing([found or ("the record's state", None), (TENANT_ID_SOURCE, tenant)])
                    value = None if found is None else found[1]
                state = None
                if value is not None:
                    exact = type(value) is str  # (a list is not hashable; a str subclass may equal anything)
                    hit = seen.get(value) if exact else None
                    state = known_state(value) if hit is None else hit[0]  # spelling, allow lists, registry
                    if hit is None and exact:
                        if by_state is None:
                            seen[value] = (state, None)
                        else:  # (no record of this batch has had a FIFO group: see above)
                            batch = _batch_of(groups, state, by_state)
                            seen[value] = (state, (batch._records.append, batch._mids.append))
            except InvalidStateError as exc:
                why = str(exc) if isinstance(exc, (ConflictingStateSourcesError, MalformedSessionError)) \
                    else f"invalid constitution-state: {exc}"
                self._unreadable(result, mid, group, broken_groups, why)
                continue
            except (StateRegistryUnavailableError, ConfigurationError):
                raise  # not this record's fault: the whole batch fails and is redelivered
            except Exception as exc:  # a poison record (too deep, odd shape, a failing hook): it alone fails
                self.logger.warning("message %s could not be read", mid, exc_info=True)
                self._unreadable(result, mid, group, broken_groups, f"record could not be read: {_reason(exc)}")
                continue
            item = (record, mid, state, group)
            if groups is None or fifo:
                items.append(item)
            if by_state is not None:
                _batch_of(groups, state, by_state)._add(item)
        if check_ids:
            result.message_ids = ids
        return _Prepared(items, groups, fifo)

    def _unreadable(
        self, result: rec.ProcessingResult, mid: str, group: str | None, broken_groups: dict[str, str], why: str,
    ) -> None:
        self._fail(result, mid, NOT_PROCESSED + why)
        if group is not None:
            broken_groups.setdefault(group, mid)

    def _fail(self, result: rec.ProcessingResult, message_id: str, reason: str) -> None:
        """Report a record failed that was not processed (``reason`` says why, once)."""
        result.fail(message_id, reason)
        self.logger.error("message %s %s", message_id, reason)

    # single mode

    def _run_single_mode(self, items: list[_Item], result: rec.ProcessingResult, deadline: _Deadline) -> None:
        broken_groups: dict[str, str] = {}
        watched = deadline.watched  # read once (a clock that fails later makes stop_reason answer None)
        started = 0.0
        for item in items:
            _, mid, state, group = item
            if group is not None and group in broken_groups:
                self._fail(result, mid, _fifo_reason(group, broken_groups[group]))
                continue
            if watched:
                stop = deadline.stop_reason()
                if stop is not None:
                    self._fail(result, mid, stop)
                    continue
                started = time.monotonic()
            try:
                failures = run_in_validated_unit_context(state, self._run_record, item)  # state: from _prepare
            except Exception as exc:  # the unit context itself failed: the record was not processed
                self.logger.exception("message %s could not run", mid)
                failures = {mid: _reason(exc)}
            finally:
                if watched:
                    deadline.record(started)
            if failures:
                for failed_id, reason in failures.items():
                    result.fail(failed_id, reason)
                if group is not None:
                    broken_groups[group] = mid

    def _run_record(self, item: _Item) -> dict[str, str]:
        record, mid, _, _ = item
        unit = _RecordFailures(mid)
        _current_unit.set(unit)  # this runs in the unit's own context: nothing to reset
        try:
            hook: Callable[[dict[str, Any]], object] = self.process_record  # typed -> None, may return anything
            hook_result(self, "process_record", hook(record))
        except Exception as exc:
            self.logger.exception("message %s failed", mid)
            return {mid: _reason(exc)}
        return dict(unit.failures)  # a copy: a thread the hook started may still mark (too late)

    # batch mode

    def resolve_max_workers(self, group_count: int) -> int:
        """Threads for ``group_count`` state groups: ``max_workers`` or one per group, capped at 8."""
        configured = self.max_workers
        if configured is None:
            return max(1, min(group_count, DEFAULT_MAX_WORKERS_CAP))
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 1:
            raise ValueError(f"{type(self).__name__}.max_workers must be a positive int or None, got {configured!r}")
        return max(1, min(configured, group_count))

    def _run_batch_mode(self, prepared: _Prepared, result: rec.ProcessingResult, deadline: _Deadline) -> None:
        rounds = _fifo_rounds(prepared.items) if prepared.fifo else None
        if rounds is None or len(rounds) == 1:  # one round of every record: as _prepare grouped them
            for batch, failures in self._run_groups(prepared.groups or {}, deadline):
                self._apply_group_failures(batch, failures, result, {})
            return
        broken_groups: dict[str, str] = {}
        for round_items in rounds:
            groups: dict[str | None, BatchRecords] = {}
            for item in round_items:
                group = item[3]
                if group is not None and group in broken_groups:  # (none in the first round)
                    self._fail(result, item[1], _fifo_reason(group, broken_groups[group]))
                else:
                    _batch_of(groups, item[2], deadline)._add(item)  # by state
            for batch, failures in self._run_groups(groups, deadline):
                self._apply_group_failures(batch, failures, result, broken_groups)

    def _run_groups(
        self, groups: dict[str | None, BatchRecords], deadline: _Deadline,
    ) -> list[tuple[BatchRecords, dict[str, str]]]:
        if not groups:
            return []
        workers = self.resolve_max_workers(len(groups))
        units = []
        for state, batch in groups.items():
            batch._hand_out()
            units.append(partial(self._run_group_unit, state, batch, deadline))
        # The process's shared pool plus this thread (one group: this thread alone, no pool).
        return list(zip(groups.values(), run_all(units, workers)))

    def _run_group_unit(self, state: str | None, batch: BatchRecords, deadline: _Deadline) -> dict[str, str]:
        # Run by run_all, which runs each call in its own copy of the caller's context: the group's
        # unit context, to set its state in (a second copy per group was only more work before it starts).
        watched = deadline.watched
        started = 0.0
        if watched:
            stop = deadline.stop_reason()  # checked when the group would start (it may have waited for a thread)
            if stop is not None:
                for mid in batch._mids:
                    self.logger.error("message %s %s", mid, stop)
                return dict.fromkeys(batch._mids, stop)
            started = time.monotonic()
        try:
            _state.set(state)  # state: from _prepare (known_state)
            return self._run_group(batch)
        except Exception as exc:  # the unit itself failed: the group was not processed
            self.logger.exception("state group %s could not run", state)
            return dict.fromkeys(batch._mids, _reason(exc))
        finally:
            if watched:
                deadline.record(started)

    def _run_group(self, batch: BatchRecords) -> dict[str, str]:
        unit = batch._unit
        _current_unit.set(unit)  # this runs in the group's own context: nothing to reset
        try:
            hook: Callable[[list[dict[str, Any]]], object] = self.process_batch  # as in _run_record
            hook_result(self, "process_batch", hook(batch))
        except Exception as exc:
            self.logger.exception("process_batch failed for %d records", len(batch._mids))
            reason = f"process_batch raised: {_reason(exc)}"
            return {mid: batch.held_back.get(mid, reason) for mid in batch._mids}
        failures = dict(unit.failures)
        for mid, reason in batch.held_back.items():
            failures.setdefault(mid, reason)
        return failures

    def _apply_group_failures(
        self,
        batch: BatchRecords,
        failures: dict[str, str],
        result: rec.ProcessingResult,
        broken_groups: dict[str, str],
    ) -> None:
        # FIFO: records after a group's first failure were held back by
        # BatchRecords, unless process_batch got them before that failure was
        # marked (a bulk consumer) or by index: they are reported failed too,
        # so that SQS redelivers the message group from the failure on, in order.
        if not failures and not broken_groups:
            return  # the usual group: all succeeded, no FIFO group broken before
        for mid, group in zip(batch._mids, batch._fifo_groups()):
            if mid in failures:
                result.fail(mid, failures[mid])
                if group is not None:
                    broken_groups.setdefault(group, mid)
            elif group is not None and group in broken_groups:
                reason = (
                    f"an earlier message ({broken_groups[group]}) of FIFO message group "
                    f"{_group_shown(group)} failed after this one was handed to process_batch: "
                    "reported failed so that the group is redelivered in order"
                )
                result.fail(mid, reason)
                self.logger.warning("message %s %s", mid, reason)


def _batch_of(groups: dict[str | None, BatchRecords] | None, state: str | None, deadline: _Deadline) -> BatchRecords:
    """The state group of ``state`` in ``groups``, added empty on first use."""
    assert groups is not None  # (batch mode: _prepare made it)
    batch = groups.get(state)
    if batch is None:
        batch = groups[state] = BatchRecords(deadline, state)
    return batch


def _fifo_rounds(items: list[_Item]) -> list[list[_Item]]:
    """Split items into rounds that can each run state groups concurrently, keeping FIFO order.

    A record goes into the round of the previous record of its message group
    when both have the same state (same state group: order kept within it),
    else into the next round. Records without a message group (and a
    standard queue's: the caller skips this then) all go into the first. A
    message group that stays in one state (the usual case) gives one round.
    """
    rounds: list[list[_Item]] = []
    last: dict[str, tuple[int, str | None]] = {}
    for item in items:
        _, _, state, group = item
        index = 0
        if group is not None and group in last:
            prev_round, prev_state = last[group]
            index = prev_round if prev_state == state else prev_round + 1
        if group is not None:
            last[group] = (index, state)
        while len(rounds) <= index:
            rounds.append([])
        rounds[index].append(item)
    return rounds


def _group_shown(group: str) -> str:
    return repr(group) if group else "of this queue"


def _fifo_reason(group: str, failed_id: str) -> str:
    return f"{NOT_PROCESSED}an earlier message ({failed_id}) of FIFO message group {_group_shown(group)} failed"


def _reason(error: Any) -> str:
    if isinstance(error, BaseException):
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return str(error)
