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
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import settings
from ..context.state import InvalidStateError
from ..context.threads import ContextThreadPoolExecutor
from ..entrypoint import EntryPoint, known_state, run_unit
from . import records as rec

DEFAULT_MAX_WORKERS_CAP = 8
PROCESSING_MODES = ("single", "batch")


class _UnitFailures:
    """The failures marked inside one unit (a record or a state group); thread-safe."""

    def __init__(self, message_ids: Sequence[str]) -> None:
        self.members = frozenset(message_ids)
        self.failures: dict[str, str] = {}
        self._lock = threading.Lock()

    def mark(self, message_id: str, reason: str) -> None:
        if message_id not in self.members:
            raise ValueError(
                f"add_message_failed({message_id!r}): that message is not one of the records "
                "being processed in this call (each state group only marks its own records)"
            )
        with self._lock:
            self.failures.setdefault(message_id, reason)


_current_unit: ContextVar[_UnitFailures | None] = ContextVar("sqs_unit_failures", default=None)


@dataclass
class _Item:
    record: dict[str, Any]
    message_id: str
    state: str | None
    fifo_group: str | None


class SQSConsumer(EntryPoint):
    """Base class for SQS consumers (SPEC §7).

    ``processing_mode``: ``"single"`` (default, ``process_record`` per record)
    or ``"batch"`` (``process_batch`` per state group, groups concurrently).
    ``max_workers``: batch-mode threads; None means one per group, at most 8.
    One instance handles a whole batch and is shared by the group threads.
    """

    processing_mode: ClassVar[str] = "single"
    max_workers: ClassVar[int | None] = None

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
        fails every record of the group.
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
        """The record's constitution-state as found (validated by the caller), or None."""
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

    def run_records(self, records: list[dict[str, Any]]) -> rec.ProcessingResult:
        """Process a batch of records and return which ones failed; never raises ``Exception``.

        Used by ``sqs_handler`` and the worker alike. Records must carry a
        message id (the callers check the event shape first). Anything that
        goes wrong outside the consumer's own hooks fails every record that
        has not already failed: no record is acknowledged unprocessed.
        """
        result = rec.ProcessingResult(message_ids=[rec.message_id(r) or "" for r in records])
        try:
            mode = self.processing_mode
            if mode not in PROCESSING_MODES:
                raise ValueError(
                    f"{type(self).__name__}.processing_mode is {mode!r}; use 'single' or 'batch'"
                )
            items = self._prepare(records, result)
            if mode == "batch":
                self._run_batch_mode(items, result)
            else:
                self._run_single_mode(items, result)
        except Exception as exc:  # a fault of the framework or the consumer's configuration
            self.logger.exception("batch aborted; every record not yet failed is reported failed")
            reason = f"batch aborted: {_reason(exc)}"
            result.error = reason
            for mid in result.message_ids:
                result.fail(mid, reason)
        self.logger.info(
            "processed %d records: %d succeeded, %d failed",
            len(result.message_ids), len(result.succeeded), len(result.failures),
        )
        return result

    def _prepare(self, records: list[dict[str, Any]], result: rec.ProcessingResult) -> list[_Item]:
        """Resolve each record's state; a record with an invalid state fails (and, FIFO, its followers)."""
        items: list[_Item] = []
        broken_groups: dict[str, str] = {}
        valid: dict[str, str] = {}  # a batch carries few distinct states: validate each once
        for record in records:
            mid = rec.message_id(record) or ""
            group = rec.fifo_group(record)
            if group is not None and group in broken_groups:
                self._fail(result, mid, _fifo_reason(group, broken_groups[group]), processed=False)
                continue
            try:
                found = self.extract_state(record)
                if found is None:
                    state = None
                elif isinstance(found, str) and found in valid:
                    state = valid[found]
                else:
                    state = valid[found] = known_state(found)  # spelling, allow lists, registry
            except InvalidStateError as exc:
                self._fail(result, mid, f"invalid constitution-state: {exc}", processed=False)
                if group is not None:
                    broken_groups[group] = mid
                continue
            items.append(_Item(record, mid, state, group))
        return items

    def _fail(self, result: rec.ProcessingResult, message_id: str, reason: str, processed: bool = True) -> None:
        result.fail(message_id, reason)
        if not processed:
            self.logger.error("message %s not processed: %s", message_id, reason)

    # single mode

    def _run_single_mode(self, items: list[_Item], result: rec.ProcessingResult) -> None:
        broken_groups: dict[str, str] = {}
        for item in items:
            if item.fifo_group is not None and item.fifo_group in broken_groups:
                self._fail(result, item.message_id,
                           _fifo_reason(item.fifo_group, broken_groups[item.fifo_group]), processed=False)
                continue
            try:
                failures = run_unit(item.state, self._run_record, item)
            except Exception as exc:  # run_unit itself failed: the record was not processed
                self.logger.exception("message %s could not run", item.message_id)
                failures = {item.message_id: _reason(exc)}
            for mid, reason in failures.items():
                result.fail(mid, reason)
            if failures and item.fifo_group is not None:
                broken_groups[item.fifo_group] = item.message_id

    def _run_record(self, item: _Item) -> dict[str, str]:
        unit = _UnitFailures([item.message_id])
        _current_unit.set(unit)  # this runs in the unit's own context: nothing to reset
        try:
            self.process_record(item.record)
        except Exception as exc:
            self.logger.exception("message %s failed", item.message_id)
            return {item.message_id: _reason(exc)}
        return dict(unit.failures)

    # batch mode

    def resolve_max_workers(self, group_count: int) -> int:
        """Threads for ``group_count`` state groups: ``max_workers`` or one per group, capped at 8."""
        configured = self.max_workers
        if configured is None:
            return max(1, min(group_count, DEFAULT_MAX_WORKERS_CAP))
        if isinstance(configured, bool) or not isinstance(configured, int) or configured < 1:
            raise ValueError(f"{type(self).__name__}.max_workers must be a positive int or None, got {configured!r}")
        return max(1, min(configured, group_count))

    def _run_batch_mode(self, items: list[_Item], result: rec.ProcessingResult) -> None:
        broken_groups: dict[str, str] = {}
        for round_items in _fifo_rounds(items):
            runnable = []
            for item in round_items:
                if item.fifo_group is not None and item.fifo_group in broken_groups:
                    self._fail(result, item.message_id,
                               _fifo_reason(item.fifo_group, broken_groups[item.fifo_group]), processed=False)
                else:
                    runnable.append(item)
            groups: dict[str | None, list[_Item]] = {}
            for item in runnable:
                groups.setdefault(item.state, []).append(item)
            for group_items, failures in self._run_groups(groups):
                self._apply_group_failures(group_items, failures, result, broken_groups)

    def _run_groups(self, groups: dict[str | None, list[_Item]]) -> list[tuple[list[_Item], dict[str, str]]]:
        if not groups:
            return []
        workers = self.resolve_max_workers(len(groups))
        if workers == 1:
            return [(items, self._run_group_unit(state, items)) for state, items in groups.items()]
        with ContextThreadPoolExecutor(max_workers=workers, thread_name_prefix="sqs-group") as pool:
            futures = [
                (items, pool.submit(self._run_group_unit, state, items)) for state, items in groups.items()
            ]
            return [(items, future.result()) for items, future in futures]

    def _run_group_unit(self, state: str | None, items: list[_Item]) -> dict[str, str]:
        try:
            return run_unit(state, self._run_group, items)
        except Exception as exc:  # run_unit itself failed: the group was not processed
            self.logger.exception("state group %s could not run", state)
            return {item.message_id: _reason(exc) for item in items}

    def _run_group(self, items: list[_Item]) -> dict[str, str]:
        unit = _UnitFailures([item.message_id for item in items])
        _current_unit.set(unit)  # this runs in the group's own context: nothing to reset
        try:
            self.process_batch([item.record for item in items])
        except Exception as exc:
            self.logger.exception("process_batch failed for %d records", len(items))
            reason = f"process_batch raised: {_reason(exc)}"
            return {item.message_id: reason for item in items}
        return dict(unit.failures)

    def _apply_group_failures(
        self,
        items: list[_Item],
        failures: dict[str, str],
        result: rec.ProcessingResult,
        broken_groups: dict[str, str],
    ) -> None:
        # FIFO: process_batch saw the whole group at once, so records after a
        # failure may have run; they are still reported failed, so that SQS
        # redelivers the message group from the failure on, in order.
        for item in items:
            group = item.fifo_group
            if item.message_id in failures:
                result.fail(item.message_id, failures[item.message_id])
                if group is not None:
                    broken_groups.setdefault(group, item.message_id)
            elif group is not None and group in broken_groups:
                self._fail(result, item.message_id, _fifo_reason(group, broken_groups[group]), processed=False)


def _fifo_rounds(items: list[_Item]) -> list[list[_Item]]:
    """Split items into rounds that can each run state groups concurrently, keeping FIFO order.

    A record goes into the round of the previous record of its message group
    when both have the same state (same state group: order kept within it),
    else into the next round. Standard-queue records all go into the first.
    A message group that stays in one state (the usual case) gives one round.
    """
    rounds: list[list[_Item]] = []
    last: dict[str, tuple[int, str | None]] = {}
    for item in items:
        index = 0
        if item.fifo_group is not None and item.fifo_group in last:
            prev_round, prev_state = last[item.fifo_group]
            index = prev_round if prev_state == item.state else prev_round + 1
        if item.fifo_group is not None:
            last[item.fifo_group] = (index, item.state)
        while len(rounds) <= index:
            rounds.append([])
        rounds[index].append(item)
    return rounds


def _fifo_reason(group: str, failed_id: str) -> str:
    shown = repr(group) if group else "of this queue"
    return f"not processed: an earlier message ({failed_id}) of FIFO message group {shown} failed"


def _reason(error: Any) -> str:
    if isinstance(error, BaseException):
        text = str(error)
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return str(error)
