"""Consumer of test_reliability_sqs_delivery.py (deadline): each record sleeps ``sleep`` seconds.

``processing_mode`` is set by the test (single, or batch with one thread so
that state groups run one after the other); ``started`` lists what began.
"""

import threading
import time
from typing import ClassVar

from aws_helper_sync import SQSConsumer

_lock = threading.Lock()


class SlowUnitConsumer(SQSConsumer):
    max_workers = 1
    started: ClassVar[list] = []

    def _one(self, record):
        with _lock:
            type(self).started.append(record["messageId"])
        time.sleep(float(self.parse_body(record).get("sleep", 0)))

    def process_record(self, record):
        self._one(record)

    def process_batch(self, records):
        for record in records:
            self._one(record)
