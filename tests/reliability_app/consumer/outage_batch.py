"""Batch consumer of the outage test: one upsert per record, in order.

``after_write`` (set by the test) is called with the number of records
written so far in this call, so the test can kill MongoDB between two
writes of one batch. A database error propagates: the whole state group is
reported failed and redelivered, and the upserts make the replay harmless.
"""

from __future__ import annotations

from typing import Callable, ClassVar

from aws_helper_sync import Repository, SQSConsumer, get_state


class OutageRepository(Repository):
    collection_name = "outage_records"


class OutageBatchConsumer(SQSConsumer):
    processing_mode = "batch"
    after_write: ClassVar[Callable[[int], None] | None] = None

    def process_batch(self, records):
        collection = OutageRepository().collection
        for written, record in enumerate(records, start=1):
            content = self.parse_body(record)
            collection.update_one(
                {"_id": content["uid"]},
                {"$set": {"state": get_state()}, "$inc": {"writes": 1}},
                upsert=True,
            )
            hook = type(self).after_write
            if hook is not None:
                hook(written)
