"""SQS (SPEC §7, §13): the consumer base, the Lambda handler, the long-polling worker, the publisher.

    from aws_helper_sync.sqs import SQSConsumer, sqs_handler
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .consumer_base import SQSConsumer
from .handler import sqs_handler

_LAZY = {
    "SQSPublisher": ".publisher",
    "SendMessageBatchError": ".publisher",
    "SQSWorker": ".worker",
    "WorkerStats": ".worker",
    "run_worker": ".worker",
}

__all__ = ["SQSConsumer", "SQSPublisher", "SQSWorker", "SendMessageBatchError", "WorkerStats", "run_worker", "sqs_handler"]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from .publisher import SendMessageBatchError, SQSPublisher
    from .worker import SQSWorker, WorkerStats, run_worker
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
