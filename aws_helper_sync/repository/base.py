"""Repository: one collection, in the current state's database or a fixed one.

    class LandRecordsRepository(Repository):
        collection_name = "land_records"
        indexes = ({"key": [("parcel_id", 1)], "unique": True},)

    repo = LandRecordsRepository()          # share it between threads freely
    with state_scope("connecticut"):
        repo.collection.insert_one({...})   # database "connecticut"

Collections are cached per database for each repository class. The hit path
is one lock-free dict read keyed by the database name (a str, whose hash is
cached, where a (database, collection) tuple is hashed on every access), then
two identity checks: the entry is for this collection name and for the current
MongoClient (``MongoManager.close()`` or a new client make old entries miss).
What it reads lives on the instance (see ``_bind_hit_path``). It never calls
``os.getpid()``: fork safety comes from the fork hook at the end of this
module, which empties every cache in a forked child (``MongoManager`` has its
own hook: no client in the child). Only a miss takes a lock, and indexes are
ensured once per key per process, even when many threads miss at the same
moment. An external repository's entries never match the default client, so
its hits take the miss function's first, lock-free check.

The caches (collections, per-key locks, ensured keys) are bounded per
repository class: ``collection_cache_size`` keys (class attribute), else
``REPOSITORY_CACHE_SIZE``, else 1,024. Eviction is an approximate LRU (CLOCK,
"second chance"): a hit only sets the entry's ``referenced`` flag, with no
lock and no reordering (an exact LRU would need ``move_to_end`` under a lock on
every hit, serializing all threads); a miss that grows the cache past its size
evicts, in insertion order, the first entry not referenced since the last
sweep, giving referenced ones a second chance. A stream of distinct states
therefore cannot grow a warm process without limit, while the keys in use
stay cached. An evicted key costs one rebuild on its next access (and, if its
ensured mark was evicted too, one idempotent ``createIndexes``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import settings
from ..context.state import _state, get_state
from ..database import mongo_manager as _mongo
from ..database.external_mongo_manager import ExternalMongoManager
from ..database.mongo_manager import MongoManager

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

# IndexAlreadyExists, IndexOptionsConflict, IndexKeySpecsConflict: the index
# definitions disagree with the server's, and no retry will change that.
INDEX_CONFLICT_CODES = frozenset({68, 85, 86})
UNAUTHORIZED = 13

DEFAULT_CACHE_SIZE = 1024

_Key = tuple[str, str]
_current_state = _state.get  # bound once: the hit path saves a call layer (get_state)
_DECLARATIONS = ("database_key", "collection_name")


def _plain_declaration(cls: type, name: str) -> bool:
    """True when the class declares ``name`` as a plain value (not a property)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return not hasattr(type(klass.__dict__[name]), "__get__")
    return True


class _Entry:
    """A cached collection, its name and client, and CLOCK's referenced bit."""

    __slots__ = ("client", "collection", "name", "referenced")

    def __init__(self, client: MongoClient[dict[str, Any]], collection: Collection[dict[str, Any]], name: str) -> None:
        self.client = client
        self.collection = collection
        self.name = name  # the repository's own str object, so the hit path compares by identity
        self.referenced = False


_NEVER_HITS: dict[str, _Entry] = {}  # stays empty: an unbound instance always misses


