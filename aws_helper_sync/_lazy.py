"""Lazy re-exports (PEP 562), shared by the package ``__init__`` modules.

Packages name what they export and where it lives; the module behind a name
is imported on first access, so ``import aws_helper_sync`` (and its
subpackages) never pays for boto3, pymongo or unused entry points.

    __getattr__, __dir__ = lazy_exports(__name__, {"API": ".base"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any, Callable


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``name -> module`` in ``table``.

    Module paths may be relative to ``package``. A loaded name is stored on the
    package, so later accesses are plain attribute lookups.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
