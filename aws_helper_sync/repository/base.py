"""Repository: one collection, in the current state's database or a fixed one.

    class LandRecordsRepository(Repository):
        collection_name = "land_records"
        indexes = ({"key": [("parcel_id", 1)], "unique": True},)

    repo = LandRecordsRepository()          # share it between threads freely
    with state_scope("connecticut"):
        repo.collection.insert_one({...})   # database "connecticut"

Collections are cached per (database, collection) for each repository class.
The hit path is a lock-free dict read (safe under the GIL); only a miss takes
a lock, and indexes are ensured once per key per process, even when many
threads miss at the same moment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import settings
from ..context.state import get_state
from ..database.external_mongo_manager import ExternalMongoManager
from ..database.mongo_manager import MongoManager

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

class Repository:
    """Base class for data access on one collection; subclasses declare, not code, the wiring."""

    collection_name: ClassVar[str]
    database_key: ClassVar[str | None] = None
    is_external: ClassVar[bool] = False
    cluster_name: ClassVar[str | None] = None
    indexes: ClassVar[Sequence[Mapping[str, Any]]] = ()

    # Per subclass (set in __init_subclass__): key -> (client, collection).
    _collections: ClassVar[dict[tuple[str, str], tuple[Any, Any]]] = {}
    _key_locks: ClassVar[dict[tuple[str, str], threading.Lock]] = {}
    _ensured: ClassVar[set[tuple[str, str]]] = set()
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._collections = {}
        cls._key_locks = {}
        cls._ensured = set()
        cls._cache_lock = threading.Lock()

    def __init__(self) -> None:
        name = getattr(self, "collection_name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__} must define collection_name")
        if self.is_external and not self.cluster_name:
            raise TypeError(f"{type(self).__name__} sets is_external but no cluster_name")
        self.logger = logging.getLogger(type(self).__name__)

    @property
    def database_name(self) -> str:
        """``database_key`` when set, else the current constitution-state."""
        name = self.database_key or get_state()
        if not name:
            raise ValueError(
                f"{type(self).__name__}: no database; set database_key on the repository "
                "or run inside a constitution-state (state_scope / the constitution-state header)"
            )
        return name

    def _client(self) -> MongoClient:
        if self.is_external:
            return ExternalMongoManager.get_client(self.cluster_name)  # type: ignore[arg-type]
        return MongoManager.get_client()

    @property
    def collection(self) -> Collection:
        """The PyMongo collection for the current database; indexes ensured on first use."""
        key = (self.database_name, self.collection_name)
        client = self._client()
        entry = self._collections.get(key)
        if entry is not None and entry[0] is client:
            return entry[1]
        return self._collection_miss(key, client)

    def _collection_miss(self, key: tuple[str, str], client: MongoClient) -> Collection:
        cls = type(self)
        with cls._cache_lock:
            key_lock = cls._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            entry = cls._collections.get(key)
            if entry is not None and entry[0] is client:
                return entry[1]
            collection = client[key[0]][key[1]]
            if key not in cls._ensured and settings.auto_create_indexes():
                if self._create_indexes(collection) is None:
                    return collection  # server unreachable: retry on next access
                cls._ensured.add(key)
            cls._collections[key] = (client, collection)
            return collection

    def ensure_indexes(self) -> list[str]:
        """Create the declared indexes in the current database now; returns their names."""
        key = (self.database_name, self.collection_name)
        collection = self._client()[key[0]][key[1]]
        names = self._create_indexes(collection, raise_connection_errors=True)
        type(self)._ensured.add(key)
        return names or []

    def _index_models(self) -> list[Any]:
        from pymongo import IndexModel

        models = []
        for spec in self.indexes:
            options = dict(spec)
            keys = options.pop("key", None) or options.pop("keys", None)
            if keys is None:
                raise ValueError(f"{type(self).__name__}.indexes entry without 'key': {spec!r}")
            if isinstance(keys, str):
                keys = [(keys, 1)]
            models.append(IndexModel([tuple(k) for k in keys], **options))
        return models

    def _create_indexes(self, collection: Collection, raise_connection_errors: bool = False) -> list[str] | None:
        """Create indexes; a conflict is logged and skipped. None when the server is unreachable."""
        from pymongo.errors import ConnectionFailure, OperationFailure

        models = self._index_models()
        if not models:
            return []
        where = f"{collection.database.name}.{collection.name}"
        try:
            return collection.create_indexes(models)
        except OperationFailure:
            pass  # one conflicting definition fails the whole command: retry one by one
        except ConnectionFailure:
            if raise_connection_errors:
                raise
            logger.warning("could not ensure indexes on %s: server unreachable", where, exc_info=True)
            return None
        created = []
        for model in models:
            try:
                created.extend(collection.create_indexes([model]))
            except OperationFailure as exc:
                logger.error(
                    "index %s on %s conflicts with an existing index and was not created: %s",
                    model.document.get("name"), where, exc,
                )
        return created
