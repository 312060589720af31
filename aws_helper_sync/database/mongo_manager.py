"""The process-wide PyMongo client.

One ``MongoClient`` per process: created lazily on first use, exactly once even
when many threads ask at the same moment, and created anew in a forked child
(a MongoClient must never be shared across fork; gunicorn prefork and
multiprocessing both fork).

    db = MongoManager.get_database("connecticut")
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from .. import settings
from .._lazy import deferred_logger
from ..errors import ConfigurationError
from .client_options import client_options
from .uri import build_connection_string

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.database import Database

logger = deferred_logger(__name__, "logger", __name__)

CONFIG_HELP = (
    "MongoDB connection not configured: pass connection_string to "
    "MongoManager.initialize(), or set MONGODB_URI, or MONGO_DB_URI, or "
    "MONGO_DB_HOST (with MONGO_DB_USER, MONGO_DB_PASSWORD, MONGO_DB_NAME, MONGO_DB_OPTIONS)"
)


def resolve_connection_string(connection_string: str | None = None) -> str:
    """The URI by precedence: argument, MONGODB_URI, MONGO_DB_URI, MONGO_DB_HOST parts."""
    uri = connection_string or settings.env("MONGODB_URI") or settings.env("MONGO_DB_URI")
    if uri:
        return uri
    host = settings.env("MONGO_DB_HOST")
    if not host:
        raise ConfigurationError(CONFIG_HELP)
    user, password = settings.mongo_credentials()
    return build_connection_string(
        host, user, password, settings.env("MONGO_DB_NAME"), settings.env("MONGO_DB_OPTIONS")
    )


#: ``MongoManager._client`` mirrored as a module global (set only with it, under
#: its lock): Repository's hit path compares its cached entries to this, and a
#: module attribute is a cheaper read than a class attribute.
current_client: MongoClient[dict[str, Any]] | None = None


class MongoManager:
    """Lazy, thread-safe, fork-aware holder of the process's MongoClient."""

    _client: MongoClient[dict[str, Any]] | None = None
    _pid: int | None = None
    _lock = threading.Lock()
    _connection_string: str | None = None
    _client_kwargs: ClassVar[dict[str, Any]] = {}
    #: the async framework's name for ``database.uri.build_connection_string``
    build_connection_string = staticmethod(build_connection_string)

    @classmethod
    def configure(cls, connection_string: str | None = None, **client_kwargs: Any) -> None:
        """Set what the lazily created client will use (URI, pool size, listeners...).

        Takes effect at the next creation: call it before first use, or after close().
        Unless the URI or these arguments set them, the client gets
        ``w="majority", journal=True`` (an acknowledged write is durable),
        ``serverSelectionTimeoutMS=5000`` and ``tz_aware=True`` (UTC); setting any
        write-concern option (``w``, ``journal``, ``wtimeoutMS``) keeps the whole
        write concern yours. See ``client_options``.
        """
        with cls._lock:
            cls._connection_string = connection_string
            cls._client_kwargs = dict(client_kwargs)

    @classmethod
    def initialize(cls, connection_string: str | None = None, **client_kwargs: Any) -> MongoClient[dict[str, Any]]:
        """Create the client now (normally done on first use); later calls return it."""
        client = cls._client
        if client is not None and cls._pid == os.getpid():
            return client
        with cls._lock:
            if cls._client is not None and cls._pid == os.getpid():
                return cls._client
            from pymongo import MongoClient

            uri = resolve_connection_string(connection_string or cls._connection_string)
            kwargs = {**cls._client_kwargs, **client_kwargs}
            client = MongoClient(uri, **client_options(uri, kwargs))
            cls._connection_string = connection_string or cls._connection_string
            cls._client_kwargs = kwargs
            cls._pid = os.getpid()
            cls._set_client(client)
            return client

    @classmethod
    def get_client(cls) -> MongoClient[dict[str, Any]]:
        client = cls._client
        if client is not None and cls._pid == os.getpid():
            return client
        return cls.initialize()

    @classmethod
    def get_database(cls, name: str) -> Database[dict[str, Any]]:
        return cls.get_client()[name]

    @classmethod
    def is_initialized(cls) -> bool:
        return cls._client is not None and cls._pid == os.getpid()

    @classmethod
    def ping(cls) -> bool:
        """True when the server answers ``ping``; errors are logged, not raised."""
        try:
            cls.get_client().admin.command("ping")
            return True
        except Exception:
            logger.exception("MongoDB ping failed")
            return False

    @classmethod
    def close(cls) -> None:
        """Close the client; the next use connects again (and may use new settings)."""
        with cls._lock:
            client, cls._pid = cls._client, None
            cls._set_client(None)
            cls._connection_string = None
            cls._client_kwargs = {}
        if client is not None:
            client.close()

    @classmethod
    def _after_fork_in_child(cls) -> None:
        # The parent's client and lock belong to the parent: never close or use
        # them here (a lock held by another parent thread would block forever).
        cls._set_client(None)
        cls._pid = None
        cls._lock = threading.Lock()

    @classmethod
    def _set_client(cls, client: MongoClient[dict[str, Any]] | None) -> None:
        global current_client
        cls._client = current_client = client


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=MongoManager._after_fork_in_child)
