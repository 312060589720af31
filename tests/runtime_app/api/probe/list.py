"""GET /probe: the Lambda context as an API sees it."""

from aws_helper_sync import API, get_state


class ProbeList(API):
    def process(self):
        return {
            "state": get_state(),
            "remaining_ms": self.context.get_remaining_time_in_millis(),
            "tenant_id": self.context.tenant_id,
            "request_id": self.context.aws_request_id,
        }