class Repository:
    """Base class for data access on one collection; subclasses declare, not code, the wiring."""

    collection_name: ClassVar[str]
    database_key: ClassVar[str | None] = None
    is_external: ClassVar[bool] = False
    cluster_name: ClassVar[str | None] = None
    indexes: ClassVar[Sequence[Mapping[str, Any]]] = ()
    #: Keys (database, collection) cached per class; None: REPOSITORY_CACHE_SIZE, else 1,024.
    collection_cache_size: ClassVar[int | None] = None

    # Per subclass (set in __init_subclass__), each bounded by the cache size.
    _collections: ClassVar[dict[str, _Entry]] = {}  # database name -> entry
    _key_locks: ClassVar[dict[_Key, threading.Lock]] = {}
    _ensured: ClassVar[dict[_Key, None]] = {}  # an insertion-ordered set
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    # What the hit path reads, copied onto each instance by _bind_hit_path (an
    # instance attribute is a fast read, a class attribute through an instance a
    # full lookup on Python 3.11). These class-level values make an unbound
    # instance (a subclass __init__ that skips super().__init__()) always miss;
    # the miss binds it.
    _hit_cache: dict[str, _Entry] = _NEVER_HITS
    _hit_database: str | None = None
    _hit_name: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._collections = {}
        cls._key_locks = {}
        cls._ensured = {}
        cls._cache_lock = threading.Lock()

    @classmethod
    def _reset_caches(cls, keep_ensured: bool = False) -> None:
        # In place: the instances hold this dict (see _bind_hit_path).
        cls._collections.clear()
        cls._key_locks = {}
        if not keep_ensured:
            cls._ensured = {}
        cls._cache_lock = threading.Lock()

    def __init__(self) -> None:
        name = getattr(self, "collection_name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__} must define collection_name")
        if self.is_external and not self.cluster_name:
            raise TypeError(f"{type(self).__name__} sets is_external but no cluster_name")
        self.logger = logging.getLogger(type(self).__name__)
        self._bind_hit_path()

    def _bind_hit_path(self) -> None:
        """Copy the declarations the hit path reads onto the instance.

        ``database_key`` and ``collection_name`` are read here, when the
        repository is built (and again when one is assigned on the instance):
        a class attribute changed later applies to repositories built after
        the change. A declaration that is a property (the async framework's
        style) may change per access, so such an instance is never bound: every
        access takes the miss function, whose lock-free check still finds the
        cached collection.
        """
        # object.__setattr__, never self.__dict__: on 3.11 touching __dict__ turns
        # the instance's inline attribute values into a dict, a slower read.
        cls = type(self)
        static = all(_plain_declaration(cls, name) for name in _DECLARATIONS)
        object.__setattr__(self, "_hit_cache", cls._collections if static else _NEVER_HITS)
        object.__setattr__(self, "_hit_database", self.database_key)
        object.__setattr__(self, "_hit_name", self.collection_name)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _DECLARATIONS:
            self._bind_hit_path()

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

    def _client(self) -> MongoClient[dict[str, Any]]:
        if self.is_external:
            return ExternalMongoManager.get_client(self.cluster_name)  # type: ignore[arg-type]
        return MongoManager.get_client()

    @property
    def collection(self) -> Collection[dict[str, Any]]:
        """The PyMongo collection for the current database; indexes ensured on first use."""
        entry = self._hit_cache.get(self._hit_database or _current_state())  # type: ignore[arg-type]
        if entry is not None and entry.client is _mongo.current_client and entry.name is self._hit_name:
            if not entry.referenced:  # no write once set: hot entries stay read-only
                entry.referenced = True
            return entry.collection
        return self._collection_miss()

    @classmethod
    def cache_size(cls) -> int:
        """How many keys each cache of this class keeps (see the module docstring)."""
        size = cls.collection_cache_size
        if size is None:
            size = settings.repository_cache_size(DEFAULT_CACHE_SIZE)
        elif isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise TypeError(f"{cls.__name__}.collection_cache_size must be a positive int, got {size!r}")
        return size

    def _collection_miss(self) -> Collection[dict[str, Any]]:
        cls = type(self)
        if self._hit_name is None:
            self._bind_hit_path()  # an instance whose __init__ skipped ours
        database, name = self.database_name, self.collection_name
        client = self._client()
        entry = cls._collections.get(database)
        if entry is not None and entry.client is client and entry.name == name:
            entry.referenced = True
            return entry.collection  # an external repository's hit, or a name built per access
        key = (database, name)
        size = cls.cache_size()
        with cls._cache_lock:
            key_lock = cls._key_locks.get(key)
            if key_lock is None:
                key_lock = cls._key_locks[key] = threading.Lock()
                _trim_locks(cls._key_locks, size)
        with key_lock:
            entry = cls._collections.get(database)
            if entry is not None and entry.client is client and entry.name == name:
                return entry.collection
            collection = client[database][name]
            if key not in cls._ensured and settings.auto_create_indexes():
                if self._create_indexes(collection) is None:
                    return collection  # not ensured: the next access retries
                cls._mark_ensured(key, size)
            with cls._cache_lock:
                cls._collections[database] = _Entry(client, collection, name)
                _evict_clock(cls._collections, size, database)
            return collection

    @classmethod
    def _mark_ensured(cls, key: _Key, size: int) -> None:
        with cls._cache_lock:
            ensured = cls._ensured
            ensured[key] = None
            while len(ensured) > size:
                del ensured[next(iter(ensured))]

    def ensure_indexes(self) -> list[str]:
        """Create the declared indexes in the current database now; returns their names."""
        key = (self.database_name, self.collection_name)
        collection = self._client()[key[0]][key[1]]
        names = self._create_indexes(collection, raise_errors=True)
        type(self)._mark_ensured(key, type(self).cache_size())
        return names or []

    @classmethod
    def declared(cls, name: str) -> Any:
        """The class's declared ``name`` (``indexes``, ``database_key``...) without an instance.

        Code written for the async framework declares these as ``@property`` (its README
        does): such a property is evaluated on a bare instance (``__init__`` not run), so
        ``sync-indexes`` and the class-level index step read what an instance would.
        """
        import inspect  # rare (sync-indexes, the class-level index step): not paid at import

        value = inspect.getattr_static(cls, name, None)
        if isinstance(value, property) and value.fget is not None:
            return value.fget(cls.__new__(cls))
        return getattr(cls, name, None)

    @classmethod
    def _index_models(cls) -> list[Any]:
        """The declared ``indexes`` as IndexModels (a class method: ``sync-indexes`` needs no instance)."""
        from pymongo import IndexModel

        models = []
        for spec in cls.declared("indexes") or ():
            options = dict(spec)
            keys = options.pop("key", None) or options.pop("keys", None)
            if keys is None:
                raise ValueError(f"{cls.__name__}.indexes entry without 'key': {spec!r}")
            if isinstance(keys, str):
                keys = [(keys, 1)]
            models.append(IndexModel([tuple(k) for k in keys], **options))
        return models

    def _create_indexes(self, collection: Collection[dict[str, Any]], raise_errors: bool = False) -> list[str] | None:
        """Create the declared indexes; None when they are not all ensured (retry later).

        Only a definition conflict with an existing index (codes 68, 85, 86) is
        permanent: it is logged and skipped. Anything else (server unreachable,
        write-concern timeout, MaxTimeMSExpired, an interrupted build) may pass,
        so it leaves the key unensured and the next access tries again; with
        ``raise_errors`` it is raised instead.
        """
        from pymongo.errors import OperationFailure, PyMongoError

        models = self._index_models()
        if not models:
            return []
        where = f"{collection.database.name}.{collection.name}"
        try:
            return collection.create_indexes(models)
        except OperationFailure as exc:
            if exc.code not in INDEX_CONFLICT_CODES:
                return self._index_failure(where, exc, raise_errors)
            # one conflicting definition fails the whole command: retry one by one
        except PyMongoError as exc:
            return self._index_failure(where, exc, raise_errors)
        created = []
        for model in models:
            try:
                created.extend(collection.create_indexes([model]))
            except OperationFailure as exc:
                if exc.code not in INDEX_CONFLICT_CODES:
                    return self._index_failure(where, exc, raise_errors)
                logger.error(
                    "index %s on %s conflicts with an existing index and was not created: %s",
                    model.document.get("name"), where, exc,
                )
            except PyMongoError as exc:
                return self._index_failure(where, exc, raise_errors)
        return created

    @staticmethod
    def _index_failure(where: str, exc: Exception, raise_errors: bool) -> None:
        if raise_errors:
            raise exc
        hint = ""
        if getattr(exc, "code", None) == UNAUTHORIZED:
            hint = " (a user without the createIndex privilege: set AUTO_CREATE_INDEXES=false)"
        logger.warning("could not ensure indexes on %s (retried on a later access)%s: %s", where, hint, exc)


