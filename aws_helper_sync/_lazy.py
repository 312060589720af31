"""Lazy re-exports (PEP 562), shared by the package ``__init__`` modules.

Packages name what they export and where it lives; the module behind a name
is imported on first access, so ``import aws_helper_sync`` (and its
subpackages) never pays for boto3, pymongo or unused entry points.

    __getattr__, __dir__ = lazy_exports(__name__, {"API": ".base"})

Modules import what only a rare path needs (a stdlib module, a logger) through
``deferred``: a stand-in that imports on first use and then puts the real
object in its place, so the import line costs nothing at start-up and the
name costs nothing after its first use.

    if TYPE_CHECKING:
        import uuid
    else:
        uuid = deferred(__name__, "uuid", "uuid")
    logger = deferred_logger(__name__, "logger", "aws_helper_sync.api")
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


_UNSET = object()


class _Deferred:
    """Stands for an object in a module's globals until first used (see ``deferred``)."""

    __slots__ = ("_alias", "_load", "_owner", "_value")

    def __init__(self, owner: str, alias: str, load: Callable[[], Any]) -> None:
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_alias", alias)
        object.__setattr__(self, "_load", load)
        object.__setattr__(self, "_value", _UNSET)

    def _resolve(self) -> Any:
        value = self._value
        if value is _UNSET:  # first use (a copy of the stand-in taken before then still works)
            value = self._load()
            object.__setattr__(self, "_value", value)
            # The owner's global now names the real object: its later uses skip this proxy.
            setattr(sys.modules[self._owner], self._alias, value)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resolve(), name)

    def __setattr__(self, name: str, value: Any) -> None:  # monkeypatch.setattr(module.hmac, ...)
        setattr(self._resolve(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._resolve(), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<deferred {self._owner}.{self._alias}>"


def deferred(owner: str, alias: str, module: str, attribute: str | None = None) -> Any:
    """``module`` (or ``module.attribute``), imported when ``owner.alias`` is first used.

    ``owner`` is the calling module's ``__name__`` and ``alias`` the global the
    result is bound to there. Only attribute access and calls go through the
    stand-in (``uuid.uuid4()``, ``parse_qsl(text)``), which covers how these
    modules use such names; type checkers see the real import (write it under
    ``TYPE_CHECKING``).
    """

    def load() -> Any:
        value = importlib.import_module(module)
        return value if attribute is None else getattr(value, attribute)

    return _Deferred(owner, alias, load)


def deferred_logger(owner: str, alias: str, name: str) -> Any:
    """``logging.getLogger(name)``, created (and ``logging`` imported) on its first use.

    Loggers of modules on the cold-start path log only on rare paths (errors,
    warnings): importing ``logging`` costs more than the rest of such a module.
    """

    def load() -> Any:
        import logging

        return logging.getLogger(name)

    return _Deferred(owner, alias, load)
