"""MongoDB access through PyMongo: the managers, the proxies, the entry-point mixin.

Importing this package does not import pymongo; clients are created on first use.
"""

from .access import DatabaseAccess
from .external_mongo_manager import (
    ExternalClusterConfigError,
    ExternalMongoManager,
    UnknownClusterError,
)
from .mongo_manager import MongoManager
from .proxies import DatabaseProxy, ExternalDatabaseProxy
from .uri import build_connection_string, inject_credentials

__all__ = [
    "DatabaseAccess",
    "DatabaseProxy",
    "ExternalClusterConfigError",
    "ExternalDatabaseProxy",
    "ExternalMongoManager",
    "MongoManager",
    "UnknownClusterError",
    "build_connection_string",
    "inject_credentials",
]
