"""Batch consumer of the no-loss test: one idempotent upsert per message uid.

Content ``{"uid": ..., "fault": None | "transient" | "permanent"}``:
``transient`` fails on the first receive only, ``permanent`` always fails.
A success is an upsert keyed by the uid, so a redelivered message can never
make a second document; ``writes`` counts how often a uid was written and
``receive_count`` records on which delivery that happened. The receipt
handles of successful records are kept so the test can compare them with
what the worker deleted.
"""

import threading

from pymongo import UpdateOne

from aws_helper_sync import Repository, SQSConsumer, get_state


class LedgerRepository(Repository):
    collection_name = "ledger"


class LedgerConsumer(SQSConsumer):
    processing_mode = "batch"

    def __init__(self):
        self._lock = threading.Lock()
        self.succeeded_receipts = set()
        self.attempts = 0

    def process_batch(self, records):
        operations, receipts = [], []
        for record in records:
            content = self.parse_body(record)
            receive_count = int(record["attributes"]["ApproximateReceiveCount"])
            fault = content.get("fault")
            if fault == "permanent" or (fault == "transient" and receive_count == 1):
                self.add_message_failed(record["messageId"], f"{fault} fault on receive {receive_count}")
                continue
            operations.append(UpdateOne(
                {"_id": content["uid"]},
                {"$set": {"state": get_state(), "fault": fault, "receive_count": receive_count},
                 "$inc": {"writes": 1}},
                upsert=True,
            ))
            receipts.append(record["receiptHandle"])
        if operations:
            LedgerRepository().collection.bulk_write(operations, ordered=False)
        with self._lock:
            self.attempts += len(records)
            self.succeeded_receipts.update(receipts)
