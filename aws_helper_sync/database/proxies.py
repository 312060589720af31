"""Attribute-style access: ``self.db.<database>.<collection>``.

    self.db.connecticut.land_records.find_one({...})
    self.external_db.ClusterDockets.dockets.cases.find_one({...})
"""

from __future__ import annotations

from typing import Any

from .external_mongo_manager import ExternalMongoManager
from .mongo_manager import MongoManager


class DatabaseProxy:
    """``proxy.<name>`` (or ``proxy["name"]``) is the PyMongo Database of that name."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return MongoManager.get_database(name)

    def __getitem__(self, name: str) -> Any:
        return MongoManager.get_database(name)

    def __repr__(self) -> str:
        return "<DatabaseProxy>"


class _ClusterProxy:
    __slots__ = ("_cluster",)

    def __init__(self, cluster: str) -> None:
        self._cluster = cluster

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return ExternalMongoManager.get_database(self._cluster, name)

    def __getitem__(self, name: str) -> Any:
        return ExternalMongoManager.get_database(self._cluster, name)

    def __repr__(self) -> str:
        return f"<ExternalCluster {self._cluster}>"


class ExternalDatabaseProxy:
    """``proxy.<Cluster>.<database>`` is a PyMongo Database on that external cluster."""

    __slots__ = ()

    def __getattr__(self, cluster: str) -> Any:
        if cluster.startswith("__"):
            raise AttributeError(cluster)
        ExternalMongoManager.get_client(cluster)  # fail fast, listing configured names
        return _ClusterProxy(cluster)

    def __getitem__(self, cluster: str) -> Any:
        return self.__getattr__(cluster)

    def __repr__(self) -> str:
        return f"<ExternalDatabaseProxy clusters={ExternalMongoManager.get_available_clusters()}>"
