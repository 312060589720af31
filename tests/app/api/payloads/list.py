"""GET /payloads: what the dispatcher made of the request (ids, query, body)."""

from tests.api_echo import RequestEcho


class PayloadsList(RequestEcho):
    pass
