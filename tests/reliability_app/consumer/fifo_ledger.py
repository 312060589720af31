"""Batch consumer of test_reliability_sqs_delivery.py (FIFO order): applies each record inside its loop.

Every record handed out is applied at once (one document in ``fifo_ledger``
with a process-wide sequence number), except that a record whose content has
``fault: "transient"`` is marked failed on its first delivery. ``handed``
counts the records the loop received: one handed after its group failed would
be applied out of order.
"""

import itertools
import threading
from typing import ClassVar

from aws_helper_sync import Repository, SQSConsumer

_sequence = itertools.count()
_lock = threading.Lock()


class FifoLedgerRepository(Repository):
    collection_name = "fifo_ledger"


class FifoLedgerConsumer(SQSConsumer):
    processing_mode = "batch"
    handed: ClassVar[int] = 0

    def process_batch(self, records):
        collection = FifoLedgerRepository().collection
        for record in records:
            with _lock:
                type(self).handed += 1
            content = self.parse_body(record)
            receive_count = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            if content.get("fault") == "transient" and receive_count == 1:
                self.add_message_failed(record["messageId"], "transient fault (first delivery)")
                continue
            collection.insert_one({"uid": content["uid"], "group": content["group"], "index": content["index"],
                                   "receive_count": receive_count, "seq": next(_sequence)})
