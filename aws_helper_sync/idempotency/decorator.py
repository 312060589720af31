"""``@idempotent`` for entry-point hooks and ``idempotent_call`` for anything else.

    class OrdersConsumer(SQSConsumer):
        @idempotent(key="order_id")                 # a path into the message content
        def process_record(self, record):
            charge(self.parse_body(record))

    class IndexConsumer(SQSConsumer):
        processing_mode = "batch"
        def process_batch(self, records):
            for record in records:                  # one key per record
                idempotent_call(self.index_one, record, key="uid")

Semantics (Powertools' idempotency utility, on MongoDB and per state): the
first call runs and stores its result; a repeat after it completed returns the
stored result without running; a repeat while it runs raises
``IdempotencyInProgressError``; a body that raises releases the key so that a
retry runs; with ``validate``, a repeat with a different payload raises
``IdempotencyKeyMismatchError``.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
from typing import Any, Callable, TypeVar

from . import store
from .config import IdempotencyConfig, as_seconds
from .errors import IdempotencyConfigError, IdempotencyKeyError
from .inputs import HookInput, call_input, hook_input
from .keys import MISSING, digest, extract, is_missing

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def function_name(fn: Callable[..., Any]) -> str:
    """The default record prefix of ``fn``: ``module.QualName`` (stable across processes)."""
    named = fn if hasattr(fn, "__qualname__") else type(fn)  # a callable instance: its class
    qualname = getattr(named, "__qualname__", None)
    if not qualname or "<lambda>" in qualname:
        raise IdempotencyConfigError(
            f"{fn!r} has no stable name to prefix its idempotency keys: pass name='...'"
        )
    module = getattr(named, "__module__", None)
    return f"{module}.{qualname}" if module else qualname


def _config(config: IdempotencyConfig | None, options: dict[str, Any]) -> IdempotencyConfig:
    if config is None:
        return IdempotencyConfig().with_options(**options)
    if not isinstance(config, IdempotencyConfig):
        raise IdempotencyConfigError(f"config must be an IdempotencyConfig, got {config!r}")
    return config.with_options(**options)


def in_progress_deadline(context: Any, timeout: float, now: dt.datetime) -> dt.datetime:
    """When a claim expires: at the end of the Lambda's remaining time when there is a context.

    A context saying 0 ms (the runtime is past its timeout) expires the claim at once.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        millis = remaining()
        if isinstance(millis, (int, float)) and not isinstance(millis, bool):
            return now + dt.timedelta(milliseconds=max(0, millis))
    return now + dt.timedelta(seconds=timeout)


def run(config: IdempotencyConfig, name: str, source: HookInput, body: Callable[[], T]) -> T:
    """Run ``body`` at most once per key of ``source`` in the current state (the shared core)."""
    value = extract(config.key, source.whole, source.raw, source.find)
    if is_missing(value):
        why = _missing_reason(config.key)  # may reach an API client: names the input, not the code
        if config.raise_on_missing_key:
            logger.info("%s: %s", name, why)
            raise IdempotencyKeyError(f"no idempotency key: {why}")
        logger.warning("%s: no idempotency key (%s); running without idempotency", name, why)
        return body()
    key = f"{name}#{digest(value)}"
    validation = None
    if config.validate is not None:
        source_of_validation = None if isinstance(config.validate, bool) else config.validate
        checked = extract(source_of_validation, source.whole, source.raw, source.find)
        validation = digest(None if checked is MISSING else checked)
    collection = store.current_collection(config.collection)
    now = store.utcnow()
    claimed = store.claim(
        collection, key,
        validation=validation,
        in_progress_until=in_progress_deadline(source.context, as_seconds(config.in_progress_timeout), now),
        expires_at=now + dt.timedelta(seconds=as_seconds(config.expires_after)),
    )
    if isinstance(claimed, store.StoredResult):
        logger.info("%s: idempotency key already completed; returning the stored result", name)
        replayed: T = source.replay(claimed.result) if source.replay else claimed.result  # body()'s, stored
        return replayed
    try:
        result = body()
    except BaseException:
        store.release(claimed)
        raise
    stored = source.capture(result) if source.capture else result
    store.complete(
        claimed, stored, store.utcnow() + dt.timedelta(seconds=as_seconds(config.expires_after)),
        config.max_result_bytes,
    )
    return result


def _missing_reason(source: Any) -> str:
    if source is None:
        return "the payload is empty"
    if isinstance(source, str):
        return f"nothing at {source!r}"
    if isinstance(source, tuple):
        return f"nothing at one of {', '.join(map(repr, source))}"
    return "the key function found none"


def idempotent(
    fn: F | None = None, *, config: IdempotencyConfig | None = None, **options: Any
) -> Any:
    """Make an entry-point hook run at most once per idempotency key, in the current state.

    ``@idempotent`` or ``@idempotent(key=..., validate=..., expires_after=...)``
    (the options of ``IdempotencyConfig``, over ``config`` when given). For
    ``process_record(record)`` the key reads the message content; for ``process()``
    of API and Lambda the ``data``; for ``FargateTask.execute()`` the envs (see
    ``inputs``). The Lambda context of the entry, when it has one, bounds how long
    an in-progress claim blocks the key. Keys are prefixed with the concrete
    class and hook (``module.Class.process_record``) unless ``name`` is given.
    """
    if isinstance(fn, IdempotencyConfig):  # @idempotent(config) written positionally
        fn, config = None, fn
    settings = _config(config, options)

    def decorate(func: F) -> F:
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            raise IdempotencyConfigError(
                f"@idempotent on {func.__qualname__}: aws_helper_sync is synchronous; define it with plain 'def'"
            )
        if inspect.isgeneratorfunction(func):
            raise IdempotencyConfigError(
                f"@idempotent on {func.__qualname__}: a generator does its work after the call returns, "
                "outside the claim; return a value instead of yielding"
            )

        @functools.wraps(func)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            source = hook_input(self, args, kwargs, func.__name__)
            # Per concrete class: two consumers sharing a decorated base never share keys.
            cls = type(self)
            name = settings.name or f"{cls.__module__}.{cls.__qualname__}.{func.__name__}"
            return run(settings, name, source, lambda: func(self, *args, **kwargs))

        wrapper.idempotency_config = settings  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


def idempotent_call(
    fn: Callable[[Any], T],
    payload: Any,
    *,
    config: IdempotencyConfig | None = None,
    context: Any = None,
    **options: Any,
) -> T:
    """``fn(payload)``, run at most once per idempotency key of ``payload`` in the current state.

    The function form of ``@idempotent`` for anything that is not an entry-point
    hook (each record inside ``process_batch``, a step of a script). An SQS record
    as ``payload`` is keyed by its message content, and ``fn`` still receives the
    record. ``context``: a Lambda context, to bound the in-progress claim by its
    remaining time. Options as in ``IdempotencyConfig``; ``name`` defaults to
    ``fn``'s module and qualified name (required for a lambda).
    """
    settings = _config(config, options)
    name = settings.name or function_name(fn)
    return run(settings, name, call_input(payload, context), lambda: fn(payload))
