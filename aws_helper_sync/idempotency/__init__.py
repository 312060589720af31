"""Idempotency on MongoDB, per constitution-state (SPEC §12).

    from aws_helper_sync.idempotency import idempotent, idempotent_call

    class PaymentsConsumer(SQSConsumer):
        @idempotent(key="payment_id")
        def process_record(self, record): ...

Records live in the ``idempotency`` collection of the current state's database,
so equal keys of two states never collide. Names load on first use.
"""

from __future__ import annotations

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
