"""SQS consumers (SPEC §7): the consumer base, the Lambda handler, the long-polling worker.

    from aws_helper_sync.sqs import SQSConsumer, sqs_handler
"""

from __future__ import annotations

import importlib
from typing import Any

from .consumer_base import SQSConsumer
from .handler import sqs_handler

_LAZY = {
    "SQSWorker": ".worker",
    "WorkerStats": ".worker",
    "run_worker": ".worker",
}

__all__ = ["SQSConsumer", "SQSWorker", "WorkerStats", "run_worker", "sqs_handler"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
