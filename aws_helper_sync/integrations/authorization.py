"""``authorize=``: may this request use its constitution-state? (Flask extension, WSGI middleware)

The same question ``api_handler`` asks of a token bound to states, for services
that authenticate their own way. The callable gets the request (``flask.Request``,
or the WSGI environ) and the validated state, before the state is set::

    def authorize(request, state):
        return authenticate(request.headers).allows(state)   # the API's tokens and bindings

    StateRouting(app, authorize=authorize)
    StateRouting(app, authorize=authorize_bearer_token)        # the same, built in

Only ``True`` lets the request through. ``False`` is a 403, and so is any other
value (``None`` from a missing ``return``, an empty list from ``return allowed and
...``): a check that did not say yes has not allowed anything. An ``HTTPError``
below 500 it raises (``ForbiddenError``, ``UnauthorizedError``) answers with its
status and message. MongoDB being unreachable while it asks (PyMongo's
``ConnectionFailure``, as ``authorize_bearer_token`` meets it looking up a token)
is a JSON 503 "Database unavailable", as ``api_handler`` answers; any other
exception is the server's fault and propagates.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Callable

from ..api.exceptions import HTTPError
from ..errors import DATABASE_UNAVAILABLE, database_unavailable
from .common import StateHeaderError

__all__ = [
    "AUTH_ENVIRON_KEY",
    "Authorize",
    "RequestRefusedError",
    "authorize_bearer_token",
    "check_authorized",
]

logger = logging.getLogger(__name__)

Authorize = Callable[[Any, str], Any]
"""``authorize(request_or_environ, state) -> True`` to allow the request."""

_CODES = {401: "unauthorized", 403: "forbidden_constitution_state"}

AUTH_ENVIRON_KEY = "aws_helper_sync.auth"
"""WSGI environ key where :func:`authorize_bearer_token` leaves the request's ``AuthResult``
(``.user``, ``.data``, ``.allowed_states``); in Flask: ``request.environ[AUTH_ENVIRON_KEY]``."""


class RequestRefusedError(StateHeaderError):
    """A request ``authorize`` refused; answered like a bad header, with its own status."""

    def __init__(self, status: int, message: str) -> None:
        phrase = _phrase(status)
        super().__init__(_CODES.get(status, phrase.lower().replace(" ", "_")), message)
        self.status = status
        self.status_line = f"{status} {phrase}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # an unregistered 4xx such as 499
        return "Client Error"


def check_authorized(authorize: Authorize, subject: Any, state: str) -> None:
    """Run ``authorize(subject, state)``; raise ``RequestRefusedError`` unless it returned True."""
    try:
        allowed = authorize(subject, state)
    except HTTPError as exc:
        if exc.status_code >= 500 or exc.status_code < 400:
            raise
        raise RequestRefusedError(exc.status_code, exc.message) from None
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # the request may succeed later: say so (503, no details), as api_handler does, not "bug"
        logger.exception("authorize %r: MongoDB could not be reached; request for %r refused", authorize, state)
        raise StateHeaderError("database_unavailable", DATABASE_UNAVAILABLE, status=503) from None
    if allowed is True:
        return
    if allowed is not False:
        logger.warning("authorize %r returned %s, not True or False: request for %r refused",
                       authorize, type(allowed).__name__, state)
    raise RequestRefusedError(403, f"not allowed to use constitution-state {state!r}")


def authorize_bearer_token(subject: Any, state: str) -> bool:
    """``authorize=`` with ``api_handler``'s token auth: ``Authorization: Bearer <token>``
    checked against ``tokens``/``users`` in ``AUTH_DB_NAME`` (or ``AUTH_BYPASS_TOKEN``),
    and the token's or user's ``states`` binding. Invalid credential: 401; a state
    outside the binding: 403. ``subject`` is a ``flask.Request`` or a WSGI environ;
    the ``AuthResult`` is left in its environ under :data:`AUTH_ENVIRON_KEY`.
    """
    from ..api.auth import authenticate

    environ = getattr(subject, "environ", subject)
    authorization = environ.get("HTTP_AUTHORIZATION")
    result = authenticate({} if authorization is None else {"authorization": authorization})
    result.check_state(state)
    environ[AUTH_ENVIRON_KEY] = result
    return True
