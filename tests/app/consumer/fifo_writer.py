"""Batch consumer of the FIFO-order tests: applies each record inside its loop, in order.

Each record is applied as it is read: one document in ``fifo_applied`` of the
state's database, with a process-wide sequence number (the order of
application). Content flag ``fail_until_receive: n`` -> add_message_failed
(not applied) while ApproximateReceiveCount <= n. ``handed`` lists every
record the loop received.
"""

import itertools
import threading
from typing import ClassVar

from aws_helper_sync import Repository, SQSConsumer

_sequence = itertools.count()
_lock = threading.Lock()


class FifoAppliedRepository(Repository):
    collection_name = "fifo_applied"


class FifoWriterConsumer(SQSConsumer):
    processing_mode = "batch"
    handed: ClassVar[list] = []

    def process_batch(self, records):
        collection = FifoAppliedRepository().collection
        for record in records:
            with _lock:
                type(self).handed.append(record["messageId"])
            content = self.parse_body(record)
            receive_count = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            if receive_count <= int(content.get("fail_until_receive", 0)):
                self.add_message_failed(record["messageId"], f"rejected (receive {receive_count})")
                continue
            collection.insert_one({"uid": content["uid"], "group": record["attributes"].get("MessageGroupId"),
                                   "seq": next(_sequence)})
