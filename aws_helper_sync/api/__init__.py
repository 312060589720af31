"""REST API behind API Gateway: ``API`` endpoints routed by file, ``api_handler``.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "API": ".base",
    "api_handler": ".handler",
    "AuthenticationError": ".exceptions",
    "BadRequestError": ".exceptions",
    "ForbiddenError": ".exceptions",
    "HTTPError": ".exceptions",
    "NotFoundError": ".exceptions",
    "UnauthorizedError": ".exceptions",
}

__all__ = [
    "API",
    "AuthenticationError",
    "BadRequestError",
    "ForbiddenError",
    "HTTPError",
    "NotFoundError",
    "UnauthorizedError",
    "api_handler",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
