"""The API the ``tests/app/api/payloads`` routes share: it answers what the dispatcher made of the request."""

from __future__ import annotations

import base64
from typing import Any

from aws_helper_sync import API, get_state


class RequestEcho(API):
    """Answers the request as the route saw it: method, ids, query, data, raw body (base64), state."""

    def process(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path_parameters": self.path_parameters,
            "query": self.query_parameters,
            "multi": self.multi_query_parameters,
            "data": self.data,
            "raw_body": base64.b64encode(self.raw_body).decode(),
            "state": get_state(),
        }
