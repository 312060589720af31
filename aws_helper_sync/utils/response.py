"""Response helpers: ``{"code", "body", "headers"}`` dicts an API can return or apply.

    return ApiResponse.not_found("no such parcel")
"""

from __future__ import annotations

from typing import Any


def _response(code: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"code": code, "body": body, "headers": dict(headers or {})}


def success(data: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return _response(status_code, data, headers)


def error(message: str, status_code: int = 500, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": True, "message": message}
    if details:
        body["details"] = details
    return _response(status_code, body)


def not_found(message: str = "Resource not found") -> dict[str, Any]:
    return error(message, 404)


def bad_request(message: str = "Bad request", details: dict[str, Any] | None = None) -> dict[str, Any]:
    return error(message, 400, details)


def unauthorized(message: str = "Unauthorized") -> dict[str, Any]:
    return error(message, 401)


def forbidden(message: str = "Forbidden") -> dict[str, Any]:
    return error(message, 403)


def created(data: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return _response(201, data, headers)


def no_content(headers: dict[str, str] | None = None) -> dict[str, Any]:
    return _response(204, None, headers)


class ApiResponse:
    """The helpers as static methods, as the async framework spells them."""

    success = staticmethod(success)
    error = staticmethod(error)
    not_found = staticmethod(not_found)
    bad_request = staticmethod(bad_request)
    unauthorized = staticmethod(unauthorized)
    forbidden = staticmethod(forbidden)
    created = staticmethod(created)
    no_content = staticmethod(no_content)
