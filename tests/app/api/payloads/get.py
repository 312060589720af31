"""GET /payloads/<id>: what the dispatcher made of the request (ids, query, body)."""

from tests.api_echo import RequestEcho


class PayloadsGet(RequestEcho):
    pass
