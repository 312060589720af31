"""POST /payloads (the default json body_format): what the dispatcher made of the request (ids, query, body)."""

from tests.api_echo import RequestEcho


class PayloadsPost(RequestEcho):
    pass
