"""Indexes per state, on purpose: what the app's repositories declare, against what each database has.

Repositories ensure their indexes lazily, on the first access of each
(database, collection) in a process. A deploy step does it on purpose instead,
for every state at once, and shows what it would do first:

    repositories = discover_repositories()                 # the app root's Repository classes
    report = sync_indexes(repositories, ["ohio", "texas"])  # dry run: reads, creates nothing
    print(report.table())
    report = sync_indexes(repositories, registry=True, apply=True, prune=True)
    report.failed                                           # a conflict or an error somewhere

``aws-helper-sync sync-indexes`` is a thin wrapper around these two functions.

Which databases: a repository without ``database_key`` is synced in the
database of every state given (``states``), or of every active state of the
state registry (``STATES_COLLECTION``, else ``ALLOWED_STATES``). Each given
state passes ``known_state`` first, so a typo is refused before any database
is touched (creating an index would create the database). A repository with a
``database_key`` is synced once, in that database; an external one
(``is_external``) on its cluster. Repositories of one (cluster, database,
collection) are merged: the union of their declarations.

How indexes are compared: by key spec (fields, their order and directions),
then the options that change what an index does: ``unique``, ``sparse``,
``partialFilterExpression``, ``expireAfterSeconds``, and ``name`` when the
declaration gives one. Other options (``collation``, ``background``...) are
passed to ``create_indexes`` but not compared; text indexes compare in the form
the server lists them (``_fts``/``_ftsx``), their weights are not compared. An existing index with the same
key (or the declared name) but other options is a *conflict*: it is reported
and the collection counts as failed, and nothing is changed for it, not even
with ``prune``: dropping and rebuilding a unique or TTL index on a live
collection is a decision for a person (drop it by name, then apply again),
never a side effect of a deploy. ``prune`` drops only indexes that no
declaration claims (never ``_id_``), and only in collections some repository
declares; a collection no repository names is never read or touched.

Which classes (``discover_repositories``): with the app root on ``sys.path``,
every ``.py`` file under ``api/``, ``consumer/``, ``lambda/`` and ``task/`` is
imported through the library's loader (the module names the handlers get), and
every top-level module and package of the app root by its plain name (as the
entry files import them, e.g. ``from repositories import ...``), packages with
all their submodules. Skipped: ``setup.py``, ``conftest.py``, ``test_*``,
``*_test``, the ``test``/``tests`` packages, names that are not identifiers.
Importing runs a module's top-level code. Any import error fails discovery
(``RepositoryDiscoveryError``, listing every failing file) before a database is
touched: a module that did not load could hold declarations, and pruning
without them would drop their indexes. ``modules`` names the modules to import
instead (an import name, or a ``.py`` path relative to the app root).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .. import settings
from .base import INDEX_CONFLICT_CODES, Repository

if TYPE_CHECKING:
    from pymongo.collection import Collection

ENTRY_FOLDERS = ("api", "consumer", "lambda", "task")
COMPARED_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")
_SKIPPED_NAMES = frozenset({"setup", "conftest", "noxfile", "test", "tests", "aws_helper_sync"})
_ID_INDEX = "_id_"


class IndexSyncError(ValueError):
    """The request cannot be served as asked (no states, both sources, no registry): a user error."""


class RepositoryDiscoveryError(RuntimeError):
    """Some app modules failed to import; ``errors`` lists (file or module, error) for each."""

    def __init__(self, errors: Sequence[tuple[str, str]]) -> None:
        self.errors = list(errors)
        lines = "; ".join(f"{where}: {error}" for where, error in self.errors)
        super().__init__(
            f"{len(self.errors)} app module(s) failed to import, so the declared indexes are unknown "
            f"and nothing was synced: {lines}"
        )


# --- discovery ---

def discover_repositories(modules: Sequence[str] = ()) -> list[type[Repository]]:
    """The concrete Repository classes of the app root (``APP_ROOT``), in import order.

    See the module docstring for which modules are imported; ``modules``
    replaces that rule with an explicit list.
    """
    root = settings.app_root().resolve()
    if not root.is_dir():
        raise IndexSyncError(f"app root {root} is not a directory: pass --app-root DIR")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # entry files import their siblings by plain name
    imported: list[ModuleType] = []
    errors: list[tuple[str, str]] = []
    targets = [_explicit_target(root, name) for name in modules] if modules else _default_targets(root)
    for where, load in targets:
        try:
            imported.extend(load(errors))
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of user code: reported, not raised
            errors.append((where, f"{type(exc).__name__}: {exc}"))
    if errors:
        raise RepositoryDiscoveryError(errors)
    return _repository_classes(imported, root)


def _default_targets(root: Path) -> list[tuple[str, Any]]:
    targets: list[tuple[str, Any]] = []
    for path in sorted(root.iterdir()):
        name = path.stem if path.suffix == ".py" else path.name
        if (not name.isidentifier() or name in _SKIPPED_NAMES or name.startswith("test_")
                or name.endswith("_test") or name in ENTRY_FOLDERS):
            continue
        if path.is_file() and path.suffix == ".py":
            targets.append((path.name, _by_name(name, root)))
        elif path.is_dir() and (path / "__init__.py").is_file():
            targets.append((f"{name}/", _by_name(name, root, walk=True)))
    for folder in ENTRY_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(root)
            if any(part.startswith((".", "__pycache__")) for part in relative.parts[:-1]):
                continue
            targets.append((relative.as_posix(), _by_file(path)))
    return targets


def _explicit_target(root: Path, name: str) -> tuple[str, Any]:
    if name.endswith(".py"):
        path = (root / name).resolve()
        if root not in path.parents or not path.is_file():
            raise IndexSyncError(f"--module {name}: no such file under the app root {root}")
        return name, _by_file(path)
    return name, _by_name(name, root, walk=True)


def _by_file(path: Path) -> Any:
    def load(errors: list[tuple[str, str]]) -> list[ModuleType]:
        from .. import loading

        with loading._lock:  # as load_class: one import at a time, whichever thread asks
            return [loading._import_file(path)]

    return load


def _by_name(name: str, root: Path, walk: bool = False) -> Any:
    def load(errors: list[tuple[str, str]]) -> list[ModuleType]:
        already = sys.modules.get(name)
        if already is not None:
            file = getattr(already, "__file__", None)
            if file and root not in Path(file).resolve().parents:
                raise ImportError(f"module {name!r} is already imported from {file}, not from {root}")
        module = importlib.import_module(name)
        found = [module]
        if walk and hasattr(module, "__path__"):
            def on_error(failed: str) -> None:
                error = sys.exc_info()[1]
                errors.append((failed, f"{type(error).__name__}: {error}"))

            for info in pkgutil.walk_packages(module.__path__, f"{name}.", onerror=on_error):
                try:
                    found.append(importlib.import_module(info.name))
                except (Exception, SystemExit) as exc:  # noqa: BLE001 - as above
                    errors.append((info.name, f"{type(exc).__name__}: {exc}"))
        return found

    return load


def _repository_classes(modules: Sequence[ModuleType], root: Path) -> list[type[Repository]]:
    loaded = {id(module) for module in modules}
    classes: list[type[Repository]] = []
    for module in modules:
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, Repository) and value is not Repository):
                continue
            name = getattr(value, "collection_name", None)
            if not isinstance(name, str) or not name or value in classes:
                continue  # an abstract base without a collection, or seen already
            home = sys.modules.get(value.__module__)
            file = getattr(home, "__file__", None)
            if id(home) in loaded or (file and root in Path(file).resolve().parents):
                classes.append(value)  # the app's own, not one it imported from a library
    return classes


# --- comparing ---

def _plain(value: Any) -> Any:
    """SON and nested documents as plain dicts, integral floats as ints: comparable values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _stored_key(key: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A key spec as the server lists it: text fields become ``_fts: "text", _ftsx: 1``
    where the first one stands (their names are in the ``weights`` option instead)."""
    if not any(direction == "text" for _, direction in key):
        return key
    stored: list[tuple[str, Any]] = []
    for field_name, direction in key:
        if direction != "text":
            stored.append((field_name, direction))
        elif ("_fts", "text") not in stored:
            stored.extend([("_fts", "text"), ("_ftsx", 1)])
    return stored


def _options(document: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for option in COMPARED_OPTIONS:
        value = document.get(option)
        if option in ("unique", "sparse"):
            if value:
                options[option] = True
        elif value is not None:
            options[option] = _plain(value)
    return options


@dataclass(eq=False)
class IndexSpec:
    """One index, declared or existing, reduced to what is compared."""

    name: str
    key: list[tuple[str, Any]]
    options: dict[str, Any]
    name_given: bool = True
    model: Any = None  # the IndexModel to create (declared only)
    declared_by: str = ""

    @classmethod
    def declared(cls, model: Any, name_given: bool, declared_by: str) -> IndexSpec:
        document = model.document
        return cls(document["name"], _stored_key([(k, _plain(d)) for k, d in document["key"].items()]),
                   _options(document), name_given, model, declared_by)

    @classmethod
    def existing(cls, name: str, info: Mapping[str, Any]) -> IndexSpec:
        return cls(name, [(k, _plain(d)) for k, d in info["key"]], _options(info))

    def same_definition(self, other: IndexSpec) -> bool:
        return self.key == other.key and self.options == other.options

    def matches(self, existing: IndexSpec) -> bool:
        """``existing`` is this declaration: same key, options, and name when one is declared."""
        return self.same_definition(existing) and (not self.name_given or self.name == existing.name)

    def describe(self) -> str:
        key = ", ".join(f"{k}: {d}" for k, d in self.key)
        options = "".join(f", {k}={json.dumps(v, default=str)}" for k, v in self.options.items())
        return f"{self.name} {{{key}}}{options}"


def _plan(declared: list[IndexSpec], existing: dict[str, IndexSpec]) -> tuple[
        list[IndexSpec], list[str], list[str], list[str]]:
    """(to create, existing ok, conflicts, undeclared) for one collection."""
    claimed: set[str] = set()
    ok: dict[int, str] = {}
    for position, spec in enumerate(declared):  # 1st pass: exact matches claim their index
        for name, index in existing.items():
            if name not in claimed and spec.matches(index):
                claimed.add(name)
                ok[position] = name
                break
    to_create: list[IndexSpec] = []
    conflicts: list[str] = []
    for position, spec in enumerate(declared):  # 2nd pass: same name or same key, other definition
        if position in ok:
            continue
        rival = existing.get(spec.name) if spec.name_given else None
        if rival is None:
            rival = next((i for n, i in existing.items() if n not in claimed and i.key == spec.key), None)
        if rival is None:
            to_create.append(spec)
            continue
        claimed.add(rival.name)
        conflicts.append(f"{spec.describe()} declared by {spec.declared_by}; existing {rival.describe()}")
    undeclared = [name for name in existing if name not in claimed and name != _ID_INDEX]
    return to_create, [ok[p] for p in sorted(ok)], conflicts, undeclared


# --- the report ---

@dataclass
class CollectionSync:
    """One collection in one database: what is declared there, what it has, what was done."""

    state: str | None  # None: a fixed database_key, synced once
    cluster: str | None  # None: the main MongoDB (MongoManager)
    database: str
    collection: str
    repositories: list[str] = field(default_factory=list)
    to_create: list[str] = field(default_factory=list)
    existing_ok: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    undeclared: list[str] = field(default_factory=list)
    to_drop: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return bool(self.conflicts) or self.error is not None

    @property
    def where(self) -> str:
        prefix = f"{self.cluster}:" if self.cluster else ""
        return f"{prefix}{self.database}.{self.collection}"


@dataclass
class IndexSyncReport:
    """What ``sync_indexes`` found and did; ``table()`` for people, ``to_dict()`` for programs."""

    applied: bool
    prune: bool
    states: list[str]
    states_source: str
    collections: list[CollectionSync] = field(default_factory=list)
    state_errors: dict[str, str] = field(default_factory=dict)

    @property
    def failed_states(self) -> list[str]:
        """States (and fixed databases, by name) with a conflict or an error."""
        failed = list(self.state_errors)
        for entry in self.collections:
            label = entry.state or entry.database
            if entry.failed and label not in failed:
                failed.append(label)
        return failed

    @property
    def failed(self) -> bool:
        return bool(self.failed_states)

    @property
    def pending(self) -> bool:
        """Something is left to create or drop (after ``apply``: something that was not done)."""
        if self.applied:
            return any(e.to_create != e.created or e.to_drop != e.dropped for e in self.collections)
        return any(e.to_create or e.to_drop for e in self.collections)

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied, "prune": self.prune, "states": self.states,
            "states_source": self.states_source, "failed_states": self.failed_states,
            "state_errors": self.state_errors,
            "collections": [dict(vars(e), where=e.where, failed=e.failed) for e in self.collections],
        }

    def table(self) -> str:
        """The per-state table: state, collection, to create, existing ok, conflicts, to drop, error.

        After ``apply`` the create and drop columns say what was done (created, dropped).
        """
        create, drop = ("created", "dropped") if self.applied else ("to create", "to drop")
        header = ["state", "collection", create, "existing ok", "conflicts", drop, "error"]
        rows = [[state, "-", "-", "-", "-", "-", _short(error)] for state, error in self.state_errors.items()]
        for e in self.collections:
            created, dropped = (e.created, e.dropped) if self.applied else (e.to_create, e.to_drop)
            rows.append([
                e.state or "-", e.collection if e.state and not e.cluster else e.where,
                _cell(created), _cell(e.existing_ok), _cell([c.split(" ", 1)[0] for c in e.conflicts]),
                _cell(dropped), _short(e.error) if e.error else "-",
            ])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*lines, *self._notes()])

    def _notes(self) -> list[str]:
        mode = "applied" if self.applied else "dry run, nothing changed (--apply creates, --prune drops)"
        source = "states given" if self.states_source == "given" else f"states from {self.states_source}"
        notes = [f"\n{mode}; {source}: {', '.join(self.states) or '-'}"]
        notes.extend(f"refused state {state!r}: {error}" for state, error in self.state_errors.items())
        for e in self.collections:
            notes.extend(f"conflict in {e.state or e.database} {e.where}: {c}" for c in e.conflicts)
            if e.error:
                notes.append(f"error in {e.state or e.database} {e.where}: {e.error}")
            if e.undeclared and not self.prune:
                notes.append(f"undeclared in {e.where} (kept; --prune drops them): {', '.join(e.undeclared)}")
        todo = sum(len(e.to_create) + len(e.to_drop) for e in self.collections)
        if self.failed:
            notes.append(f"FAILED: {', '.join(self.failed_states)}")
        elif not self.applied:
            notes.append("nothing to do" if not todo else f"{todo} change(s) to apply")
        else:
            created = sum(len(e.created) for e in self.collections)
            dropped = sum(len(e.dropped) for e in self.collections)
            notes.append(f"done: {created} index(es) created, {dropped} dropped")
        return notes


def _cell(names: list[str]) -> str:
    return ", ".join(names) if names else "-"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- states ---

def _registry_source() -> tuple[str, list[str]] | None:
    """(where, names) of the configured registry: STATES_COLLECTION, else ALLOWED_STATES; or None."""
    from ..context.registry import mongo_registry

    registry = mongo_registry()
    if registry is not None:
        registry.expire()  # a deploy step reads the registry as it is now, not a cached list
        return f"the registry {registry.where}", sorted(registry.active_names())
    raw = settings.allowed_states()
    if raw is not None:
        return "ALLOWED_STATES", [name.strip() for name in raw.split(",")]
    return None


def resolve_states(states: str | Iterable[str] | None, registry: bool) -> tuple[list[str], dict[str, str], str]:
    """(states to sync, refused registry entries with why, where they came from).

    Given states must all pass ``known_state`` (else its error is raised and
    nothing is synced); registry entries it refuses are reported, not raised.
    """
    from ..context.state import InvalidStateError
    from ..entrypoint import known_state

    if states is not None:
        if registry:
            raise IndexSyncError("give states or use the registry, not both")
        names = [states] if isinstance(states, str) else list(states)  # a bare string is ONE state
        if not names:
            raise IndexSyncError("no states given")
        unique = list(dict.fromkeys(names))
        for name in unique:
            known_state(name)
        return unique, {}, "given"
    source = _registry_source()
    if source is None:
        if registry:
            raise IndexSyncError("no state registry configured: set STATES_COLLECTION (or ALLOWED_STATES), "
                                 "or pass the states")
        return [], {}, "nowhere (no states given, no registry configured)"
    where, names = source
    accepted: list[str] = []
    refused: dict[str, str] = {}
    for name in dict.fromkeys(names):
        try:
            accepted.append(known_state(name))
        except InvalidStateError as exc:
            refused[str(name)] = f"{type(exc).__name__}: {exc}"
    if not accepted and not refused:
        raise IndexSyncError(f"{where} lists no active state")
    return accepted, refused, where


# --- syncing ---

def sync_indexes(
    repositories: Iterable[type[Repository]],
    states: str | Iterable[str] | None = None,
    *,
    registry: bool = False,
    apply: bool = False,
    prune: bool = False,
) -> IndexSyncReport:
    """Compare (and with ``apply`` create, with ``prune`` drop) the declared indexes, per state.

    ``states``: the states whose databases hold the per-state repositories; None
    with ``registry`` (or with a registry configured): the registry's active
    states. A dry run (the default) only lists indexes: it creates no database,
    collection or index. Raises IndexSyncError / InvalidStateError (a user
    error), ConfigurationError (a setting), StateRegistryUnavailableError;
    everything else that goes wrong in a database is in the report.
    """
    repositories = list(repositories)
    names, refused, source = resolve_states(states, registry)
    if any(r.declared("database_key") is None for r in repositories) and not names and not refused:
        raise IndexSyncError("no states to sync: pass the states (--states a,b) or use the state registry "
                             "(--registry, STATES_COLLECTION)")
    report = IndexSyncReport(applied=apply, prune=prune, states=names, states_source=source,
                             state_errors=refused)
    groups = _groups(repositories, names)
    clients = _clients({group.cluster for group in groups})
    unreachable: dict[str | None, str] = {}
    for group in groups:
        entry = CollectionSync(group.state, group.cluster, group.database, group.collection,
                               repositories=group.repositories, conflicts=list(group.conflicts))
        entry.error = "; ".join(group.errors) or None
        report.collections.append(entry)
        if entry.error:
            continue
        if group.cluster in unreachable:
            entry.error = f"skipped: {unreachable[group.cluster]}"
            continue
        collection = clients[group.cluster][group.database][group.collection]
        _sync_collection(entry, collection, group.declared, apply, prune, unreachable)
    return report


@dataclass
class _Group:
    """The repositories of one (cluster, database, collection) and their merged declarations."""

    state: str | None
    cluster: str | None
    database: str
    collection: str
    repositories: list[str] = field(default_factory=list)
    declared: list[IndexSpec] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # two repositories disagree on one index name
    errors: list[str] = field(default_factory=list)

    def merge(self, spec: IndexSpec) -> None:
        for other in self.declared:
            if other.name == spec.name:
                if not other.same_definition(spec):
                    self.conflicts.append(f"{spec.describe()} declared by {spec.declared_by}; "
                                          f"{other.describe()} declared by {other.declared_by}")
                return
        self.declared.append(spec)


def _groups(repositories: list[type[Repository]], states: list[str]) -> list[_Group]:
    """One group per (cluster, database, collection): per state first, in state order, then fixed ones."""
    groups: dict[tuple[str | None, str, str], _Group] = {}
    order = {state: n for n, state in enumerate(states)}
    for repo in repositories:
        cluster = repo.declared("cluster_name") if repo.declared("is_external") else None
        database_key = repo.declared("database_key")
        databases = [(None, database_key)] if database_key else [(s, s) for s in states]
        try:
            if repo.declared("is_external") and not cluster:
                raise TypeError("is_external is set but cluster_name is not")
            specs = [IndexSpec.declared(model, "name" in spec, repo.__name__)
                     for model, spec in zip(repo._index_models(), repo.declared("indexes") or ())]
            error = None
        except (TypeError, ValueError) as exc:
            specs, error = [], f"{repo.__name__}.indexes: {exc}"
        for state, database in databases:
            key = (cluster, database, repo.declared("collection_name"))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(state, cluster, database, key[2])
            group.state = group.state or state  # a database_key equal to a state joins that state
            if repo.__name__ not in group.repositories:
                group.repositories.append(repo.__name__)
            if error:
                group.errors.append(error)
            for spec in specs:
                group.merge(spec)
    return sorted(groups.values(), key=lambda g: (g.state is None, order.get(g.state or "", 0)))


def _clients(clusters: set[str | None]) -> dict[str | None, Any]:
    from ..database.external_mongo_manager import (
        ExternalMongoManager,
        UnknownClusterError,
    )
    from ..database.mongo_manager import MongoManager

    clients: dict[str | None, Any] = {}
    for cluster in sorted(clusters, key=lambda c: c or ""):
        try:
            clients[cluster] = MongoManager.get_client() if cluster is None else ExternalMongoManager.get_client(cluster)
        except UnknownClusterError as exc:
            raise IndexSyncError(str(exc)) from None
    return clients


def _sync_collection(entry: CollectionSync, collection: Collection[dict[str, Any]], declared: list[IndexSpec],
                     apply: bool, prune: bool, unreachable: dict[str | None, str]) -> None:
    from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

    try:
        existing = {name: IndexSpec.existing(name, info) for name, info in collection.index_information().items()}
        to_create, entry.existing_ok, conflicts, entry.undeclared = _plan(declared, existing)
        entry.conflicts.extend(conflicts)
        entry.to_create = [spec.name for spec in to_create]
        entry.to_drop = list(entry.undeclared) if prune else []
        if not apply:
            return
        for spec in to_create:
            try:
                entry.created.extend(collection.create_indexes([spec.model]))
            except OperationFailure as exc:
                if exc.code not in INDEX_CONFLICT_CODES:
                    raise
                entry.conflicts.append(f"{spec.describe()} declared by {spec.declared_by}: "
                                       f"refused by the server ({exc.code}): {exc.details and exc.details.get('errmsg')}")
        for name in entry.to_drop:
            collection.drop_index(name)
            entry.dropped.append(name)
    except ConnectionFailure as exc:
        unreachable[entry.cluster] = f"{entry.cluster or 'MongoDB'} unreachable ({type(exc).__name__})"
        entry.error = f"{type(exc).__name__}: {exc}"
    except PyMongoError as exc:
        entry.error = f"{type(exc).__name__}: {exc}"
