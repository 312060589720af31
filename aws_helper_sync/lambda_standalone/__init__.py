"""Standalone Lambdas invoked through the SDK: ``Lambda`` classes and ``lambda_handler``.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"Lambda": ".base", "lambda_handler": ".handler"}

__all__ = ["Lambda", "lambda_handler"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
