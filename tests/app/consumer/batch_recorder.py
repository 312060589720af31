"""Batch-mode consumer of the tests: one call per state group, recorded.

Set ``barrier`` (a threading.Barrier) to make every group wait for the
others: it only passes when the groups really run at the same time.
Content flags: ``fail`` -> add_message_failed, ``raise`` -> the whole group raises.
"""

import threading
from typing import ClassVar

from aws_helper_sync import SQSConsumer, get_state

_lock = threading.Lock()


class BatchRecorderConsumer(SQSConsumer):
    processing_mode = "batch"
    barrier = None
    calls: ClassVar[list] = []  # (state, [messageId, ...], thread name)

    def process_batch(self, records):
        ids = [r["messageId"] for r in records]
        with _lock:
            type(self).calls.append((get_state(), ids, threading.current_thread().name))
        if self.barrier is not None:
            self.barrier.wait()
        contents = [self.parse_body(r) for r in records]
        if any(isinstance(c, dict) and c.get("raise") for c in contents):
            raise RuntimeError(f"group {get_state()} blew up")
        for record, content in zip(records, contents):
            if isinstance(content, dict) and content.get("fail"):
                self.add_message_failed(record["messageId"], f"rejected in {get_state()}")
