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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..entrypoint import EntryPoint
from .events import Headers
from .headers import header_value

_RESPONSE_KEYS = frozenset({"code", "body", "headers"})


class API(EntryPoint):
    """Base class for REST endpoints: request attributes in, ``set_*`` out."""

    def __init__(
        self,
        *,
        data: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        path_parameters: list[str] | tuple[str, ...] | None = None,
        query_parameters: Mapping[str, str] | None = None,
        method: str = "GET",
        path: str = "/",
        current_user: dict[str, Any] | None = None,
        auth_data: dict[str, Any] | None = None,
        request_id: str | None = None,
        event: Mapping[str, Any] | None = None,
        context: Any = None,
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.path_parameters: list[str] = list(path_parameters or ())
        self.query_parameters: dict[str, str] = dict(query_parameters or {})
        self.body: dict[str, Any] = dict(body or {})
        if data is None:
            data = self.query_parameters if self.method == "GET" else self.body
        self.data: dict[str, Any] = dict(data)
        self.current_user = current_user
        self.auth_data = auth_data
        self.request_id = request_id
        self.event = event
        self.context = context
        self._code: int | None = None
        self._body: Any = None
        self._headers: dict[str, str] = {}

    @property
    def is_authenticated(self) -> bool:
        return self.current_user is not None

    def process(self) -> Any:
        """Do the work of the endpoint: set (or return) the response body."""
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    # -- response ---------------------------------------------------------

    def set_code(self, code: int) -> API:
        """Set the HTTP status (100-599); without it the response is 200."""
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise TypeError(f"HTTP status code must be an int from 100 to 599, got {code!r}")
        self._code = code
        return self

    def set_body(self, body: Any) -> API:
        """Set the response body (serialized as JSON with Mongo types handled)."""
        self._body = body
        return self

    def set_header(self, name: str, value: Any) -> API:
        """Add or replace one response header (names compare case-insensitively).

        A name or value that could forge the response (CR, LF, NUL; a name that is
        not an HTTP token) raises ``HeaderInjectionError``: a 500, never sent.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"header name must be a non-empty string, got {name!r}")
        text = header_value(name, value)
        for existing in [k for k in self._headers if k.lower() == name.lower()]:
            del self._headers[existing]
        self._headers[name] = text
        return self

    def set_headers(self, headers: Mapping[str, Any]) -> API:
        """Add or replace several response headers."""
        for name, value in headers.items():
            self.set_header(name, value)
        return self

    def apply(self, response: Mapping[str, Any]) -> API:
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
    def response_headers(self) -> dict[str, str]:
        return dict(self._headers)

    def _take_result(self, result: Any) -> None:
        """Use what ``process()`` returned: an ApiResponse dict is applied, else it is the body."""
        if result is None:
            return
        if isinstance(result, Mapping) and "code" in result and "body" in result \
                and set(result) <= _RESPONSE_KEYS:
            self.apply(result)
        elif self._body is None:
            self._body = result
