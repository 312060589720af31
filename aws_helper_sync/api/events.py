"""API Gateway events in, API Gateway responses out.

``parse_event`` reads both REST API (payload 1.0) and HTTP API (payload 2.0)
proxy events into one ``ApiRequest``; anything malformed is a
``BadRequestError`` (400), never a crash. ``build_response`` is the one place
that produces the proxy response dict.

    request = parse_event(event)
    request.headers["Constitution-State"]   # header names are case-insensitive
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..utils.json_encoder import MongoJSONEncoder
from .exceptions import BadRequestError
from .headers import check_response_headers

STATE_HEADER = "constitution-state"
JSON_CONTENT_TYPE = "application/json"
CORS_ALLOW_HEADERS = "Content-Type, Authorization, Constitution-State, X-Request-Id"
CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"

# One encoder for all responses: encode() keeps no state between calls, so it is
# thread-safe, and reusing it saves building an encoder per response.
_ENCODER = MongoJSONEncoder()


class Headers(Mapping):
    """Read-only request headers with case-insensitive names (iterates lower-case names)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = {}
        for name, value in (items or {}).items():
            self._items[name.lower()] = value

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name.lower(), default) if isinstance(name, str) else default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        shown = {k: ("***" if k in ("authorization", "cookie") else v) for k, v in self._items.items()}
        return f"Headers({shown})"


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, whatever the event format."""

    method: str
    path: str
    segments: tuple[str, ...]
    headers: Headers
    query_parameters: dict[str, str]
    body: str | None = None
    is_base64_encoded: bool = False
    version: str = "1.0"
    request_id: str | None = None
    event: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object; empty -> ``{}``; anything else -> BadRequestError."""
        text = self.body
        if self.is_base64_encoded and text:
            try:
                text = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise BadRequestError("request body is not valid base64-encoded UTF-8") from None
        if text is None or not text.strip():
            return {}
        try:
            parsed = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            raise BadRequestError("request body is nested too deeply") from None
        except ValueError as exc:
            raise BadRequestError(f"request body is not valid JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise BadRequestError(
                f"request body must be a JSON object, got a JSON {_json_kind(parsed)}"
            )
        return parsed


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _mapping(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    if value is None:
        return {}
    if type(value) is dict:  # what json.loads gives: skip the slower ABC check
        return value
    if not isinstance(value, Mapping):
        raise BadRequestError(f"malformed event: '{key}' must be an object")
    return value


def _string_map(event: Mapping[str, Any], key: str, multi_key: str | None = None) -> dict[str, str]:
    """A str->str map from ``key``, else from its 1.0 multi-value twin (last value wins).

    API Gateway fills both maps; the multi-value one alone comes from hand-made
    events and test tools.
    """
    result: dict[str, str] = {}
    if multi_key is not None and not event.get(key):
        for name, values in _mapping(event, multi_key).items():
            if not isinstance(name, str) or not isinstance(values, list) or not values:
                raise BadRequestError(f"malformed event: '{multi_key}' must map names to lists")
            if not all(isinstance(v, str) for v in values):
                raise BadRequestError(f"malformed event: '{multi_key}' values must be strings")
            result[name] = values[-1]
    for name, value in _mapping(event, key).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise BadRequestError(f"malformed event: '{key}' must map names to strings")
        result[name] = value
    return result


def parse_event(event: Any) -> ApiRequest:
    """An ``ApiRequest`` from an API Gateway proxy event (REST 1.0 or HTTP API 2.0)."""
    if not isinstance(event, Mapping):
        raise BadRequestError("malformed event: expected an API Gateway proxy event object")
    context = _mapping(event, "requestContext")
    http = context.get("http")
    if http is not None and not isinstance(http, Mapping):
        raise BadRequestError("malformed event: 'requestContext.http' must be an object")
    is_v2 = event.get("version") == "2.0" or http is not None
    if is_v2:
        http = http or {}
        method = http.get("method")
        path = event.get("rawPath", http.get("path"))
    else:
        method = event.get("httpMethod")
        path = event.get("path")
    if not isinstance(method, str) or not method.strip():
        raise BadRequestError("malformed event: no HTTP method")
    if not isinstance(path, str):
        raise BadRequestError("malformed event: no request path")
    if is_v2:
        path = _strip_stage(path, context.get("stage"))
    headers = _string_map(event, "headers", None if is_v2 else "multiValueHeaders")
    if is_v2:
        cookies = event.get("cookies")
        if cookies is not None:
            if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
                raise BadRequestError("malformed event: 'cookies' must be a list of strings")
            headers.setdefault("cookie", "; ".join(cookies))
    query = _string_map(event, "queryStringParameters",
                        None if is_v2 else "multiValueQueryStringParameters")
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        raise BadRequestError("malformed event: 'body' must be a string")
    encoded = event.get("isBase64Encoded", False)
    if encoded is None:
        encoded = False
    if not isinstance(encoded, bool):
        raise BadRequestError("malformed event: 'isBase64Encoded' must be a boolean")
    segments = tuple(part for part in path.split("/") if part)
    if is_v2:  # rawPath is percent-encoded; 1.0's path already is decoded
        segments = tuple(unquote(part) for part in segments)
    request_id = context.get("requestId")
    return ApiRequest(
        method=method.strip().upper(),
        path=path,
        segments=segments,
        headers=Headers(headers),
        query_parameters=query,
        body=body,
        is_base64_encoded=encoded,
        version="2.0" if is_v2 else "1.0",
        request_id=request_id if isinstance(request_id, str) and request_id else None,
        event=event,
    )


def _strip_stage(path: str, stage: Any) -> str:
    """HTTP API puts a named stage in rawPath (``/dev/users``); routes never include it."""
    if isinstance(stage, str) and stage and stage != "$default":
        prefix = f"/{stage}"
        if path == prefix:
            return "/"
        if path.startswith(prefix + "/"):
            return path[len(prefix):]
    return path


@functools.lru_cache(maxsize=32)
def _allowed_origins(allow_origin: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in allow_origin.split(",") if o.strip()) or ("*",)


def cors_headers(allow_origin: str, request_origin: str | None) -> dict[str, str]:
    """CORS headers for ``CORS_ALLOW_ORIGIN``: ``*``, one origin, or a comma separated list."""
    origins = _allowed_origins(allow_origin)
    headers = {
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
    }
    if len(origins) == 1:
        headers["Access-Control-Allow-Origin"] = origins[0]
    else:  # a response may name one origin only: echo the caller's when it is listed
        if request_origin in origins:
            headers["Access-Control-Allow-Origin"] = request_origin  # type: ignore[assignment]
        headers["Vary"] = "Origin"
    return headers


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_CONTENT_TYPE or media.endswith("+json")


def build_response(
    status_code: int,
    body: Any,
    base_headers: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The API Gateway proxy response (valid for REST and HTTP APIs).

    ``headers`` (the API's own) override ``base_headers`` whatever their letter
    case. The body is JSON through the Mongo-aware encoder, unless the API set a
    non-JSON Content-Type and gave text (sent as is) or bytes (sent base64).
    """
    merged: dict[str, str] = {"Content-Type": JSON_CONTENT_TYPE, **base_headers}
    for name, value in (headers or {}).items():
        for existing in [k for k in merged if k.lower() == name.lower()]:
            del merged[existing]
        merged[name] = value
    content_type = next((v for k, v in merged.items() if k.lower() == "content-type"), "")
    encoded = False
    if status_code in (204, 304) and body is None:
        text = ""
    elif not _is_json(content_type) and isinstance(body, str):
        text = body
    elif not _is_json(content_type) and isinstance(body, (bytes, bytearray)):
        text, encoded = base64.b64encode(bytes(body)).decode("ascii"), True
    else:
        text = _ENCODER.encode(body)
    response = {"statusCode": status_code, "headers": merged, "body": text, "isBase64Encoded": encoded}
    check_response_headers(response)  # whoever set them: a forged header is never sent
    return response
