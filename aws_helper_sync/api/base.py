"""``API``: the base class of one REST endpoint (one file under ``api/``).

    # api/users/get.py  ->  GET /users/<id>
    class UsersGet(API):
        def validate(self):
            if not self.path_parameters[0].isdigit():
                raise ValueError("user id must be numeric")

        def process(self):
            user = self.db.connecticut.users.find_one({"_id": int(self.path_parameters[0])})
            if user is None:
                raise NotFoundError("no such user")
            self.set_body(user)

One instance serves one request, so attributes are never shared between
threads. ``process()`` may also return the body, or an ``ApiResponse`` dict.

The body is read as the class declares in ``body_format``: ``"json"`` (the
default: a JSON object, else 400), ``"form"`` (``application/x-www-form-urlencoded``
fields in ``data``), ``"text"`` (``body_text``) or ``"bytes"``; ``raw_body`` always
has the bytes. ``content_types`` narrows or widens the accepted Content-Types (415
otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..entrypoint import EntryPoint
from .events import BODY_FORMATS, Headers
from .headers import header_value

if TYPE_CHECKING:  # Self: a subclass chains its own methods after set_code() and the like
    from typing_extensions import Self

    from .auth import AuthResult
    from .events import ApiRequest, RequestBody

_RESPONSE_KEYS = frozenset({"code", "body", "headers"})
DATA_FROM_QUERY = ("GET", "HEAD")  # methods whose ``data`` is the query (the body otherwise)
# RFC 6265: a cookie name is a token; its value cookie-octets (no CTLs, space, '"', ',', ';', '\\')
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r'[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*')
_COOKIE_ATTRIBUTE = re.compile(r"[\x20-\x3A\x3C-\x7E]*")  # no CTLs, no ';'
_SAME_SITE = ("Strict", "Lax", "None")
_MISSING: Any = object()  # set_header() given no value: still a TypeError, as before key= existed


class API(EntryPoint):
    """Base class for REST endpoints: request attributes in, ``set_*`` out."""

    #: how the request body becomes ``data``: "json", "form", "text" or "bytes"
    body_format: str = "json"
    #: accepted Content-Types (``text/csv``, ``image/*``, ``*/*``); None: the format's default
    content_types: tuple[str, ...] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse a bad ``body_format`` when the route file loads (a 500 that names it)."""
        super().__init_subclass__(**kwargs)
        if cls.body_format not in BODY_FORMATS:
            raise TypeError(f"{cls.__name__}.body_format must be one of {', '.join(BODY_FORMATS)}, "
                            f"got {cls.body_format!r}")
        types = cls.content_types
        if types is not None and (not isinstance(types, tuple) or not types
                                  or not all(isinstance(t, str) and "/" in t for t in types)):
            raise TypeError(f"{cls.__name__}.content_types must be a tuple of media types "
                            f"such as ('text/csv',), got {types!r}")

    def __init__(
        self,
        *,
        data: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        path_parameters: list[str] | tuple[str, ...] | None = None,
        query_parameters: Mapping[str, str] | None = None,
        multi_query_parameters: Mapping[str, list[str]] | None = None,
        raw_body: bytes = b"",
        body_text: str | None = None,
        method: str = "GET",
        path: str = "/",
        current_user: dict[str, Any] | None = None,
        auth_data: dict[str, Any] | None = None,
        request_id: str | None = None,
        event: Mapping[str, Any] | None = None,
        context: Any = None,
    ) -> None:
        method = method.upper()
        query: dict[str, str] = dict(query_parameters) if query_parameters else {}
        body_data: dict[str, Any] = dict(body) if body else {}
        if data is None:
            data = query if method in DATA_FROM_QUERY else body_data
        self._assign(
            method,
            path,
            headers if type(headers) is Headers else Headers(headers),
            list(path_parameters) if path_parameters else [],
            query,
            {name: list(values) for name, values in multi_query_parameters.items()}
            if multi_query_parameters
            else {name: [value] for name, value in query.items()} if query else {},
            body_data,
            raw_body,
            body_text,
            dict(data),
            current_user,
            auth_data,
            request_id,
            event,
            context,
        )

    def _assign(self, method: str, path: str, headers: Headers, path_parameters: list[str],
                query_parameters: dict[str, str], multi_query_parameters: dict[str, list[str]],
                body: dict[str, Any], raw_body: bytes, body_text: str | None, data: dict[str, Any],
                current_user: dict[str, Any] | None, auth_data: dict[str, Any] | None,
                request_id: str | None, event: Mapping[str, Any] | None, context: Any) -> None:
        """Set the request attributes (values this instance owns) and an empty response."""
        self.method = method
        self.path = path
        self.headers = headers
        self.path_parameters = path_parameters
        self.query_parameters = query_parameters
        #: every value of each query key, in order (``query_parameters`` has the last one)
        self.multi_query_parameters = multi_query_parameters
        self.body = body
        #: the request body as bytes (base64 decoded), whatever ``body_format`` says
        self.raw_body = raw_body
        #: the decoded body of a ``body_format = "text"`` API, else None
        self.body_text = body_text
        self.data = data
        self.current_user = current_user
        self.auth_data = auth_data
        self.request_id = request_id
        self.event = event
        self.context = context
        self._code: int | None = None
        self._body: Any = None
        self._headers: dict[str, str | list[str]] = {}

    @property
    def is_authenticated(self) -> bool:
        return self.current_user is not None

    @property
    def http_method(self) -> str:
        """The request method in lower case (``"post"``), as the async framework names it.

        ``method`` is the same in upper case (``"POST"``).
        """
        return self.method.lower()

    @property
    def endpoint(self) -> str:
        """The request path without its outer slashes (``"users/123"``), as the async framework names it.

        The API Gateway stage is already removed (``path`` is ``"/users/123"``).
        """
        return self.path.strip("/")

    def process(self) -> Any:
        """Do the work of the endpoint: set (or return) the response body."""
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    # -- response ---------------------------------------------------------

    def set_code(self, code: int) -> Self:
        """Set the HTTP status (100-599); without it the response is 200."""
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise TypeError(f"HTTP status code must be an int from 100 to 599, got {code!r}")
        self._code = code
        return self

    def set_body(self, body: Any) -> Self:
        """Set the response body (serialized as JSON with Mongo types handled)."""
        self._body = body
        return self

    def set_header(self, name: str | None = None, value: Any = _MISSING, *, key: str | None = None) -> Self:
        """Add or replace one response header (names compare case-insensitively).

        ``set_header("X-Total", "3")``, ``set_header(name="X-Total", value="3")`` or,
        as the async framework spells it, ``set_header(key="X-Total", value="3")``.

        A list or tuple sends several values (``Set-Cookie`` most of all): in
        ``cookies`` behind HTTP API and Function URLs, in ``multiValueHeaders``
        behind REST APIs and ALB; an empty list removes the header.

        A name or value that could forge the response (CR, LF, NUL; a name that is
        not an HTTP token) raises ``HeaderInjectionError``: a 500, never sent.
        """
        if key is not None:
            if name is not None:
                raise TypeError("set_header() takes the header name once: name= or key=, not both")
            name = key
        if value is _MISSING:
            raise TypeError("set_header() needs the header value (value=)")
        if not isinstance(name, str) or not name:
            raise TypeError(f"header name must be a non-empty string, got {name!r}")
        checked: str | list[str] = (
            [header_value(name, v) for v in value] if isinstance(value, (list, tuple))
            else header_value(name, value)
        )
        for existing in [k for k in self._headers if k.lower() == name.lower()]:
            del self._headers[existing]
        if checked != []:
            self._headers[name] = checked
        return self

    def add_cookie(
        self,
        name: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: str | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = True,
        http_only: bool = True,
        same_site: str | None = "Lax",
    ) -> API:
        """Add one ``Set-Cookie`` (several calls send several cookies); chainable.

            self.add_cookie("session", token, max_age=3600).add_cookie("theme", "dark")

        Secure, HttpOnly and SameSite=Lax by default. ``value`` must already be
        cookie-safe (no space, '"', ',', ';', backslash or control characters:
        encode it first); a bad name, value or attribute is a TypeError (the
        server's bug, answered 500), never a forged header.
        """
        if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
            raise TypeError(f"cookie name must be an RFC 6265 token, got {name!r}")
        if not isinstance(value, str) or not _COOKIE_VALUE.fullmatch(value):
            raise TypeError(f"cookie {name} value has characters a cookie cannot carry: "
                            f"encode it first (e.g. urllib.parse.quote)")
        parts = [f"{name}={value}"]
        if max_age is not None:
            if isinstance(max_age, bool) or not isinstance(max_age, int):
                raise TypeError(f"cookie {name} max_age must be an int, got {max_age!r}")
            parts.append(f"Max-Age={max_age}")
        for label, given in (("Expires", expires), ("Path", path), ("Domain", domain)):
            if given is not None:
                if not isinstance(given, str) or not _COOKIE_ATTRIBUTE.fullmatch(given):
                    raise TypeError(f"cookie {name} {label} has characters a cookie cannot carry")
                parts.append(f"{label}={given}")
        if secure:
            parts.append("Secure")
        if http_only:
            parts.append("HttpOnly")
        if same_site is not None:
            if same_site not in _SAME_SITE:
                raise TypeError(f"cookie {name} same_site must be one of {', '.join(_SAME_SITE)}")
            if same_site == "None" and not secure:  # browsers drop such a cookie
                raise TypeError(f"cookie {name}: SameSite=None needs secure=True")
            parts.append(f"SameSite={same_site}")
        existing = next((k for k in self._headers if k.lower() == "set-cookie"), None)
        cookies = _as_list(self._headers.pop(existing)) if existing is not None else []
        self._headers[existing or "Set-Cookie"] = [*cookies, "; ".join(parts)]
        return self

    def set_headers(self, headers: Mapping[str, Any]) -> Self:
        """Add or replace several response headers."""
        for name, value in headers.items():
            self.set_header(name, value)
        return self

    def apply(self, response: Mapping[str, Any]) -> Self:
        """Apply an ``ApiResponse`` dict (``{"code", "body", "headers"}``)."""
        if "code" in response:
            self.set_code(response["code"])
        self.set_body(response.get("body"))
        self.set_headers(response.get("headers") or {})
        return self

    @property
    def status_code(self) -> int:
        return 200 if self._code is None else self._code

    @property
    def response_body(self) -> Any:
        return self._body

    @property
    def response_headers(self) -> dict[str, str | list[str]]:
        """The API's own headers; a header with several values is a list."""
        return {name: list(v) if isinstance(v, list) else v for name, v in self._headers.items()}

    def _take_result(self, result: Any) -> None:
        """Use what ``process()`` returned: an ApiResponse dict is applied, else it is the body."""
        if result is None:
            return
        if isinstance(result, Mapping) and "code" in result and "body" in result \
                and set(result) <= _RESPONSE_KEYS:
            self.apply(result)
        elif self._body is None:
            self._body = result


