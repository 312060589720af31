"""Single-mode consumer of the tests: records what each record saw.

Content flags: ``fail`` raises, ``mark_failed`` uses add_message_failed,
``set_state`` changes the state inside the record (must not leak),
``fail_until_receive: n`` fails while ApproximateReceiveCount <= n.
"""

import threading
from typing import ClassVar

from aws_helper_sync import SQSConsumer, get_state, set_state

_lock = threading.Lock()


class StateRecorderConsumer(SQSConsumer):
    seen: ClassVar[list] = []  # (messageId, state, content), reset by each fresh import

    def process_record(self, record):
        content = self.parse_body(record)
        flags = content if isinstance(content, dict) else {}
        with _lock:
            type(self).seen.append((record["messageId"], get_state(), content))
        if flags.get("set_state"):
            set_state(flags["set_state"])
        if flags.get("fail"):
            raise ValueError(f"asked to fail: {record['messageId']}")
        if flags.get("mark_failed"):
            self.add_message_failed(record["messageId"], "marked failed on purpose")
        receive_count = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        if receive_count <= int(flags.get("fail_until_receive", 0)):
            raise RuntimeError(f"failing receive {receive_count}")
