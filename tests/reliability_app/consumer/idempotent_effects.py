"""Single-mode consumer of the idempotency exactly-once run (tests/test_reliability_idempotency.py).

Content ``{"uid": ..., "dup": None | "publish" | "redeliver"}``. The hook is
``@idempotent`` with the default key, a hash of the message content, so a
second publish of the same content (new SNS and SQS message ids) and a
redelivery of the same message are both the same key. Every run of the body
inserts one side-effect document (no unique index: a second run would show as
a second document). A ``redeliver`` message asks, on its first run, that the
worker's delete of it be lost (the test drops that entry from
DeleteMessageBatch), so SQS delivers it again after the visibility timeout,
as after a crash between the write and the delete.
"""

import threading

from aws_helper_sync import Repository, SQSConsumer, get_state
from aws_helper_sync.idempotency import idempotent


class EffectsRepository(Repository):
    collection_name = "effects"
    indexes = ({"key": [("uid", 1)]},)


class IdempotentEffectsConsumer(SQSConsumer):
    def __init__(self):
        self._lock = threading.Lock()
        self.body_runs = 0
        self.lose_delete = set()  # receipt handles whose delete the test drops

    @idempotent
    def process_record(self, record):
        content = self.parse_body(record)
        receive_count = int(record["attributes"]["ApproximateReceiveCount"])
        EffectsRepository().collection.insert_one({
            "uid": content["uid"], "state": get_state(), "message_id": record["messageId"],
            "receive_count": receive_count,
        })
        with self._lock:
            self.body_runs += 1
            if content.get("dup") == "redeliver" and receive_count == 1:
                self.lose_delete.add(record["receiptHandle"])
