"""The one convention-based class loader shared by every entry point.

Each entry point maps a name to a file under the app root (``api/users/get.py``,
``lambda/<name>/main.py``, ``consumer/<name>.py``, ``task/<name>/task.py``) and
a class in it. This module imports that file once, picks the class, rejects
``async def`` and generator hooks (and warns about other ``async def`` methods),
and caches the result for warm invocations, safely under concurrent threads.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import weakref
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from . import settings
from ._lazy import deferred, deferred_logger

if TYPE_CHECKING:
    import inspect
    from pathlib import Path
else:  # needed when a class is loaded (the first request), not at cold start
    inspect = deferred(__name__, "inspect", "inspect")
    Path = deferred(__name__, "Path", "pathlib", "Path")

T = TypeVar("T", bound=type)
R = TypeVar("R")

SYNC_HOOKS = ("process", "validate", "execute", "process_record", "process_batch")

_lock = threading.RLock()
_cache: dict[tuple[str, type, str | None], type] = {}
_by_given_path: dict[tuple[str, type, str | None], type] = {}
_by_entry_name: dict[tuple[str, str, str], type] = {}  # (kind, name, app root) -> class, see cached_entry
_hooks_checked: weakref.WeakSet[type] = weakref.WeakSet()  # classes check_sync_hooks accepted
_warned_async: weakref.WeakSet[type] = weakref.WeakSet()  # classes already warned about

logger = deferred_logger(__name__, "logger", __name__)


class EntryPointNotFoundError(LookupError):
    """No file or no matching class for an entry-point name."""


class AsyncHookError(TypeError):
    """A user class defines ``async def`` hooks, but this library is synchronous."""


class GeneratorHookError(TypeError):
    """A user class defines a hook as a generator (a stray ``yield``): its body would never run."""


def to_pascal_case(name: str) -> str:
    """``land_records`` / ``land-records`` -> ``LandRecords``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_\-\s]+", name) if part)


def to_snake_case(name: str) -> str:
    """``LandRecords`` / ``land-records`` -> ``land_records``."""
    name = re.sub(r"[\-\s]+", "_", name)
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def check_sync_hooks(cls: type, hooks: Iterable[str] = SYNC_HOOKS) -> None:
    """Refuse classes whose hooks would return without running their body.

    A coroutine is never awaited here, and calling a generator function only
    builds a generator: either way the hook "succeeds" having done nothing
    (an SQS record would be deleted unprocessed).

    Any other ``async def`` method (a helper left from the async framework) is
    not refused, since the class may never call it, but logged once per class as
    a WARNING naming it: called from a synchronous hook it returns a coroutine,
    and the error comes later and far away (a PyMongo ``TypeError`` on a
    coroutine, or a ``RuntimeWarning`` that it was never awaited).
    """
    hooks = tuple(hooks)
    if hooks == SYNC_HOOKS and cls in _hooks_checked:
        return  # run on every SQS batch: the class has not changed since it was accepted
    for hook in hooks:
        method = getattr(cls, hook, None)
        if method is None:
            continue
        try:  # a decorator with functools.wraps hides the async/generator function it wraps
            method = inspect.unwrap(method)
        except ValueError:  # a __wrapped__ cycle: check the method as it is
            pass
        if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method):
            raise AsyncHookError(
                f"{cls.__name__}.{hook} is defined with 'async def', but aws_helper_sync is "
                f"synchronous: define it with plain 'def' and drop 'await' (PyMongo, not Motor)"
            )
        if inspect.isgeneratorfunction(method):
            raise GeneratorHookError(
                f"{cls.__name__}.{hook} is a generator function (it contains 'yield'): calling it "
                f"would not run its body, so aws_helper_sync refuses it; remove the 'yield' "
                f"(return a value instead, or iterate inside the hook)"
            )
    _warn_async_helpers(cls, hooks)
    if hooks == SYNC_HOOKS:
        _hooks_checked.add(cls)  # two threads may both check a class first: harmless, same answer


def _async_methods(cls: type, skip: tuple[str, ...]) -> list[str]:
    """Names of the ``async def`` methods (and async generators) of ``cls`` outside this library."""
    found: list[str] = []
    for klass in cls.__mro__:
        if klass is object or klass.__module__.split(".")[0] == __name__.split(".")[0]:
            continue  # the library's own bases are synchronous
        for name, attr in vars(klass).items():
            function: Any = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
            if name in skip or name in found:
                continue
            if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
                found.append(name)
    return found


def _warn_async_helpers(cls: type, hooks: tuple[str, ...]) -> None:
    if cls in _warned_async:
        return  # checked on every SQS batch too: warn once per class, not per call
    with _lock:
        if cls in _warned_async:
            return
        _warned_async.add(cls)
    names = _async_methods(cls, hooks)
    if names:
        listed = ", ".join(f"{cls.__name__}.{name}" for name in names)
        logger.warning(
            "%s %s defined with 'async def', but aws_helper_sync is synchronous: calling %s "
            "returns a coroutine that never runs (PyMongo then fails with a TypeError); define "
            "%s with plain 'def' and drop 'await'", listed, "is" if len(names) == 1 else "are",
            "it" if len(names) == 1 else "them", "it" if len(names) == 1 else "them",
        )


