"""WSGI middleware: the constitution-state header selects each request's database.

For any WSGI framework (Django, Falcon, Bottle, Pyramid, a bare callable): the
request and the iteration of its response body run in a context of their own
with the header's state set, so a streamed body still sees its state and the
server thread never keeps it afterwards.

    application = StateMiddleware(application, exempt_paths=["/health", "/static/"])
    # a request without the header, outside exempt_paths -> 400 JSON
    application = StateMiddleware(application, authorize=lambda environ, state: ...)
    # True lets the request use its state; False, anything else, ForbiddenError -> 403 JSON
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..context.state import _state
from .authorization import Authorize, check_authorized
from .common import (
    DEFAULT_HEADER,
    JSON_CONTENT_TYPE,
    STATELESS_METHODS,
    StateHeaderError,
    check_header_name,
    environ_key,
    read_state,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["StateMiddleware"]


class StateMiddleware:
    """Wraps a WSGI app; every request runs in its own context with the header's state.

    The header (``constitution-state`` by default) is required, except on
    ``exempt_paths`` and for OPTIONS (CORS preflight), where it is optional but
    still validated when sent. An entry of ``exempt_paths`` matches ``PATH_INFO``
    exactly, or every path below it when it ends with ``/``. Missing or invalid:
    ``400`` with ``{"error", "message"}`` JSON, and the app is not called.

    ``authorize(environ, state)``, when given, decides whether a request may use
    its (valid) state: only ``True`` lets it through; ``False``, any other value,
    or a ``ForbiddenError`` is a JSON 403, an ``UnauthorizedError`` a 401, and the
    app is not called. It runs for every request that has a state, in the
    request's own context but before the state is set.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        header: str = DEFAULT_HEADER,
        exempt_paths: Iterable[str] = (),
        authorize: Authorize | None = None,
    ) -> None:
        if authorize is not None and not callable(authorize):
            raise TypeError(f"authorize must be a callable (environ, state) -> bool, got {authorize!r}")
        self.app = app
        self.authorize = authorize
        self.header = check_header_name(header)
        self._environ_key = environ_key(self.header)
        paths = list(exempt_paths)
        self._exempt_exact = frozenset(p for p in paths if not p.endswith("/"))
        self._exempt_prefixes = tuple(p for p in paths if p.endswith("/"))

    def is_exempt(self, path: str) -> bool:
        """Whether requests to ``path`` (``PATH_INFO``) may come without the state header."""
        return path in self._exempt_exact or path.startswith(self._exempt_prefixes)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        optional = environ.get("REQUEST_METHOD") in STATELESS_METHODS or self.is_exempt(
            environ.get("PATH_INFO", "")
        )
        # A copy, not a token on the server's context: nothing to undo, even if a
        # server never calls close(), and a request without a state has none.
        context = contextvars.copy_context()
        try:
            state = read_state(
                environ.get(self._environ_key), header=self.header, required=not optional
            )
            if state is not None and self.authorize is not None:
                context.run(check_authorized, self.authorize, environ, state)
        except StateHeaderError as error:
            body = error.to_json()
            start_response(
                error.status_line,
                [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(body)))],
            )
            return [body]
        context.run(_state.set, state)
        result = context.run(self.app, environ, start_response)
        if isinstance(result, (list, tuple)):
            return result  # already produced inside the context
        return _BodyInContext(context, result)


class _BodyInContext:
    """A response body whose iteration and close() run in the request's context."""

    def __init__(self, context: contextvars.Context, body: Iterable[bytes]) -> None:
        self._context = context
        self._body = body
        self._iterator: Iterator[bytes] | None = None

    def __iter__(self) -> _BodyInContext:
        return self

    def __next__(self) -> bytes:
        if self._iterator is None:
            self._iterator = self._context.run(iter, self._body)
        return self._context.run(next, self._iterator)

    def close(self) -> None:
        close: Any = getattr(self._body, "close", None)
        if close is not None:
            self._context.run(close)
