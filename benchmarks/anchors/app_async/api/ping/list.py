"""GET /ping for aws-python-helper 0.32.0 (runs under its venv)."""

from aws_python_helper.api.base import API


class PingList(API):
    async def process(self):
        self.set_body({"ok": True})