def hook_result(owner: object, hook: str, result: R) -> R:
    """``result`` of ``owner.<hook>()``, refused when the hook only built a coroutine or generator.

    The load-time check cannot see through a decorator without ``functools.wraps``;
    this one, at every call, can: such a hook did not run its body, so the unit
    must fail rather than be reported (and an SQS record deleted) as done.
    """
    if result is None:  # what nearly every hook returns
        return result
    if inspect.iscoroutine(result) or inspect.isgenerator(result) or inspect.isasyncgen(result):
        if not inspect.isasyncgen(result):
            result.close()  # never started: closing runs none of it and silences "never awaited"
        name = f"{type(owner).__name__}.{hook}"
        if inspect.isgenerator(result):
            raise GeneratorHookError(
                f"{name} returned a generator without running its body (a 'yield' in it or in "
                f"a decorator around it): remove the 'yield'"
            )
        raise AsyncHookError(
            f"{name} returned a coroutine without running its body ('async def' in it or in a "
            f"decorator around it): aws_helper_sync is synchronous, use plain 'def'"
        )
    return result


def _module_name(path: Path) -> str:
    """A ``sys.modules`` name that is one file's only: ``api/a-b/get.py`` and
    ``api/a_b/get.py`` must not replace each other (``typing.get_type_hints`` and
    pickling look classes up by module name). Only ``%`` and ``.`` are escaped,
    percent-style, so the name maps back to exactly one path."""
    root = settings.app_root().resolve()
    try:
        parts, prefix = path.relative_to(root).with_suffix("").parts, "_aws_helper_sync_app"
    except ValueError:
        parts, prefix = path.with_suffix("").parts[1:], "_aws_helper_sync_file"
    dotted = ".".join(part.replace("%", "%25").replace(".", "%2E") for part in parts)
    return f"{prefix}.{dotted}"


def _import_file(path: Path) -> ModuleType:
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EntryPointNotFoundError(f"cannot import {path.name}")
    module = importlib.util.module_from_spec(spec)
    root = str(settings.app_root().resolve())
    if root not in sys.path:
        sys.path.insert(0, root)  # let app files import their siblings (as on Lambda)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _select_class(module: ModuleType, base: type, class_name: str | None, where: str) -> type:
    if class_name is not None:
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise EntryPointNotFoundError(
                f"{where} must define class {class_name}({base.__name__})"
            )
        return cls
    candidates = [
        obj for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, base) and obj is not base
        and obj.__module__ == module.__name__
    ]
    if len(candidates) != 1:
        found = ", ".join(c.__name__ for c in candidates) or "none"
        raise EntryPointNotFoundError(
            f"{where} must define exactly one {base.__name__} subclass (found: {found})"
        )
    return candidates[0]


def cached_class(path: str | os.PathLike[str], base: T, class_name: str | None = None) -> T | None:
    """The class already loaded from ``path`` as given (no file-system access), or None."""
    return _by_given_path.get((os.fspath(path), base, class_name))  # type: ignore[return-value]


def load_class(
    path: str | os.PathLike[str], base: T, class_name: str | None = None, where: str | None = None
) -> T:
    """Import ``path`` once and return its ``base`` subclass (named ``class_name`` if given).

    ``where`` is how errors name the file (a path relative to the app root,
    never an absolute one). Warm calls are one dict lookup on the path as
    given; the resolved path keys the import itself, so two spellings of one
    file still import it once.
    """
    given_key = (os.fspath(path), base, class_name)
    cls = _by_given_path.get(given_key)
    if cls is not None:
        return cls  # type: ignore[return-value]
    resolved = Path(path).resolve()
    key = (str(resolved), base, class_name)
    with _lock:
        cls = _cache.get(key)
        if cls is None:
            if not resolved.is_file():
                raise EntryPointNotFoundError(f"{where or resolved.name} not found under the app root")
            cls = _select_class(_import_file(resolved), base, class_name, where or resolved.name)
            check_sync_hooks(cls)
            _cache[key] = cls
        _by_given_path[given_key] = cls
        return cls  # type: ignore[return-value]


def cached_entry(kind: str, name: str, load: Callable[[], T]) -> T:
    """The class ``load()`` gave for entry ``name`` of ``kind`` under the current app root, loaded once per process.

    Warm invocations resolve a name (``land-records`` -> ``consumer/land_records.py``)
    with one dict lookup instead of the name rules and a ``stat`` per candidate
    file. Only a class is cached: a load that raises (file missing, a syntax
    error, no such class, an ``async def`` hook) raises again, with its own
    message, on the next call, so fixing the file works without a restart. The
    app root is part of the key; ``clear_cache`` forgets everything. A forked
    child inherits the classes, which stay valid there.
    """
    if not isinstance(name, str):
        return load()  # never a key: let the loader refuse it with its own message
    key = (kind, name, settings.app_root_text())
    cls = _by_entry_name.get(key)
    if cls is not None:
        return cls  # type: ignore[return-value]
    with _lock:  # concurrent first calls import once
        cls = _by_entry_name.get(key)
        if cls is None:
            cls = _by_entry_name[key] = load()
        return cls  # type: ignore[return-value]


_dependent_caches: list[dict[Any, Any]] = []


def dependent_cache(cache: dict[Any, Any]) -> dict[Any, Any]:
    """``cache`` (of classes this module loaded, kept by another module under its own
    keys: the API router's), registered so that ``clear_cache()`` empties it too."""
    _dependent_caches.append(cache)
    return cache


def clear_cache() -> None:
    """Forget loaded classes (tests, or a development server reloading files)."""
    with _lock:
        _cache.clear()
        _by_given_path.clear()
        _by_entry_name.clear()
        for cache in _dependent_caches:
            cache.clear()


def _after_fork_in_child() -> None:
    # A thread of the parent importing an app file held this lock at fork time:
    # in the child nobody would ever release it, and every load would hang.
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
