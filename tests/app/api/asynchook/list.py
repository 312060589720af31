"""GET /asynchook: written for the asyncio framework; must be refused, not half-run."""

from aws_helper_sync import API


class AsynchookList(API):
    async def process(self):
        return {"never": "awaited"}
