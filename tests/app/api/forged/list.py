"""GET /forged?name=&value=&via=: puts client text into a response header (the bug under test).

``via`` is how the header is set: ``set_header`` (default), ``set_headers``,
``returned`` (an ApiResponse dict) or ``direct`` (writing ``_headers`` itself,
past every setter, to reach the last check in ``build_response``).
"""

from aws_helper_sync import API, ApiResponse


class ForgedList(API):
    def process(self):
        name = self.query_parameters.get("name", "X-Echo")
        value = self.query_parameters.get("value", "")
        via = self.query_parameters.get("via", "set_header")
        if via == "set_headers":
            self.set_headers({"X-Fine": "1", name: value})
        elif via == "returned":
            return ApiResponse.success({"echo": value}, headers={name: value})
        elif via == "direct":
            self._headers[name] = value
        else:
            self.set_header(name, value)
        self.set_body({"echo": value})
        return None
