"""Idempotency on MongoDB, per constitution-state (SPEC §12).

    from aws_helper_sync.idempotency import idempotent, idempotent_call

    class PaymentsConsumer(SQSConsumer):
        @idempotent(key="payment_id")
        def process_record(self, record): ...

Records live in the ``idempotency`` collection of the current state's database,
so equal keys of two states never collide. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "idempotent": ".decorator",
    "idempotent_call": ".decorator",
    "IdempotencyConfig": ".config",
    "IdempotencyError": ".errors",
    "IdempotencyConfigError": ".errors",
    "IdempotencyStateError": ".errors",
    "IdempotencyKeyError": ".errors",
    "IdempotencyInProgressError": ".errors",
    "IdempotencyKeyMismatchError": ".errors",
    "IdempotencyResultUnavailableError": ".errors",
}

__all__ = [
    "IdempotencyConfig",
    "IdempotencyConfigError",
    "IdempotencyError",
    "IdempotencyInProgressError",
    "IdempotencyKeyError",
    "IdempotencyKeyMismatchError",
    "IdempotencyResultUnavailableError",
    "IdempotencyStateError",
    "idempotent",
    "idempotent_call",
]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from .config import IdempotencyConfig
    from .decorator import idempotent, idempotent_call
    from .errors import (
        IdempotencyConfigError,
        IdempotencyError,
        IdempotencyInProgressError,
        IdempotencyKeyError,
        IdempotencyKeyMismatchError,
        IdempotencyResultUnavailableError,
        IdempotencyStateError,
    )
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
