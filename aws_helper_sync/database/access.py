"""The one piece of code that gives ``db`` and ``external_db`` to entry points."""

from __future__ import annotations

from .external_mongo_manager import ExternalMongoManager
from .proxies import DatabaseProxy, ExternalDatabaseProxy

_DB = DatabaseProxy()
_EXTERNAL_DB = ExternalDatabaseProxy()


class DatabaseAccess:
    """Mixin for API, Lambda, SQSConsumer and FargateTask.

    Both proxies are stateless, so one instance serves every thread; clients are
    created on first attribute access, not when the class is defined.
    """

    @property
    def db(self) -> DatabaseProxy:
        return _DB

    @property
    def external_db(self) -> ExternalDatabaseProxy | None:
        """None when EXTERNAL_MONGODB_CONNECTIONS configures no cluster."""
        return _EXTERNAL_DB if ExternalMongoManager.initialize() else None
