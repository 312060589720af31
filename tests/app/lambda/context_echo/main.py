"""lambda_handler("context_echo"): what the invocation carried (state, tenant id, event keys, session)."""

from aws_helper_sync import Lambda, get_state


class ContextEchoLambda(Lambda):
    def process(self):
        return {
            "state": get_state(),
            "tenant_id": getattr(self.context, "tenant_id", "no such attribute"),
            "event_keys": sorted(self.event),
            "session": self.event.get("session"),
        }
