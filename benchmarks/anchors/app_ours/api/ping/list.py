"""GET /ping: the trivial route (framework overhead only)."""

from aws_helper_sync.api.base import API


class PingList(API):
    def process(self):
        self.set_body({"ok": True})
