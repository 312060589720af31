"""Flask extension: the constitution-state header selects each request's database.

Legacy Flask services get the same contract as ``api_handler``: every request
carries a valid state (else a JSON 400), repositories inside the view use that
state's database, and the previous value comes back when the request ends, so a
worker thread that serves many requests never carries one request's state into
the next.

    state_routing = StateRouting(app)    # or StateRouting().init_app(app) in a factory
    state_routing.exempt("health")       # or @state_routing.exempt under @app.get(...)
    StateRouting(app, authorize=lambda request, state: ...)  # True to allow, else 403

``flask.copy_current_request_context`` keeps the state: a copied context sees
the state current when it was copied, in this thread or another, and its
teardown never resets the original request's (each context resets only what it
set itself). ``stream_with_context`` bodies are produced in the request's state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextvars import Token
from typing import Any, Callable, TypeVar, overload

try:
    from flask import Flask, Response, current_app, request
    from flask.ctx import RequestContext
    from flask.globals import request_ctx
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "aws_helper_sync.integrations.flask needs Flask: pip install 'aws-helper-sync[flask]'"
    ) from exc

from ..context.state import _state, get_state
from .authorization import Authorize, check_authorized
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

# Kept on the request context object, not in request.environ: a copied context
# shares the environ (and the request), and must never find the original's token.
_TOKEN_ATTR = "_aws_helper_sync_state_token"
_CARRIED_ATTR = "_aws_helper_sync_carried_state"
_PUSH_TOKENS_ATTR = "_aws_helper_sync_push_tokens"

ViewT = TypeVar("ViewT", bound=Callable[..., Any])
_P = TypeVar("_P")


class StateRouting:
    """Sets the constitution-state from a request header for each Flask request.

    The header is required (missing or invalid: JSON 400 ``{"error", "message"}``)
    except for exempt endpoints, where it is optional but still validated when
    sent. Exempt endpoints come from ``exempt=``, ``app.config[EXEMPT_CONFIG_KEY]``
    and the :meth:`exempt` decorator; ``static`` and OPTIONS requests (CORS
    preflight) are always exempt, and unknown URLs keep their 404/405.

    The state is set with a token before any other ``before_request`` hook and
    reset after every other ``teardown_request`` hook, also when the view raised.

    ``authorize(request, state)``, when given, decides whether a request may use
    its (valid) state: only ``True`` lets it through; ``False``, any other value,
    or a ``ForbiddenError`` is a JSON 403, an ``UnauthorizedError`` a 401. It
    runs for every request that has a state, before the state is set and before
    your own ``before_request`` hooks.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        header: str = DEFAULT_HEADER,
        exempt: Iterable[str] = (),
        authorize: Authorize | None = None,
    ) -> None:
        if authorize is not None and not callable(authorize):
            raise TypeError(f"authorize must be a callable (request, state) -> bool, got {authorize!r}")
        self.header = check_header_name(header)
        self.authorize = authorize
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
                if state is not None and self.authorize is not None:
                    check_authorized(self.authorize, _unproxied(request), state)
            except StateHeaderError as error:
                return current_app.response_class(
                    error.to_json(), status=error.status, mimetype=JSON_CONTENT_TYPE
                )
        context = _unproxied(request_ctx)
        # A request without a state runs with none, whatever the thread held before.
        setattr(context, _TOKEN_ATTR, _state.set(state))
        _carry_state(context, state)
        return None

    def _reset_state(self, _error: BaseException | None = None) -> None:
        # Only the context that set a token resets it: the teardown of a copy
        # (copy_current_request_context) runs these hooks too, and must not.
        token: Token[str | None] | None = vars(_unproxied(request_ctx)).pop(_TOKEN_ATTR, None)
        if token is not None:
            _state.reset(token)


def _unproxied(proxy: _P) -> _P:
    """The object behind one of Flask's context-local proxies (typed as that object itself)."""
    current: Callable[[], _P] = getattr(proxy, "_get_current_object")  # noqa: B009 - not on _P's type
    return current()


class _StateCarryingContext:
    """Mixed into the class of a request context so that each later push carries the state.

    Flask pushes a request context again outside the request's own lifetime:
    ``copy_current_request_context`` pushes a copy (in this thread or another),
    and ``stream_with_context`` pushes the original while the server iterates the
    body, after the request's teardown. Each such push sets the state the
    context carries (a copy: the state current when it was copied; the original:
    the request's) and its pop puts back what that thread had before, after the
    teardown hooks ran. Flask's own copy() builds the copy, so its session and
    request are Flask's.
    """

    def copy(self) -> Any:
        copied = super().copy()  # type: ignore[misc]  # type(self)(...): carries too
        setattr(copied, _CARRIED_ATTR, get_state())
        return copied

    def push(self) -> None:
        attributes = vars(self)
        if _CARRIED_ATTR not in attributes:
            super().push()  # type: ignore[misc]
            return
        tokens = attributes.setdefault(_PUSH_TOKENS_ATTR, [])
        tokens.append(_state.set(attributes[_CARRIED_ATTR]))
        try:
            super().push()  # type: ignore[misc]
        except BaseException:
            _state.reset(tokens.pop())
            raise

    def pop(self, *args: Any, **kwargs: Any) -> None:
        tokens = vars(self).get(_PUSH_TOKENS_ATTR)
        try:
            super().pop(*args, **kwargs)  # type: ignore[misc]
        finally:
            if tokens:
                _state.reset(tokens.pop())


_carrying_classes: dict[type, type] = {}
_carrying_classes_lock = threading.Lock()


def _carry_state(context: RequestContext, state: str | None) -> None:
    """Make the later pushes of ``context`` and of its copies carry ``state`` (see
    _StateCarryingContext); the push Flask made before this request's hooks is not one."""
    setattr(context, _CARRIED_ATTR, state)
    base = type(context)
    if issubclass(base, _StateCarryingContext):
        return
    carrying = _carrying_classes.get(base)
    if carrying is None:
        with _carrying_classes_lock:
            carrying = _carrying_classes.get(base)
            if carrying is None:
                carrying = type(base.__name__, (_StateCarryingContext, base), {
                    "__module__": base.__module__, "__qualname__": base.__qualname__,
                })
                _carrying_classes[base] = carrying
    context.__class__ = carrying
