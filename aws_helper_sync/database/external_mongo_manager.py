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


class ExternalMongoManager:
    """Lazy, thread-safe clients for the clusters in EXTERNAL_MONGODB_CONNECTIONS."""

    _lock = threading.Lock()
    _connections: dict[str, str] | None = None
    _raw: str | None = None
    _clients: ClassVar[dict[str, MongoClient]] = {}
    _pid: int | None = None

    @classmethod
    def _load(cls) -> dict[str, str]:
        raw = settings.external_mongodb_connections()
        connections = cls._connections
        if connections is not None and raw == cls._raw and cls._pid == os.getpid():
            return connections
        with cls._lock:
            if cls._pid != os.getpid():
                cls._clients = {}
                cls._pid = os.getpid()
            if cls._connections is None or raw != cls._raw:
                cls._connections = parse_connections(raw)
                cls._raw = raw
            return cls._connections

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
    def get_client(cls, cluster_name: str, **client_kwargs: Any) -> MongoClient:
        connections = cls._load()
        client = cls._clients.get(cluster_name)
        if client is not None:
            return client
        if cluster_name not in connections:
            configured = ", ".join(sorted(connections)) or "none"
            raise UnknownClusterError(
                f"unknown external cluster {cluster_name!r}; configured in {VARIABLE}: {configured}"
            )
        with cls._lock:
            client = cls._clients.get(cluster_name)
            if client is None:
                from pymongo import MongoClient

                client = MongoClient(connections[cluster_name], **client_kwargs)
                cls._clients = {**cls._clients, cluster_name: client}
            return client

    @classmethod
    def get_database(cls, cluster_name: str, db_name: str) -> Database:
        return cls.get_client(cluster_name)[db_name]

    @classmethod
    def close(cls) -> None:
        with cls._lock:
            clients, cls._clients = cls._clients, {}
            cls._connections = None
            cls._raw = None
        for client in clients.values():
            client.close()

    @classmethod
    def _after_fork_in_child(cls) -> None:
        cls._clients = {}
        cls._pid = None
        cls._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=ExternalMongoManager._after_fork_in_child)
