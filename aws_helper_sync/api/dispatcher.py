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

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import settings
from .._lazy import deferred, deferred_logger
from ..context.sources import TENANT_ID_SOURCE, tenant_id
from ..context.state import InvalidStateError, UnknownStateError, _set_validated_state
from ..entrypoint import known_state, lifecycle, require_state_from, run_unit
from ..errors import (
    DATABASE_UNAVAILABLE,
    REGISTRY_UNAVAILABLE,
    ConfigurationError,
    StateRegistryUnavailableError,
    database_unavailable,
)
from .auth import authenticate
from .base import api_for_request
from .events import (
    ALB,
    STATE_HEADER,
    ApiRequest,
    build_response,
    fixed_base_headers,
    parse_event,
    response_base_headers,
    shape_response,
)
from .exceptions import HTTPError
from .headers import is_safe_header_value
from .router import find_route

if TYPE_CHECKING:
    import uuid
else:
    uuid = deferred(__name__, "uuid", "uuid")  # only for a request without an id (cold start)

logger = deferred_logger(__name__, "logger", "aws_helper_sync.api")

INTERNAL_ERROR = "Internal server error"
STATE_HEADER_SOURCE = f"{STATE_HEADER} header"


def request_id_of(event: Any, context: Any) -> str:
    """The Lambda invocation id, else API Gateway's request id, else a fresh one (it goes out
    as X-Request-Id: an id that would forge a header is not used)."""
    rid = lambda_request_id(context)
    if rid is not None:
        return rid
    if type(event) is dict or isinstance(event, Mapping):
        request_context = event.get("requestContext")
        if type(request_context) is dict or isinstance(request_context, Mapping):
            rid = request_context.get("requestId")
            if isinstance(rid, str) and rid and is_safe_header_value(rid):
                return rid
    return uuid.uuid4().hex


def lambda_request_id(context: Any) -> str | None:
    """``context.aws_request_id`` when it is one that can be sent as a header, else None."""
    rid = getattr(context, "aws_request_id", None) if context is not None else None
    return rid if isinstance(rid, str) and rid and is_safe_header_value(rid) else None


def dispatch(event: Any, context: Any = None) -> dict[str, Any]:
    """Handle one API Gateway event in its own context (no state leaks in or out)."""
    try:
        return run_unit(None, _handle, event, context)
    except Exception:  # last resort: the handler must always answer
        request_id = request_id_of(event, context)
        logger.exception("unhandled error while dispatching request %s", request_id)
        return shape_response(
            build_response(500, _error_body(INTERNAL_ERROR, request_id), {"X-Request-Id": request_id}),
            event,
        )


def _error_body(message: str, request_id: str) -> dict[str, Any]:
    return {"error": True, "message": message, "request_id": request_id}


def _api_config() -> tuple[str, bool, str | None, dict[str, str] | None]:
    allow_origin, require_auth, root = settings.api_settings()
    return allow_origin, require_auth, root, fixed_base_headers(allow_origin)


api_config = settings.environ_memo(_api_config, *settings.API_VARIABLES)
"""``settings.api_settings()`` and the base response headers they fix (``fixed_base_headers``),
worked out once per value of the variables: what every request reads first."""


