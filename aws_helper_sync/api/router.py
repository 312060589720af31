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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import loading, settings
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
_RESOURCE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}")


def is_id(part: str) -> bool:
    """Digits, a UUID or a 24-hex ObjectId."""
    return _ID.fullmatch(part) is not None


def _shown(method: str, segments: tuple[str, ...] | list[str]) -> str:
    text = f"{method[:16]} /{'/'.join(segments)}"
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class Route:
    """Where a request goes: the file relative to ``api/`` and the ids in order."""

    file: str
    path_parameters: tuple[str, ...]


def match_route(method: str, segments: tuple[str, ...] | list[str]) -> Route:
    """The route for ``method`` and the URL path parts; RouteNotFoundError when there is none."""
    method = method.upper()
    if method == "HEAD":  # answered like GET, without a body (shape_response drops it)
        method = "GET"
    if method not in ROUTED_METHODS or not segments:
        raise RouteNotFoundError(f"No route for {_shown(method, segments)}")
    resources: list[str] = []
    ids: list[str] = []
    for index, part in enumerate(segments):
        if (index % 2 == 1) if method == "GET" else is_id(part):
            ids.append(part)
        else:
            resources.append(part)
    if not resources or not all(_RESOURCE.fullmatch(part) for part in resources):
        raise RouteNotFoundError(f"No route for {_shown(method, segments)}")
    if method == "GET":
        action = "get" if len(segments) % 2 == 0 else "list"
    else:
        action = METHOD_FILES[method]
    return Route(file="/".join(resources) + f"/{action}.py", path_parameters=tuple(ids))


def resolve_route(method: str, segments: tuple[str, ...] | list[str]) -> tuple[type[API], Route]:
    """The API class and route for a request; RouteNotFoundError when no file exists.

    Warm requests are one cache lookup in the loader (no stat, no resolve). A
    file that exists but cannot be loaded (syntax error, no API subclass,
    ``async def`` hooks) raises its own error: that is a server fault, not a 404.
    """
    from .base import API

    route = match_route(method, segments)
    path = f"{settings.app_root_text()}/api/{route.file}"
    cls = loading.cached_class(path, API)
    if cls is None:
        if not os.path.isfile(path):
            raise RouteNotFoundError(f"No route for {_shown(method.upper(), segments)}")
        cls = loading.load_class(path, API, where=f"api/{route.file}")
    return cls, route
