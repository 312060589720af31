"""The options every MongoClient of the library gets unless the user chose them.

pymongo's own defaults suit a long-running server better than a Lambda
function that acknowledges SQS records:

- write concern ``w="majority", journal=True``: with pymongo's ``w=1`` and no
  journal, a write is acknowledged before it is on disk, and a server crash
  loses the last acknowledged writes (their SQS messages already deleted);
- ``serverSelectionTimeoutMS=5000``: pymongo waits 30 s for a server, longer
  than many functions' timeout, so an outage would time the whole batch out
  instead of failing its records;
- ``tz_aware=True`` (UTC): datetimes read back carry their offset, like the
  ones the application wrote.

A default applies only when neither the connection string nor the keyword
arguments set the option (names compared case-insensitively, as pymongo
does). Any write-concern option given (``w``, ``journal``/``j``,
``wtimeoutMS``...) means the user's write concern stands whole: pymongo
keyword arguments override URI options, so adding ``journal=True`` next to a
URI's ``journal=false`` would silently overrule the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._lazy import deferred

if TYPE_CHECKING:
    import datetime as _dt
    from urllib.parse import unquote_plus
else:  # needed when a client is created, not at cold start
    _dt = deferred(__name__, "_dt", "datetime")
    unquote_plus = deferred(__name__, "unquote_plus", "urllib.parse", "unquote_plus")

DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 5000
DEFAULT_WRITE_CONCERN: Mapping[str, Any] = {"w": "majority", "journal": True}

# pymongo.common.WRITE_CONCERN_OPTIONS, lower-cased (kept here: that set is internal).
WRITE_CONCERN_OPTIONS = frozenset({"w", "wtimeout", "wtimeoutms", "fsync", "j", "journal"})


def uri_option_names(uri: str) -> set[str]:
    """Lower-cased names of the options in a MongoDB URI's query string (no DNS lookup).

    Splits the URI as pymongo does: the options follow the first ``?`` after
    the path's ``/``, or after the hosts when there is no path.
    """
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    hosts, slash, path = rest.partition("/")
    query = path.partition("?")[2] if slash else hosts.partition("?")[2]
    names = set()
    for part in query.replace(";", "&").split("&"):
        name = unquote_plus(part.partition("=")[0]).strip().lower()
        if name:
            names.add(name)
    return names


def client_options(uri: str, client_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``client_kwargs`` plus the library's defaults for what neither they nor ``uri`` set."""
    given = uri_option_names(uri) | {name.lower() for name in client_kwargs}
    options: dict[str, Any] = {}
    if not given & WRITE_CONCERN_OPTIONS:
        options.update(DEFAULT_WRITE_CONCERN)
    if "serverselectiontimeoutms" not in given:
        options["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_TIMEOUT_MS
    if "tz_aware" not in given:
        options["tz_aware"] = True
        if "tzinfo" not in given:
            options["tzinfo"] = _dt.timezone.utc
    options.update(client_kwargs)
    return options
