"""File-based routing: an HTTP method and URL path name a file under ``<app root>/api/``.

    GET    /users             -> users/list.py
    GET    /users/1           -> users/get.py            path_parameters ["1"]
    GET    /users/1/posts/2   -> users/posts/get.py      path_parameters ["1", "2"]
    POST   /users             -> users/post.py
    PUT    /users/1           -> users/put.py            (also patch.py, delete.py)
    POST   /auth/login        -> auth/login/post.py

HEAD is routed like GET (its answer has no body). For GET every second part is an id. For other methods a part that looks like
an id (digits, a UUID or a 24-hex ObjectId) is one. The loaded class is the
``API`` subclass of that file (cached, thread-safe, via ``loading``).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, NamedTuple

from .. import loading, settings
from .._bounded import remember
from .exceptions import RouteNotFoundError

if TYPE_CHECKING:
    from .base import API

METHOD_FILES = {"POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}
ROUTED_METHODS = frozenset({"GET", *METHOD_FILES})

_ID = re.compile(
    r"\d+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{24}"
)
# Resource parts become folder names: nothing that could climb out of api/.
_RESOURCE_TEXT = r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}"
_RESOURCE_PATH = re.compile(f"{_RESOURCE_TEXT}(?:/{_RESOURCE_TEXT})*")  # resources joined by '/'


def is_id(part: str) -> bool:
    """Digits, a UUID or a 24-hex ObjectId."""
    if part.isdecimal():  # what \d+ matches (any Unicode decimal digits), without the regex
        return True
    return len(part) in (24, 36) and _ID.fullmatch(part) is not None  # an ObjectId, a UUID


def _shown(method: str, segments: tuple[str, ...] | list[str]) -> str:
    text = f"{method[:16]} /{'/'.join(segments)}"
    return text if len(text) <= 200 else text[:197] + "..."


class Route(NamedTuple):
    """Where a request goes: the file relative to ``api/`` and the ids in order."""

    file: str
    path_parameters: tuple[str, ...]


def _split(method: str, segments: tuple[str, ...] | list[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(action, resources, ids)`` of a request: what names its file, and its path parameters."""
    if not method.isupper():
        method = method.upper()
    if method == "HEAD":  # answered like GET, without a body (shape_response drops it)
        method = "GET"
    if method not in ROUTED_METHODS or not segments:
        raise RouteNotFoundError(f"No route for {_shown(method, segments)}")
    if method == "GET":  # resource, id, resource, id, ...
        action = "get" if len(segments) % 2 == 0 else "list"
        if type(segments) is tuple:  # (parse_event's: its slices are tuples already)
            return action, segments[0::2], segments[1::2]
        return action, tuple(segments[0::2]), tuple(segments[1::2])
    parts: tuple[list[str], list[str]] = ([], [])  # (resources, ids)
    for part in segments:
        parts[is_id(part)].append(part)
    return METHOD_FILES[method], tuple(parts[0]), tuple(parts[1])


def match_route(method: str, segments: tuple[str, ...] | list[str]) -> Route:
    """The route for ``method`` and the URL path parts; RouteNotFoundError when there is none."""
    action, resources, ids = _split(method, segments)
    return Route(_route_file(action, resources, method, segments), ids)


def _route_file(action: str, resources: tuple[str, ...], method: str,
                segments: tuple[str, ...] | list[str]) -> str:
    """The file of a split request, relative to ``api/``; RouteNotFoundError for a bad resource name."""
    folder = "/".join(resources)
    # every part a resource name, and none holding a '/' of its own (a decoded %2F)
    if not resources or not _RESOURCE_PATH.fullmatch(folder) or folder.count("/") != len(resources) - 1:
        raise RouteNotFoundError(f"No route for {_shown(method.upper(), segments)}")
    return f"{folder}/{action}.py"


def resolve_route(method: str, segments: tuple[str, ...] | list[str]) -> tuple[type[API], Route]:
    """The API class and route for a request; RouteNotFoundError when no file exists.

    A file that exists but cannot be loaded (syntax error, no API subclass,
    ``async def`` hooks) raises its own error: that is a server fault, not a 404.
    """
    cls, file, ids = find_route(method, segments, settings.app_root_text())
    return cls, Route(file, ids)


def find_route(method: str, segments: tuple[str, ...] | list[str],
               root: str) -> tuple[type[API], str, tuple[str, ...]]:
    """``resolve_route`` under the app root ``root``, as ``(class, file, path parameters)``
    (what the dispatcher reads per request: no ``Route`` to build).

    Warm requests are one lookup of the route's shape (app root, action,
    resource names; the ids vary) in a cache of the classes already loaded: no
    regex, no path, no stat. A warm path without ids is one lookup of the path itself.
    """
    if type(segments) is not tuple:
        segments = tuple(segments)
    path_key = (root, method, segments)
    found = _ID_FREE_ROUTES.get(path_key)  # a path without ids: found as it is, not split
    if found is not None:
        return found
    action, resources, ids = _split(method, segments)
    key = (root, action, resources)
    known = _ROUTES.get(key)
    if known is not None:
        if not ids:
            remember(_ID_FREE_ROUTES, path_key, (known[0], known[1], ids), _ROUTES_MAX)
        return known[0], known[1], ids
    file = _route_file(action, resources, method, segments)
    base = _api_base()
    path = f"{root}/api/{file}"
    cls = loading.cached_class(path, base)
    if cls is None:
        if not os.path.isfile(path):
            raise RouteNotFoundError(f"No route for {_shown(method.upper(), segments)}")
        cls = loading.load_class(path, base, where=f"api/{file}")
    remember(_ROUTES, key, (cls, file), _ROUTES_MAX)  # bounded, whatever the file system accepts
    return cls, file, ids


# (app root, action, resource names) -> (class, route file), for routes that loaded;
# emptied with the loader's caches (loading.clear_cache).
_ROUTES: dict[tuple[str, str, tuple[str, ...]], tuple[type[API], str]] = loading.dependent_cache({})
_ROUTES_MAX = 1024
# (app root, method, path segments) -> (class, route file, ()), for the warm routes without ids
# (``/users``, ``POST /auth/login``): the paths themselves repeat; emptied with _ROUTES.
_ID_FREE_ROUTES: dict[tuple[str, str, tuple[str, ...]], tuple[type[API], str, tuple[str, ...]]] = (
    loading.dependent_cache({}))


_API_BASE: list[type[API]] = []


def _api_base() -> type[API]:
    """``api.base.API``, imported on the first request rather than on every one."""
    if not _API_BASE:
        from .base import API

        _API_BASE.append(API)
    return _API_BASE[0]
