"""REST API behind API Gateway: ``API`` endpoints routed by file, ``api_handler``.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "API": ".base",
    "api_handler": ".handler",
    "AuthenticationError": ".exceptions",
    "BadRequestError": ".exceptions",
    "ForbiddenError": ".exceptions",
    "HTTPError": ".exceptions",
    "HeaderInjectionError": ".headers",
    "NotFoundError": ".exceptions",
    "UnauthorizedError": ".exceptions",
    "UnsupportedMediaTypeError": ".exceptions",
}

__all__ = [
    "API",
    "AuthenticationError",
    "BadRequestError",
    "ForbiddenError",
    "HTTPError",
    "HeaderInjectionError",
    "NotFoundError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "api_handler",
]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from .base import API
    from .exceptions import (
        AuthenticationError,
        BadRequestError,
        ForbiddenError,
        HTTPError,
        NotFoundError,
        UnauthorizedError,
        UnsupportedMediaTypeError,
    )
    from .handler import api_handler
    from .headers import HeaderInjectionError
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
