"""SQS (SPEC §7, §13): the consumer base, the Lambda handler, the long-polling worker, the publisher.

    from aws_helper_sync.sqs import SQSConsumer, sqs_handler
"""

from __future__ import annotations

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
