"""GET /payloads: what the dispatcher made of the request (ids, query, body)."""

import base64

from aws_helper_sync import API, get_state


class PayloadsList(API):
    def process(self):
        return {
            "method": self.method,
            "path_parameters": self.path_parameters,
            "query": self.query_parameters,
            "multi": self.multi_query_parameters,
            "data": self.data,
            "raw_body": base64.b64encode(self.raw_body).decode(),
            "state": get_state(),
        }
