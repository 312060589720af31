"""Batch-mode consumer of the deadline tests: each record of a group sleeps ``sleep`` seconds in the loop."""

import threading
import time
from typing import ClassVar

from aws_helper_sync import SQSConsumer, get_state

_lock = threading.Lock()


class SlowGroupsConsumer(SQSConsumer):
    processing_mode = "batch"
    max_workers = 1
    groups: ClassVar[list] = []  # states of the groups that started
    handled: ClassVar[list] = []  # messageIds handled in the loop

    def process_batch(self, records):
        with _lock:
            type(self).groups.append(get_state())
        for record in records:
            time.sleep(float(self.parse_body(record).get("sleep", 0)))
            with _lock:
                type(self).handled.append(record["messageId"])
