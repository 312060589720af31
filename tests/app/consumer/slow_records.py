"""Single-mode consumer of the deadline tests: each record sleeps ``sleep`` seconds, then is recorded."""

import threading
import time
from typing import ClassVar

from aws_helper_sync import SQSConsumer

_lock = threading.Lock()


class SlowRecordsConsumer(SQSConsumer):
    started: ClassVar[list] = []  # messageIds, in the order they started

    def process_record(self, record):
        with _lock:
            type(self).started.append(record["messageId"])
        time.sleep(float(self.parse_body(record).get("sleep", 0)))
