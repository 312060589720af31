"""Standalone Lambdas invoked through the SDK: ``Lambda`` classes, ``lambda_handler``, ``LambdaInvoker``.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "Lambda": ".base",
    "lambda_handler": ".handler",
    "LambdaInvoker": ".invoker",
    "LambdaInvocationError": ".invoker",
}

__all__ = ["Lambda", "LambdaInvocationError", "LambdaInvoker", "lambda_handler"]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from .base import Lambda
    from .handler import lambda_handler
    from .invoker import LambdaInvocationError, LambdaInvoker
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
