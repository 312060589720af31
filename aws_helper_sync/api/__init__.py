"""REST API behind API Gateway: ``API`` endpoints routed by file, ``api_handler``.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