def _evict_clock(cache: dict[str, _Entry], size: int, keep: str) -> None:
    """Shrink ``cache`` to ``size`` entries, CLOCK-style; the caller holds the cache lock.

    Entries referenced since the last sweep move to the end with their bit
    cleared (a second chance), so each sweep step is paid for by an earlier
    hit: amortized O(1) per miss. Readers never block: they see an entry or
    miss it and take the miss path.
    """
    while len(cache) > size:
        oldest = next(iter(cache))
        entry = cache.pop(oldest)
        if entry.referenced or oldest == keep:
            entry.referenced = False
            cache[oldest] = entry


def _trim_locks(locks: dict[_Key, threading.Lock], size: int) -> None:
    """Forget the oldest per-key locks beyond ``size`` that nobody holds right now."""
    excess = len(locks) - size
    if excess <= 0:
        return
    idle = []
    for key, lock in locks.items():  # oldest first; usually the first ones are idle
        if not lock.locked():
            idle.append(key)
            if len(idle) == excess:
                break
    for key in idle:
        del locks[key]


def _reset_all_in_child() -> None:
    # A lock held by a thread of the parent stays held in the child forever:
    # every repository class gets fresh locks (and drops the collections of the
    # parent's client) in a forked child. The ensured keys stay true there.
    pending: list[type[Repository]] = [Repository]
    while pending:
        cls = pending.pop()
        cls._reset_caches(keep_ensured=True)
        pending.extend(cls.__subclasses__())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_all_in_child)