def _as_list(value: str | list[str]) -> list[str]:
    return list(value) if isinstance(value, list) else [value]


A = TypeVar("A", bound=API)


def api_for_request(cls: type[A], request: ApiRequest, path_parameters: tuple[str, ...], body: RequestBody,
                    auth: AuthResult | None, request_id: str, context: Any) -> A:
    """The instance of ``cls`` that serves ``request`` (what the dispatcher builds).

    What ``cls(method=..., headers=..., ...)`` gives, minus the copies of what
    this request alone owns (``parse_event`` built its maps, ``read_body`` its
    body) and the fourteen keywords. A subclass with its own ``__init__`` or
    ``__new__`` is built through them, as always. (A function, not a classmethod:
    nothing to look up and bind on the class per request.)
    """
    user, auth_data = (None, None) if auth is None else (auth.user, auth.data)
    if cls.__init__ is not _API_INIT or cls.__new__ is not _NEW_OBJECT:
        return cls(body=body.data, raw_body=body.raw, body_text=body.text, headers=request.headers,
                   path_parameters=path_parameters, query_parameters=request.query_parameters,
                   multi_query_parameters=request.multi_query_parameters, method=request.method,
                   path=request.path, current_user=user, auth_data=auth_data,
                   request_id=request_id, event=request.event, context=context)
    api = _NEW_OBJECT(cls)
    query = request.query_parameters
    body_data = body.data if body.data else {}  # (bodyless requests share one empty data)
    api._assign(request.method, request.path, request.headers, list(path_parameters), query,
                request.multi_query_parameters, body_data, body.raw, body.text,
                dict(query if request.method in DATA_FROM_QUERY else body_data),
                user, auth_data, request_id, request.event, context)
    return api


_API_INIT, _NEW_OBJECT = API.__init__, object.__new__
