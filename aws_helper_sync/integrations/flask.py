"""Flask extension: the constitution-state header selects each request's database.

Legacy Flask services get the same contract as ``api_handler``: every request
carries a valid state (else a JSON 400), repositories inside the view use that
state's database, and the previous value comes back when the request ends, so a
worker thread that serves many requests never carries one request's state into
the next.

    state_routing = StateRouting(app)    # or StateRouting().init_app(app) in a factory
    state_routing.exempt("health")       # or @state_routing.exempt under @app.get(...)
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import Token
from typing import Any, Callable, TypeVar, overload

try:
    from flask import Flask, Response, current_app, request
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "aws_helper_sync.integrations.flask needs Flask: pip install 'aws-helper-sync[flask]'"
    ) from exc

from ..context.state import _state
from .common import (
    DEFAULT_HEADER,
    JSON_CONTENT_TYPE,
    STATELESS_METHODS,
    StateHeaderError,
    check_header_name,
    read_state,
)

__all__ = ["EXEMPT_CONFIG_KEY", "StateRouting"]

EXEMPT_CONFIG_KEY = "CONSTITUTION_STATE_EXEMPT"
"""``app.config`` key: endpoint names (``"health"``, ``"bp.ping"``) that need no state."""

_TOKEN_KEY = "aws_helper_sync.state_token"

ViewT = TypeVar("ViewT", bound=Callable[..., Any])


class StateRouting:
    """Sets the constitution-state from a request header for each Flask request.

    The header is required (missing or invalid: JSON 400 ``{"error", "message"}``)
    except for exempt endpoints, where it is optional but still validated when
    sent. Exempt endpoints come from ``exempt=``, ``app.config[EXEMPT_CONFIG_KEY]``
    and the :meth:`exempt` decorator; ``static`` and OPTIONS requests (CORS
    preflight) are always exempt, and unknown URLs keep their 404/405.

    The state is set with a token before any other ``before_request`` hook and
    reset after every other ``teardown_request`` hook, also when the view raised.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        header: str = DEFAULT_HEADER,
        exempt: Iterable[str] = (),
    ) -> None:
        self.header = check_header_name(header)
        self._exempt_endpoints = {"static", *exempt}
        self._exempt_views: set[Callable[..., Any]] = set()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Install the hooks on ``app`` (application-factory style)."""
        app.extensions["aws_helper_sync.state_routing"] = self
        # First in both lists: before_request hooks run in order, teardown hooks
        # in reverse, so the user's own hooks run inside the request's state.
        app.before_request_funcs.setdefault(None, []).insert(0, self._set_state)
        app.teardown_request_funcs.setdefault(None, []).insert(0, self._reset_state)

    @overload
    def exempt(self, view: str) -> str: ...
    @overload
    def exempt(self, view: ViewT) -> ViewT: ...

    def exempt(self, view: Any) -> Any:
        """Mark a view function (decorator) or an endpoint name as not needing the header."""
        if isinstance(view, str):
            self._exempt_endpoints.add(view)
        else:
            self._exempt_views.add(view)
        return view

    def is_exempt(self, endpoint: str | None) -> bool:
        """Whether requests to ``endpoint`` may come without the state header."""
        if endpoint is None:
            return False
        configured = current_app.config.get(EXEMPT_CONFIG_KEY) or ()
        if isinstance(configured, str):
            configured = (configured,)  # one name, not its substrings
        if endpoint in self._exempt_endpoints or endpoint in configured:
            return True
        view = current_app.view_functions.get(endpoint)
        return view is not None and view in self._exempt_views

    def _set_state(self) -> Response | None:
        if request.routing_exception is not None:
            state: str | None = None  # let Flask answer its 404/405, in no state
        else:
            optional = request.method in STATELESS_METHODS or self.is_exempt(request.endpoint)
            try:
                state = read_state(
                    request.headers.get(self.header), header=self.header, required=not optional
                )
            except StateHeaderError as error:
                return current_app.response_class(
                    error.to_json(), status=error.status, mimetype=JSON_CONTENT_TYPE
                )
        # A request without a state runs with none, whatever the thread held before.
        request.environ[_TOKEN_KEY] = _state.set(state)
        return None

    def _reset_state(self, _error: BaseException | None = None) -> None:
        token: Token[str | None] | None = request.environ.pop(_TOKEN_KEY, None)
        if token is not None:
            _state.reset(token)