def _handle(event: Any, context: Any) -> dict[str, Any]:
    """The steps of one request, in its own context; the response shaped for the event kind.

    What the steps share lives in locals: a refusal builds its ``_Refusal`` only
    when it happens.
    """
    try:
        allow_origin, require_auth, root, fixed_headers = api_config()
    except Exception:
        refused_id = request_id_of(event, context)
        logger.exception("invalid API configuration (request %s)", refused_id)
        return _Refusal(event, None, refused_id, {"X-Request-Id": refused_id}).server_error()
    try:
        request = parse_event(event)
    except HTTPError as exc:
        refused_id = request_id_of(event, context)
        return _Refusal(event, None, refused_id,
                        response_base_headers(allow_origin, refused_id, None)).http_error(exc)
    # (request_id_of, with the event already read)
    request_id = None if context is None else lambda_request_id(context)
    if request_id is None:
        request_id = request.request_id
        if request_id is None or not is_safe_header_value(request_id):
            request_id = uuid.uuid4().hex
    if fixed_headers is None:  # several allowed origins: the caller's Origin decides
        base_headers = response_base_headers(allow_origin, request_id, request.headers)
    else:  # (response_base_headers, without the call)
        base_headers = fixed_headers.copy()
        base_headers["X-Request-Id"] = request_id
    kind, method = request.kind, request.method  # so the response is not worked out again from the event
    if method == "OPTIONS":  # CORS preflight: browsers send no credentials
        return shape_response(build_response(204, None, base_headers), event, kind, method, True)

    # authenticate -> route -> state -> body: only the expected refusals are 4xx
    try:
        auth = authenticate(request.headers) if require_auth else None
        api_class, _, path_parameters = find_route(method, request.segments, root or os.getcwd())
    except HTTPError as exc:
        return _Refusal(event, request, request_id, base_headers).http_error(exc)
    except Exception as exc:
        refusal = _Refusal(event, request, request_id, base_headers)
        logger.exception("%s: authentication or route loading failed (request %s)", refusal.where(), request_id)
        return refusal.server_error(exc)
    try:
        # (ApiRequest.state_header(), whose answer parse_event has when the spellings agree)
        header = request._state_header if request._state_values_agree else request.state_header()
        # Lambda tenant isolation: the tenant id must agree (no context: none to read)
        tenant = None if context is None else tenant_id(context)
        state = (known_state(header, STATE_HEADER_SOURCE) if tenant is None
                 else require_state_from(((STATE_HEADER_SOURCE, header), (TENANT_ID_SOURCE, tenant))))
        body = request.body_for(api_class)
    except UnknownStateError as exc:  # well spelled, not served here: forbidden, not malformed
        return _Refusal(event, request, request_id, base_headers).client_error(403, str(exc))
    except (HTTPError, InvalidStateError) as exc:
        return _Refusal(event, request, request_id, base_headers).client_error(
            getattr(exc, "status_code", 400), str(exc))
    except (StateRegistryUnavailableError, ConfigurationError) as exc:
        refusal = _Refusal(event, request, request_id, base_headers)
        logger.exception("%s: the constitution-state could not be checked (request %s)",
                         refusal.where(), request_id)
        return refusal.server_error(exc)
    if auth is not None:
        try:
            auth.check_state(state)  # a token or user bound to other states: 403
        except HTTPError as exc:
            return _Refusal(event, request, request_id, base_headers).http_error(exc)
    _set_validated_state(state)  # dispatch() already runs this request in its own context

    # validate() -> process() -> response, with the state set (every log line of the request,
    # errors included, carries it)
    try:
        api = api_for_request(api_class, request, path_parameters, body, auth, request_id, context)
    except Exception:
        refusal = _Refusal(event, request, request_id, base_headers)
        logger.exception("%s: %s() failed (request %s)", refusal.where(), api_class.__name__, request_id)
        return refusal.server_error()
    try:
        result = lifecycle(api)
        if result is not None:
            api._take_result(result)
    except HTTPError as exc:
        return _Refusal(event, request, request_id, base_headers).http_error(exc)
    except UnknownStateError as exc:  # e.g. process() switching to a state it may not use
        return _Refusal(event, request, request_id, base_headers).client_error(403, str(exc))
    except ValueError as exc:
        return _Refusal(event, request, request_id, base_headers).client_error(400, str(exc) or "Bad request")
    except Exception as exc:
        refusal = _Refusal(event, request, request_id, base_headers)
        logger.exception("%s: %s failed (request %s)", refusal.where(), api_class.__name__, request_id)
        return refusal.server_error(exc)
    try:
        # what status_code, response_body and response_headers report, read without their
        # property calls and without the copy response_headers makes (only read here)
        code, own_headers = api._code, api._headers
        response = build_response(200 if code is None else code, api._body, base_headers, own_headers)
    except Exception:
        refusal = _Refusal(event, request, request_id, base_headers)
        logger.exception("%s: the response of %s could not be serialized (request %s)",
                         refusal.where(), api_class.__name__, request_id)
        return refusal.server_error()
    if own_headers or method == "HEAD" or kind == ALB:
        # v2 cookies, v1/ALB multiValueHeaders, HEAD (else shape_response returns it as it is)
        return shape_response(response, event, kind, method, not own_headers)
    return response


class _Refusal:
    """The answer to a request refused or failed at some step (built only then): error
    bodies carry the request id, 500s never carry exception text."""

    __slots__ = ("base_headers", "event", "request", "request_id")

    def __init__(self, event: Any, request: ApiRequest | None, request_id: str,
                 base_headers: dict[str, str]) -> None:
        self.event = event
        self.request = request  # None: the event could not be parsed
        self.request_id = request_id
        self.base_headers = base_headers

    def where(self) -> str:
        if self.request is None:
            return "(malformed event)"
        return f"{self.request.method} {self.request.path}"

    def http_error(self, exc: HTTPError) -> dict[str, Any]:
        if exc.status_code >= 500:  # a server fault, whoever raised it: details stay in the log
            logger.error("%s: %s (request %s)", self.where(), exc.message, self.request_id,
                         exc_info=exc)
            return self.server_error()
        return self.client_error(exc.status_code, exc.message)

    def client_error(self, status: int, message: str) -> dict[str, Any]:
        logger.info("%s -> %d: %s (request %s)", self.where(), status, message, self.request_id)
        headers = self.base_headers
        if status == 401:  # RFC 7235: say which scheme would be accepted
            headers = {**headers, "WWW-Authenticate": 'Bearer realm="api"'}
        return self._shaped(build_response(status, _error_body(message, self.request_id), headers))

    def server_error(self, exc: BaseException | None = None) -> dict[str, Any]:
        """The generic 500, or 503 when MongoDB or the state registry could not be reached;
        the caller has logged the exception (never sent to the client)."""
        if isinstance(exc, StateRegistryUnavailableError):  # fail closed, but say it may pass later
            message = REGISTRY_UNAVAILABLE
        elif database_unavailable(exc):  # the request may succeed later: say so, not "bug"
            message = DATABASE_UNAVAILABLE
        else:
            return self._shaped(build_response(500, _error_body(INTERNAL_ERROR, self.request_id),
                                               self.base_headers))
        return self._shaped(build_response(503, _error_body(message, self.request_id), self.base_headers))

    def _shaped(self, response: dict[str, Any]) -> dict[str, Any]:
        request = self.request
        if request is None:
            return shape_response(response, self.event)
        return shape_response(response, self.event, request.kind, request.method, True)


