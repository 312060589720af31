"""GET /asynchook: an endpoint written for the async framework (refused when loaded)."""

from aws_helper_sync import API


class AsynchookList(API):
    async def process(self):
        return {"never": "awaited"}
