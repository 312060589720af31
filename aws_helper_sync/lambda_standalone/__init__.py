"""Standalone Lambdas invoked through the SDK: ``Lambda`` classes, ``lambda_handler``, ``LambdaInvoker``.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "Lambda": ".base",
    "lambda_handler": ".handler",
    "LambdaInvoker": ".invoker",
    "LambdaInvocationError": ".invoker",
}

__all__ = ["Lambda", "LambdaInvocationError", "LambdaInvoker", "lambda_handler"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
