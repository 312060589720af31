"""Consumer of the worker-crash scenario (tests/test_reliability_idempotency.py).

``@idempotent`` with a 3 s in-progress timeout. On a message's first delivery
the body records an attempt and hangs (the test kills the worker process with
SIGKILL there); on a later delivery it writes the one side-effect document.
"""

import time

from aws_helper_sync import Repository, SQSConsumer, get_state
from aws_helper_sync.idempotency import idempotent

IN_PROGRESS_TIMEOUT = 3.0


class AttemptsRepository(Repository):
    collection_name = "attempts"


class EffectsRepository(Repository):
    collection_name = "effects"


class HangingEffectsConsumer(SQSConsumer):
    @idempotent(key="uid", in_progress_timeout=IN_PROGRESS_TIMEOUT)
    def process_record(self, record):
        content = self.parse_body(record)
        receive_count = int(record["attributes"]["ApproximateReceiveCount"])
        AttemptsRepository().collection.insert_one({"uid": content["uid"], "receive_count": receive_count})
        if receive_count == 1:
            time.sleep(60)  # the worker process is killed here
        EffectsRepository().collection.insert_one(
            {"uid": content["uid"], "state": get_state(), "receive_count": receive_count},
        )
