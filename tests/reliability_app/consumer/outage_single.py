"""Single-mode consumer of the outage test: one upsert per record.

``after_write`` (set by the test) is called after each successful write with
the running count, so the test can kill MongoDB between two records.
"""

from __future__ import annotations

import threading
from typing import Callable, ClassVar

from aws_helper_sync import Repository, SQSConsumer, get_state

_lock = threading.Lock()


class OutageRepository(Repository):
    collection_name = "outage_records"


class OutageSingleConsumer(SQSConsumer):
    after_write: ClassVar[Callable[[int], None] | None] = None
    written: ClassVar[int] = 0

    def process_record(self, record):
        content = self.parse_body(record)
        OutageRepository().collection.update_one(
            {"_id": content["uid"]},
            {"$set": {"state": get_state()}, "$inc": {"writes": 1}},
            upsert=True,
        )
        with _lock:
            type(self).written += 1
            count = type(self).written
        hook = type(self).after_write
        if hook is not None:
            hook(count)
