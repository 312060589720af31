"""Single-mode consumer of the fuzz tests (database-free): accepts only well-formed records.

A record is good when it runs in a state and its content is
``{"uid": str, "n": int 0..1000}``; anything else raises, so the record fails.
"""

from aws_helper_sync import SQSConsumer, get_state


def problem(content):
    """Why the record is bad, or None (consumer/strict_batch.py uses it too)."""
    if get_state() is None:
        return "record has no constitution-state"
    if not isinstance(content, dict) or not isinstance(content.get("uid"), str):
        return "content must be an object with a string uid"
    n = content.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 1000:
        return "n must be an integer from 0 to 1000"
    return None


class StrictConsumer(SQSConsumer):
    def process_record(self, record):
        reason = problem(self.parse_body(record))
        if reason is not None:
            raise ValueError(reason)
