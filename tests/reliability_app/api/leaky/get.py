"""GET /leaky/<kind>: fails in the way named by ``kind``, with secrets in the exception.

Every message carries this file's path and the caller's bearer token, so a
response that leaked exception text would show them (auth-hardening test).
"""

from aws_helper_sync import API, get_state
from aws_helper_sync.api.exceptions import ForbiddenError, HTTPError


def _token(api):
    return api.headers.get("authorization", "")


def _recurse(n):
    return _recurse(n + 1)


FAILURES = {
    "runtime": lambda api: (_ for _ in ()).throw(RuntimeError(f"failed in {__file__} for {_token(api)}")),
    "key": lambda api: {}[f"{__file__}:{_token(api)}"],
    "os": lambda api: open(f"/nonexistent/{_token(api)}/secret.txt"),  # noqa: SIM115 - it never opens
    "http500": lambda api: (_ for _ in ()).throw(HTTPError(f"upstream said {__file__} {_token(api)}")),
    "bad-code": lambda api: api.set_code(999),
    "unserializable": lambda api: api.set_body({"handle": object(), "where": __file__}),
    "recursion": lambda api: _recurse(0),
    "assertion": lambda api: (_ for _ in ()).throw(AssertionError(f"{__file__} {_token(api)}")),
    "mongo": lambda api: api.db[get_state()].leaky.find_one({"$bogusOperator": __file__}),
    "forbidden": lambda api: (_ for _ in ()).throw(ForbiddenError("clerks only")),
}


class LeakyGet(API):
    def process(self):
        FAILURES[self.path_parameters[0]](self)
