"""One request, start to finish, in the order of SPEC §5.

    parse event -> authenticate (REQUIRE_AUTH) -> resolve route
    -> constitution-state header (or context.tenant_id; both must agree) -> body -> the credential may use that state
    -> validate() -> process() -> response

Each step maps its errors itself, so that a ``ValueError`` raised by, say, a
broken app file or a bad setting is a 500 (a server fault), while the same
exception from ``validate()``/``process()`` is the client's 400. Error bodies
carry a request id; 500s never carry exception text, which goes to the log.
MongoDB being unreachable (pymongo's ``ConnectionFailure``: server selection
timeout, lost connection) is a 503 "Database unavailable", also without details.
A well-formed state the registry does not know is a 403 (not a 400: the caller
may not use it), an unreadable registry a 503 (fail closed), and the library's
own ``ConfigurationError`` a 500 wherever it is raised.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import settings
from .._lazy import deferred, deferred_logger
from ..context.sources import TENANT_ID_SOURCE, tenant_id
from ..context.state import InvalidStateError, UnknownStateError, _set_validated_state
from ..entrypoint import lifecycle, require_state, require_state_from, run_unit
from ..errors import ConfigurationError, StateRegistryUnavailableError
from .auth import AuthResult, authenticate
from .events import (
    STATE_HEADER,
    ApiRequest,
    RequestBody,
    build_response,
    parse_event,
    response_base_headers,
    shape_response,
)
from .exceptions import HTTPError
from .headers import is_safe_header_value
from .router import Route, resolve_route

if TYPE_CHECKING:
    import uuid

    from .base import API
else:
    uuid = deferred(__name__, "uuid", "uuid")  # only for a request without an id (cold start)

logger = deferred_logger(__name__, "logger", "aws_helper_sync.api")

INTERNAL_ERROR = "Internal server error"
DATABASE_UNAVAILABLE = "Database unavailable"
REGISTRY_UNAVAILABLE = "State registry unavailable"
STATE_HEADER_SOURCE = f"{STATE_HEADER} header"


def request_id_of(event: Any, context: Any) -> str:
    """The Lambda invocation id, else API Gateway's request id, else a fresh one (it goes out
    as X-Request-Id: an id that would forge a header is not used)."""
    rid = getattr(context, "aws_request_id", None) if context is not None else None
    if isinstance(rid, str) and rid and is_safe_header_value(rid):
        return rid
    if type(event) is dict or isinstance(event, Mapping):
        request_context = event.get("requestContext")
        if type(request_context) is dict or isinstance(request_context, Mapping):
            rid = request_context.get("requestId")
            if isinstance(rid, str) and rid and is_safe_header_value(rid):
                return rid
    return uuid.uuid4().hex


def dispatch(event: Any, context: Any = None) -> dict[str, Any]:
    """Handle one API Gateway event in its own context (no state leaks in or out)."""
    steps = _Dispatch(event, context)
    try:
        response = run_unit(None, steps.run)
    except Exception:  # last resort: the handler must always answer
        request_id = steps.request_id or request_id_of(event, context)
        logger.exception("unhandled error while dispatching request %s", request_id)
        response = build_response(
            500, _error_body(INTERNAL_ERROR, request_id), {"X-Request-Id": request_id}
        )
    request = steps.request  # when parsed, its kind and method are not worked out again
    if request is None:
        return shape_response(response, event)
    # v2 cookies, v1/ALB multiValueHeaders, HEAD; single string values unless the API set its own
    return shape_response(response, event, request.kind, request.method, steps.single_values)


def _error_body(message: str, request_id: str) -> dict[str, Any]:
    return {"error": True, "message": message, "request_id": request_id}


class _Dispatch:
    """The steps of one request; an object only to share its few values between them."""

    __slots__ = ("base_headers", "context", "event", "request", "request_id", "single_values")

    def __init__(self, event: Any, context: Any) -> None:
        self.event = event
        self.context = context
        self.request_id = ""  # set first thing in run()
        self.request: ApiRequest | None = None
        self.single_values = True  # every header of the response one string, none Set-Cookie
        self.base_headers: dict[str, str] = {}  # until the CORS settings are read

    def run(self) -> dict[str, Any]:
        self.request_id = request_id = request_id_of(self.event, self.context)
        try:
            allow_origin, require_auth = settings.api_settings()
        except Exception:
            logger.exception("invalid API configuration (request %s)", request_id)
            self.base_headers = {"X-Request-Id": request_id}
            return self._server_error()
        try:
            self.request = request = parse_event(self.event)
        except HTTPError as exc:
            self.base_headers = response_base_headers(allow_origin, request_id, None)
            return self._http_error(exc)
        self.base_headers = response_base_headers(allow_origin, request_id, request.headers)
        if request.method == "OPTIONS":  # CORS preflight: browsers send no credentials
            return build_response(204, None, self.base_headers)

        # authenticate -> route -> state -> body: only the expected refusals are 4xx
        try:
            auth = authenticate(request.headers) if require_auth else None
            api_class, route = resolve_route(request.method, request.segments)
        except HTTPError as exc:
            return self._http_error(exc)
        except Exception as exc:
            logger.exception("%s: authentication or route loading failed (request %s)",
                             self._where(), request_id)
            return self._server_error(exc)
        try:
            tenant = tenant_id(self.context)  # Lambda tenant isolation: the tenant id must agree
            state = (require_state(request.state_header(), STATE_HEADER_SOURCE) if tenant is None
                     else require_state_from(((STATE_HEADER_SOURCE, request.state_header()),
                                              (TENANT_ID_SOURCE, tenant))))
            body = request.read_body(api_class.body_format, api_class.content_types)
        except UnknownStateError as exc:  # well spelled, not served here: forbidden, not malformed
            return self._client_error(403, str(exc))
        except (HTTPError, InvalidStateError) as exc:
            return self._client_error(getattr(exc, "status_code", 400), str(exc))
        except (StateRegistryUnavailableError, ConfigurationError) as exc:
            logger.exception("%s: the constitution-state could not be checked (request %s)",
                             self._where(), request_id)
            return self._server_error(exc)
        try:
            if auth is not None:
                auth.check_state(state)  # a token or user bound to other states: 403
        except HTTPError as exc:
            return self._http_error(exc)
        _set_validated_state(state)  # dispatch() already runs this request in its own context
        return self._serve(request, api_class, route, body, auth)

    def _serve(self, request: ApiRequest, api_class: type[API], route: Route,
               body: RequestBody, auth: AuthResult | None) -> dict[str, Any]:
        """validate() -> process() -> response, in the request's own context with its state set
        (so every log line of the request, errors included, carries the state)."""
        try:
            api = api_class._for_request(request, route.path_parameters, body, auth,
                                         self.request_id, self.context)
        except Exception:
            logger.exception("%s: %s() failed (request %s)",
                             self._where(), api_class.__name__, self.request_id)
            return self._server_error()
        try:
            result = lifecycle(api)
            if result is not None:
                api._take_result(result)
        except HTTPError as exc:
            return self._http_error(exc)
        except UnknownStateError as exc:  # e.g. process() switching to a state it may not use
            return self._client_error(403, str(exc))
        except ValueError as exc:
            return self._client_error(400, str(exc) or "Bad request")
        except Exception as exc:
            logger.exception("%s: %s failed (request %s)",
                             self._where(), api_class.__name__, self.request_id)
            return self._server_error(exc)
        try:
            # the API's own header dict, not the copy ``response_headers`` makes: only read here
            own_headers = api._headers
            self.single_values = not own_headers
            return build_response(api.status_code, api.response_body, self.base_headers, own_headers)
        except Exception:
            logger.exception("%s: the response of %s could not be serialized (request %s)",
                             self._where(), api_class.__name__, self.request_id)
            return self._server_error()

    def _where(self) -> str:
        if self.request is None:
            return "(malformed event)"
        return f"{self.request.method} {self.request.path}"

    def _http_error(self, exc: HTTPError) -> dict[str, Any]:
        if exc.status_code >= 500:  # a server fault, whoever raised it: details stay in the log
            logger.error("%s: %s (request %s)", self._where(), exc.message, self.request_id,
                         exc_info=exc)
            return self._server_error()
        return self._client_error(exc.status_code, exc.message)

    def _client_error(self, status: int, message: str) -> dict[str, Any]:
        logger.info("%s -> %d: %s (request %s)", self._where(), status, message, self.request_id)
        headers = self.base_headers
        if status == 401:  # RFC 7235: say which scheme would be accepted
            headers = {**headers, "WWW-Authenticate": 'Bearer realm="api"'}
        return build_response(status, _error_body(message, self.request_id), headers)

    def _server_error(self, exc: BaseException | None = None) -> dict[str, Any]:
        """The generic 500, or 503 when MongoDB or the state registry could not be reached;
        the caller has logged the exception (never sent to the client)."""
        if isinstance(exc, StateRegistryUnavailableError):  # fail closed, but say it may pass later
            return build_response(503, _error_body(REGISTRY_UNAVAILABLE, self.request_id), self.base_headers)
        if database_unavailable(exc):  # the request may succeed later: say so, not "bug"
            return build_response(503, _error_body(DATABASE_UNAVAILABLE, self.request_id), self.base_headers)
        return build_response(500, _error_body(INTERNAL_ERROR, self.request_id), self.base_headers)


def database_unavailable(exc: BaseException | None) -> bool:
    """True for PyMongo's "no server to talk to" errors (``ConnectionFailure``: server
    selection timeout, AutoReconnect, network timeout, pool wait-queue timeout).

    Looked up in ``sys.modules`` so the API never imports pymongo just to ask: an
    exception cannot be a PyMongo error before pymongo has been imported.
    """
    errors = sys.modules.get("pymongo.errors")
    return errors is not None and isinstance(exc, errors.ConnectionFailure)
