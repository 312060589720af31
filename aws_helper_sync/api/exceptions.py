"""Exceptions an API raises to answer with a given HTTP status.

    raise ForbiddenError("only clerks may record deeds")    # -> 403

Any ``HTTPError`` answers with its ``status_code`` and message. Besides these,
a plain ``ValueError`` (validation) answers 400; anything else is a 500 whose
details stay in the log.
"""

from __future__ import annotations


class HTTPError(Exception):
    """An error with an HTTP status; its message is sent to the client."""

    status_code = 500
    default_message = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.default_message


class BadRequestError(HTTPError, ValueError):
    """400: the request itself is malformed (event, body, header)."""

    status_code = 400
    default_message = "Bad request"


class AuthenticationError(HTTPError):
    """401: the caller could not be authenticated."""

    status_code = 401
    default_message = "Authentication failed"


class UnauthorizedError(AuthenticationError):
    """401: missing, unknown, inactive or expired credentials."""

    default_message = "Unauthorized"


class ForbiddenError(HTTPError):
    """403: authenticated, but not allowed to do this."""

    status_code = 403
    default_message = "Forbidden"


class NotFoundError(HTTPError):
    """404: no such route or resource."""

    status_code = 404
    default_message = "Not found"


class RouteNotFoundError(NotFoundError):
    """404 raised by the router; its message names the method and URL path only."""


class UnsupportedMediaTypeError(HTTPError):
    """415: the body's Content-Type is not what the endpoint's ``body_format`` accepts."""

    status_code = 415
    default_message = "Unsupported media type"


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ForbiddenError",
    "HTTPError",
    "NotFoundError",
    "RouteNotFoundError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
]
