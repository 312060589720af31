"""Clients for named external MongoDB clusters.

``EXTERNAL_MONGODB_CONNECTIONS`` is a JSON list of
``{"name": "...", "connection_string": "..."}``. ``MONGO_DB_USER`` and
``MONGO_DB_PASSWORD``, when set, replace the credentials of every string. One
lazy client per cluster, created once even under concurrent first use, and
anew in a forked child.
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from .. import settings
from ..errors import ConfigurationError
from .client_options import client_options
from .uri import inject_credentials

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.database import Database

VARIABLE = "EXTERNAL_MONGODB_CONNECTIONS"


class ExternalClusterConfigError(ConfigurationError):
    """EXTERNAL_MONGODB_CONNECTIONS is malformed (the operator's fault: a 500, not a 400)."""


class UnknownClusterError(KeyError):
    """A cluster name that is not configured."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


def parse_connections(raw: str | None) -> dict[str, str]:
    """Cluster name -> connection string, with credentials injected; errors name the variable."""
    if raw is None:
        return {}
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ExternalClusterConfigError(f"{VARIABLE} is not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ExternalClusterConfigError(
            f"{VARIABLE} must be a JSON list of {{\"name\", \"connection_string\"}} objects, "
            f"got {type(entries).__name__}"
        )
    user, password = settings.mongo_credentials()
    clusters: dict[str, str] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ExternalClusterConfigError(f"{VARIABLE}[{index}] must be an object")
        name, uri = entry.get("name"), entry.get("connection_string")
        if not isinstance(name, str) or not name.strip():
            raise ExternalClusterConfigError(f"{VARIABLE}[{index}] needs a non-empty \"name\"")
        if not isinstance(uri, str) or not uri.strip():
            raise ExternalClusterConfigError(
                f"{VARIABLE}[{index}] ({name}) needs a non-empty \"connection_string\""
            )
        if name in clusters:
            raise ExternalClusterConfigError(f"{VARIABLE} names cluster {name!r} twice")
        if user and password:
            uri = inject_credentials(uri, user, password)
        clusters[name] = uri
    return clusters


def _unknown_cluster(name: str, connections: dict[str, str]) -> UnknownClusterError:
    configured = ", ".join(sorted(connections)) or "none"
    return UnknownClusterError(f"unknown external cluster {name!r}; configured in {VARIABLE}: {configured}")


class ExternalMongoManager:
    """Lazy, thread-safe clients for the clusters in EXTERNAL_MONGODB_CONNECTIONS.

    The variable (and the injected credentials) are read on every call: when
    they change, the next call serves the new configuration. A cluster that
    was removed is no longer served (``UnknownClusterError``), a cluster whose
    connection string changed gets a new client, and the clients that no
    longer match are closed (an operation still running on one of them in
    another thread fails, as after ``close()``). ``reset()`` forgets
    everything explicitly.
    """

    _lock = threading.Lock()
    _connections: dict[str, str] | None = None
    _source: tuple[str | None, str | None, str | None] | None = None
    # cluster name -> (connection string, client): a client serves only its own string.
    _clients: ClassVar[dict[str, tuple[str, MongoClient[dict[str, Any]]]]] = {}
    _pid: int | None = None

    @classmethod
    def _load(cls) -> dict[str, str]:
        source = (settings.external_mongodb_connections(), *settings.mongo_credentials())
        connections = cls._connections
        if connections is not None and source == cls._source and cls._pid == os.getpid():
            return connections
        stale: list[MongoClient[dict[str, Any]]] = []
        with cls._lock:
            if cls._pid != os.getpid():
                cls._clients = {}  # the parent's clients: never use (nor close) them here
                cls._pid = os.getpid()
            if cls._connections is None or source != cls._source:
                connections = parse_connections(source[0])
                kept = {}
                for name, (uri, client) in cls._clients.items():
                    if connections.get(name) == uri:
                        kept[name] = (uri, client)
                    else:
                        stale.append(client)
                cls._clients = kept
                cls._connections = connections
                cls._source = source
            connections = cls._connections
        for client in stale:
            client.close()
        return connections

    @classmethod
    def initialize(cls) -> bool:
        """Parse the configuration (raising on malformed input); True when clusters exist."""
        return bool(cls._load())

    @classmethod
    def is_initialized(cls) -> bool:
        return cls._connections is not None

    @classmethod
    def get_available_clusters(cls) -> list[str]:
        return list(cls._load())

    @classmethod
    def get_client(cls, cluster_name: str, **client_kwargs: Any) -> MongoClient[dict[str, Any]]:
        """The cluster's client, created on first use with the library's defaults
        (see ``client_options``) for what neither its string nor ``client_kwargs`` set."""
        connections = cls._load()
        entry = cls._clients.get(cluster_name)
        if entry is not None:
            return entry[1]
        if cluster_name not in connections:
            raise _unknown_cluster(cluster_name, connections)
        with cls._lock:
            uri = (cls._connections or {}).get(cluster_name)
            if uri is not None:
                entry = cls._clients.get(cluster_name)
                if entry is None or entry[0] != uri:
                    from pymongo import MongoClient

                    entry = (uri, MongoClient(uri, **client_options(uri, client_kwargs)))
                    cls._clients = {**cls._clients, cluster_name: entry}
                return entry[1]
        raise _unknown_cluster(cluster_name, cls._connections or {})  # removed by a concurrent reload

    @classmethod
    def get_database(cls, cluster_name: str, db_name: str) -> Database[dict[str, Any]]:
        return cls.get_client(cluster_name)[db_name]

    @classmethod
    def reset(cls) -> None:
        """Close every client and forget the parsed configuration.

        The next call reads EXTERNAL_MONGODB_CONNECTIONS again. Not needed for a
        changed variable (that is noticed by itself); useful after tests or to
        drop idle connections.
        """
        with cls._lock:
            clients, cls._clients = cls._clients, {}
            cls._connections = None
            cls._source = None
        for _uri, client in clients.values():
            client.close()

    close = reset

    @classmethod
    def _after_fork_in_child(cls) -> None:
        cls._clients = {}
        cls._pid = None
        cls._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ExternalMongoManager._after_fork_in_child)
