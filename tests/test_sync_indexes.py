"""``sync-indexes``: the app's declared indexes, per state, on purpose (issue 13 §4).

Against SecantusDB: each test writes a small app (a top-level module and an
entry file under consumer/) into a temporary app root, with test-unique state
and database names, and reads what the server has with ``index_information``.
The command runs as a real subprocess for exit codes and the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aws_helper_sync import UnknownStateError, loading, set_allowed_states
from aws_helper_sync.context.state import InvalidStateError
from aws_helper_sync.database import ExternalMongoManager, MongoManager
from aws_helper_sync.repository.sync import (
    IndexSpec,
    IndexSyncError,
    RepositoryDiscoveryError,
    _plan,
    discover_repositories,
    sync_indexes,
)
from tests.conftest import REPORTS_DATABASE
from tests.registry_support import use_registry
from tests.reliability_support import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "aws_helper_sync.cli", "sync-indexes"]

DEEDS_INDEXES = ["deed_id_unique", "county_1_recorded_at_-1", "expires_at_1", "owner_1"]

MODULE = """\
from aws_helper_sync import Repository
from aws_helper_sync.idempotency.store import IdempotencyRecords  # the library's: never synced


class Base(Repository):  # no collection_name: an abstract base, not synced
    pass


class Deeds(Base):
    collection_name = "deeds"
    indexes = (
        {{"key": [("deed_id", 1)], "unique": True, "name": "deed_id_unique"}},
        {{"key": [("county", 1), ("recorded_at", -1)]}},
        {{"key": [("expires_at", 1)], "expireAfterSeconds": 3600}},
        {{"key": [("owner", 1)], "partialFilterExpression": {{"owner": {{"$exists": True}}}}}},
    )


class Notes(Repository):  # declares no index: --prune may empty it, but nothing is created
    collection_name = "notes"


class Ledger(Repository):
    collection_name = "ledger"
    database_key = "{shared}"
    indexes = ({{"key": [("entry", 1)], "name": "entry"}},)
"""

CONSUMER = """\
from aws_helper_sync import Repository, SQSConsumer
from {module} import Deeds  # imported, not declared here


class DeedsSeen(Repository):  # a second repository of "deeds": its declarations are merged
    collection_name = "deeds"
    indexes = ({{"key": [("deed_id", 1)], "unique": True, "name": "deed_id_unique"}},)


class AuditTrail(Repository):
    collection_name = "audit"
    indexes = ({{"key": [("at", -1)]}},)


class AuditConsumer(SQSConsumer):
    def process_record(self, record):
        AuditTrail().collection.insert_one({{"deeds": Deeds.collection_name}})
"""


class App:
    """A temporary app root: ``<module>.py`` at the top, ``consumer/audit.py`` below it."""

    def __init__(self, root: Path, unique: str) -> None:
        self.root = root
        self.module = f"{unique}_repositories"
        self.shared = f"{unique}_shared"
        self.write(f"{self.module}.py", MODULE.format(shared=self.shared))
        self.write("consumer/audit.py", CONSUMER.format(module=self.module))

    def write(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def app(tmp_path, unique, monkeypatch):
    root = tmp_path / "app"
    root.mkdir()
    monkeypatch.setenv("APP_ROOT", str(root))
    loading.clear_cache()
    yield App(root, unique)
    loading.clear_cache()
    for name, module in list(sys.modules.items()):
        if str(root) in str(getattr(module, "__file__", None) or ""):
            del sys.modules[name]
    while str(root) in sys.path:
        sys.path.remove(str(root))


@pytest.fixture
def states(make_state):
    return [make_state("ohio"), make_state("texas")]


def indexes(client, database: str, collection: str) -> dict:
    return client[database][collection].index_information()


def row(report, state, collection):
    found = [e for e in report.collections if e.state == state and e.collection == collection]
    assert len(found) == 1, [(e.state, e.collection) for e in report.collections]
    return found[0]


# --- discovery ---

def test_discovery_imports_entry_files_through_the_loader_and_the_top_level_modules(app):
    classes = discover_repositories()

    assert [c.__name__ for c in classes] == ["Deeds", "Notes", "Ledger", "DeedsSeen", "AuditTrail"]
    by_name = {c.__name__: c for c in classes}
    assert by_name["Deeds"].__module__ == app.module  # as the entry files import it
    assert by_name["AuditTrail"].__module__ == "_aws_helper_sync_app.consumer.audit"  # as the handler loads it


def test_an_import_error_fails_discovery_naming_every_broken_file(app):
    app.write("api/deeds/get.py", "import no_such_module_anywhere\n")
    app.write("task/purge/task.py", "raise SystemExit(3)\n")

    with pytest.raises(RepositoryDiscoveryError) as caught:
        discover_repositories()

    assert [where for where, _ in caught.value.errors] == ["api/deeds/get.py", "task/purge/task.py"]
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in str(caught.value)


def test_explicit_modules_replace_discovery(app):
    app.write("api/deeds/get.py", "import no_such_module_anywhere\n")  # not imported: not named

    classes = discover_repositories([app.module])

    assert [c.__name__ for c in classes] == ["Deeds", "Notes", "Ledger"]
    assert [c.__name__ for c in discover_repositories(["consumer/audit.py"])] == [
        "Deeds", "DeedsSeen", "AuditTrail"]  # Deeds: imported there from the app root
    with pytest.raises(IndexSyncError, match="no such file under the app root"):
        discover_repositories(["../outside.py"])


# --- dry run, apply, prune, conflicts ---

def test_a_dry_run_lists_every_declared_index_and_creates_nothing(app, mongo_client, states):
    before = set(mongo_client.list_database_names())

    report = sync_indexes(discover_repositories(), states)

    assert set(mongo_client.list_database_names()) == before
    for state in states:
        assert row(report, state, "deeds").to_create == DEEDS_INDEXES
        assert row(report, state, "deeds").repositories == ["Deeds", "DeedsSeen"]
        assert row(report, state, "audit").to_create == ["at_-1"]
        assert row(report, state, "notes").to_create == []
    shared = row(report, None, "ledger")  # a fixed database_key: once, not per state
    assert (shared.database, shared.to_create) == (app.shared, ["entry"])
    assert [(e.state, e.collection) for e in report.collections] == [
        (s, c) for s in states for c in ("deeds", "notes", "audit")] + [(None, "ledger")]
    assert (report.failed, report.pending, report.applied) == (False, True, False)


def test_apply_creates_them_and_a_second_dry_run_has_nothing_to_do(app, mongo_client, states):
    repositories = discover_repositories()

    applied = sync_indexes(repositories, states, apply=True)

    assert not applied.failed
    for state in states:
        deeds = indexes(mongo_client, state, "deeds")
        assert sorted(deeds) == sorted(["_id_", *DEEDS_INDEXES])
        assert deeds["deed_id_unique"]["unique"] is True
        assert deeds["county_1_recorded_at_-1"]["key"] == [("county", 1), ("recorded_at", -1)]
        assert deeds["expires_at_1"]["expireAfterSeconds"] == 3600
        assert deeds["owner_1"]["partialFilterExpression"] == {"owner": {"$exists": True}}
        assert sorted(indexes(mongo_client, state, "audit")) == ["_id_", "at_-1"]
        assert row(applied, state, "deeds").created == DEEDS_INDEXES
    assert sorted(indexes(mongo_client, app.shared, "ledger")) == ["_id_", "entry"]

    again = sync_indexes(repositories, states)

    assert (again.pending, again.failed) == (False, False)
    assert row(again, states[0], "deeds").existing_ok == DEEDS_INDEXES
    assert all(not e.to_create and not e.to_drop for e in again.collections)
    assert "nothing to do" in again.table()


def test_an_extra_index_is_dropped_only_with_prune(app, mongo_client, states):
    repositories = discover_repositories()
    sync_indexes(repositories, states, apply=True)
    ohio = mongo_client[states[0]]
    ohio["deeds"].create_index([("manual", 1)])
    ohio["notes"].create_index([("text", 1)])
    ohio["elsewhere"].create_index([("x", 1)])  # a collection no repository declares

    kept = sync_indexes(repositories, states, apply=True)
    shown = sync_indexes(repositories, states, prune=True)  # a dry run: shown, not dropped

    assert row(kept, states[0], "deeds").undeclared == ["manual_1"]
    assert row(kept, states[0], "deeds").to_drop == []
    assert "undeclared in" in kept.table() and "--prune drops them" in kept.table()
    assert row(shown, states[0], "deeds").to_drop == ["manual_1"]
    assert row(shown, states[0], "notes").to_drop == ["text_1"]
    assert "manual_1" in indexes(mongo_client, states[0], "deeds")

    pruned = sync_indexes(repositories, states, apply=True, prune=True)

    assert row(pruned, states[0], "deeds").dropped == ["manual_1"]
    assert sorted(indexes(mongo_client, states[0], "deeds")) == sorted(["_id_", *DEEDS_INDEXES])
    assert sorted(indexes(mongo_client, states[0], "notes")) == ["_id_"]
    assert sorted(indexes(mongo_client, states[0], "elsewhere")) == ["_id_", "x_1"]  # never touched
    assert not pruned.failed and not pruned.pending


def test_a_conflicting_definition_is_reported_and_never_changed_even_with_prune(app, mongo_client, states):
    ohio, texas = states
    mongo_client[ohio]["deeds"].create_index([("deed_id", 1)], name="deed_id_unique")  # not unique
    mongo_client[texas]["deeds"].create_index([("expires_at", 1)], expireAfterSeconds=60)  # another TTL
    mongo_client[texas]["deeds"].create_index([("deed_id", 1)], unique=True, name="deed_id")  # other name

    report = sync_indexes(discover_repositories(), states, apply=True, prune=True)

    assert report.failed and report.failed_states == [ohio, texas]
    ohio_deeds, texas_deeds = row(report, ohio, "deeds"), row(report, texas, "deeds")
    assert [c.split(" ", 1)[0] for c in ohio_deeds.conflicts] == ["deed_id_unique"]
    assert "unique=true declared by Deeds; existing deed_id_unique {deed_id: 1}" in ohio_deeds.conflicts[0]
    assert [c.split(" ", 1)[0] for c in texas_deeds.conflicts] == ["deed_id_unique", "expires_at_1"]
    assert texas_deeds.dropped == [] and ohio_deeds.dropped == []
    ohio_now, texas_now = indexes(mongo_client, ohio, "deeds"), indexes(mongo_client, texas, "deeds")
    assert "unique" not in ohio_now["deed_id_unique"]  # left as it was, not dropped and rebuilt
    assert texas_now["expires_at_1"]["expireAfterSeconds"] == 60
    assert "deed_id" in texas_now and "deed_id_unique" not in texas_now
    assert ohio_deeds.created == DEEDS_INDEXES[1:]  # the rest of the collection is still synced
    assert not row(report, ohio, "audit").failed
    assert f"FAILED: {ohio}, {texas}" in report.table()


def test_two_repositories_declaring_one_name_differently_is_a_conflict(app, mongo_client, states):
    app.write("consumer/other.py", """\
        from aws_helper_sync import Repository


        class OtherDeeds(Repository):
            collection_name = "deeds"
            indexes = ({"key": [("other_id", 1)], "name": "deed_id_unique"},)
        """)

    report = sync_indexes(discover_repositories(), states[:1], apply=True)

    deeds = row(report, states[0], "deeds")
    assert deeds.failed and len(deeds.conflicts) == 1
    assert "declared by OtherDeeds; deed_id_unique {deed_id: 1}, unique=true declared by Deeds" in deeds.conflicts[0]
    assert indexes(mongo_client, states[0], "deeds")["deed_id_unique"]["unique"] is True  # the first one wins


def test_an_external_repository_is_synced_on_its_cluster(app, mongo_client, mongo_uri, unique, monkeypatch):
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
        [{"name": "Dockets", "connection_string": mongo_uri}]))
    ExternalMongoManager.close()
    app.write("dockets.py", f"""\
        from aws_helper_sync import Repository


        class Cases(Repository):
            collection_name = "cases"
            database_key = "{unique}_dockets"
            is_external = True
            cluster_name = "Dockets"
            indexes = ({{"key": [("case_no", 1)], "unique": True}},)
        """)
    sys.modules.pop("dockets", None)

    report = sync_indexes(discover_repositories(["dockets"]), apply=True)

    (entry,) = report.collections
    assert (entry.where, entry.created) == (f"Dockets:{unique}_dockets.cases", ["case_no_1"])
    assert indexes(mongo_client, f"{unique}_dockets", "cases")["case_no_1"]["unique"] is True


def test_an_unreachable_server_fails_every_state_after_one_wait(app, mongo_client, states):
    MongoManager.close()
    MongoManager.initialize(f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=150")
    try:
        report = sync_indexes(discover_repositories(), states)
    finally:
        MongoManager.close()
        MongoManager.initialize(os.environ["MONGODB_URI"])

    assert report.failed_states == [*states, app.shared]
    assert report.collections[0].error.startswith("ServerSelectionTimeoutError")
    assert all(e.error.startswith("skipped: MongoDB unreachable") for e in report.collections[1:])


def test_a_text_index_compares_in_the_form_the_server_lists_it():
    from pymongo import IndexModel

    model = IndexModel([("county", 1), ("title", "text"), ("notes", "text")], name="search")
    declared = [IndexSpec.declared(model, True, "Deeds")]
    listed = {"_id_": {"key": [("_id", 1)]},  # as MongoDB lists it (SecantusDB has no text indexes)
              "search": {"key": [("county", 1), ("_fts", "text"), ("_ftsx", 1)],
                         "weights": {"title": 1, "notes": 1}, "default_language": "english"}}

    to_create, ok, conflicts, undeclared = _plan(declared, {n: IndexSpec.existing(n, i) for n, i in listed.items()})

    assert (to_create, ok, conflicts, undeclared) == ([], ["search"], [], [])


# --- which states ---

def test_a_state_outside_the_allow_list_is_refused_before_anything_is_created(app, mongo_client, states):
    set_allowed_states(states[:1])
    before = set(mongo_client.list_database_names())

    with pytest.raises(UnknownStateError):
        sync_indexes(discover_repositories(), states, apply=True)
    with pytest.raises(InvalidStateError, match="invalid constitution-state"):
        sync_indexes(discover_repositories(), [states[0], "Ohio"], apply=True)

    assert set(mongo_client.list_database_names()) == before


def test_a_bare_string_is_one_state_and_no_states_is_a_user_error(app, mongo_client, states):
    report = sync_indexes(discover_repositories(), states[0])
    assert report.states == [states[0]]
    with pytest.raises(IndexSyncError, match="no states to sync"):
        sync_indexes(discover_repositories())
    with pytest.raises(IndexSyncError, match="no state registry configured"):
        sync_indexes(discover_repositories(), registry=True)
    with pytest.raises(IndexSyncError, match="not both"):
        sync_indexes(discover_repositories(), states, registry=True)


@pytest.fixture
def registry(mongo_client, unique, monkeypatch):
    yield from use_registry(unique, monkeypatch)


def test_the_registry_supplies_its_active_states(app, registry):
    repositories = discover_repositories()
    before = registry.databases()

    report = sync_indexes(repositories, registry=True, apply=True)
    implicit = sync_indexes(repositories)  # STATES_COLLECTION configured: the default source

    assert report.states == sorted(registry.active) and not report.failed
    assert report.states_source == f"the registry {registry.database}.states"
    assert registry.databases() - before == {*registry.active, app.shared}  # no inactive state's database
    client = MongoManager.get_client()
    for state in registry.active:
        assert sorted(client[state]["deeds"].index_information()) == sorted(["_id_", *DEEDS_INDEXES])
    assert implicit.states == report.states and not implicit.pending
    with pytest.raises(UnknownStateError):  # given states must be active in the registry too
        sync_indexes(repositories, [registry.inactive[0]])


def test_a_registry_entry_that_is_no_valid_state_fails_that_state_only(app, registry):
    registry.collection.insert_one({"name": "New-York", "status": "active"})

    report = sync_indexes(discover_repositories(), registry=True, apply=True)

    assert report.failed and report.failed_states == ["New-York"]
    assert "invalid constitution-state 'New-York'" in report.state_errors["New-York"]
    assert report.states == sorted(registry.active)
    assert "New-York" not in registry.databases()


# --- the example app ---

def test_the_example_app_syncs_its_repositories(example_app, mongo_client, states):
    repositories = discover_repositories()
    assert [r.__name__ for r in repositories] == ["ParcelRepository", "ParcelHistoryRepository",
                                                   "ParcelReportRepository"]

    report = sync_indexes(repositories, states, apply=True)

    assert not report.failed
    for state in states:
        assert sorted(indexes(mongo_client, state, "parcels")) == ["_id_", "county_parcel_id", "parcel_id_unique"]
        assert sorted(indexes(mongo_client, state, "parcel_history")) == [
            "_id_", "event_id_unique", "parcel_id_occurred_at"]
    assert "state_generated_at" in indexes(mongo_client, REPORTS_DATABASE, "parcel_reports")
    assert not sync_indexes(repositories, states).pending


# --- the command line ---

@pytest.fixture
def env(mongo_uri):
    return {k: v for k, v in os.environ.items() if k not in ("STATES_COLLECTION", "ALLOWED_STATES")} | {
        "MONGODB_URI": mongo_uri}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=env, timeout=60,
                          cwd=REPO_ROOT, check=False)


def test_cli_dry_run_apply_and_nothing_left(app, mongo_client, states, env):
    before = set(mongo_client.list_database_names())
    args = ("--app-root", str(app.root), "--states", ",".join(states))

    dry = cli(*args, env=env)
    assert set(mongo_client.list_database_names()) == before
    applied = cli(*args, "--apply", env=env)
    again = cli(*args, env=env)

    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0].split() == ["state", "collection", "to", "create", "existing", "ok", "conflicts", "to",
                                "drop", "error"]
    assert lines[2].split()[:2] == [states[0], "deeds"]
    assert "deed_id_unique, county_1_recorded_at_-1, expires_at_1, owner_1" in lines[2]
    assert [line.split()[:3] for line in lines if f"{app.shared}.ledger" in line] == [
        ["-", f"{app.shared}.ledger", "entry"]]
    assert f"states given: {states[0]}, {states[1]}" in dry.stdout
    assert "dry run, nothing changed" in dry.stdout
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[0].split()[2] == "created"
    assert applied.stdout.rstrip().endswith("done: 11 index(es) created, 0 dropped")
    assert sorted(indexes(mongo_client, states[1], "audit")) == ["_id_", "at_-1"]
    assert again.returncode == 0 and again.stdout.rstrip().endswith("nothing to do")


def test_cli_conflict_exits_1_and_prune_drops(app, mongo_client, states, env):
    mongo_client[states[0]]["deeds"].create_index([("deed_id", 1)], name="deed_id_unique")
    mongo_client[states[1]]["deeds"].create_index([("manual", 1)])
    args = ("--app-root", str(app.root), "--states", ",".join(states), "--apply", "--prune")

    result = cli(*args, "--json", env=env)

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["failed_states"] == [states[0]]
    texas_deeds = next(c for c in report["collections"] if c["where"] == f"{states[1]}.deeds")
    assert texas_deeds["dropped"] == ["manual_1"]
    assert "Traceback" not in result.stderr
    table = cli(*args, env=env)
    assert table.returncode == 1 and f"FAILED: {states[0]}" in table.stdout
    assert f"conflict in {states[0]} {states[0]}.deeds: deed_id_unique" in table.stdout


def test_cli_registry(app, registry, mongo_uri, env):
    result = cli("--app-root", str(app.root), "--registry", "--apply",
                 env={**env, "STATES_COLLECTION": f"{registry.database}.states"})
    assert result.returncode == 0, result.stderr
    assert f"states from the registry {registry.database}.states: {', '.join(sorted(registry.active))}" in result.stdout
    assert MongoManager.get_client()[registry.active[0]]["deeds"].index_information()["deed_id_unique"]["unique"]


def test_cli_unreachable_registry_exits_1(app, states, env, unique):
    result = cli("--app-root", str(app.root), env={
        **env, "STATES_COLLECTION": f"{unique}_core.states",
        "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=150"})
    assert result.returncode == 1, result.stdout + result.stderr
    # the registry logs its outage (with the cause); the command ends with its one-line error
    assert result.stderr.splitlines()[-1] == (
        f"aws-helper-sync sync-indexes: error: state registry {unique}_core.states unavailable: "
        "ServerSelectionTimeoutError")


@pytest.mark.parametrize(("case", "message"), [
    ("no states", "error: no states to sync: pass the states (--states a,b)"),
    ("not allowed", "is not in ALLOWED_STATES"),
    ("bad spelling", "argument --states: invalid constitution-state 'Ohio'"),
    ("empty entry", "argument --states: expected comma-separated states"),
    ("no registry", "no state registry configured"),
    ("both", "argument --registry: not allowed with argument --states"),
    ("empty app root", "no Repository subclass found under"),
    ("no such dir", "/no/such/dir is not a directory"),
])
def test_cli_user_errors_exit_2_in_one_line(app, mongo_client, states, env, tmp_path, case, message):
    root = ["--app-root", str(app.root)]
    args, extra = {
        "no states": (root, {}),
        "not allowed": ([*root, "--states", ",".join(states)], {"ALLOWED_STATES": states[0]}),
        "bad spelling": ([*root, "--states", f"{states[0]},Ohio"], {}),
        "empty entry": ([*root, "--states", f"{states[0]},"], {}),
        "no registry": ([*root, "--registry"], {}),
        "both": ([*root, "--states", states[0], "--registry"], {}),
        "empty app root": (["--app-root", str(tmp_path), "--states", states[0]], {}),
        "no such dir": (["--app-root", "/no/such/dir", "--states", states[0]], {}),
    }[case]
    before = set(mongo_client.list_database_names())

    result = cli(*args, "--apply", env={**env, **extra})

    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert set(mongo_client.list_database_names()) == before


def test_cli_import_error_exits_1_and_touches_nothing(app, mongo_client, states, env):
    app.write("api/deeds/get.py", "import no_such_module_anywhere\n")
    before = set(mongo_client.list_database_names())

    result = cli("--app-root", str(app.root), "--states", states[0], "--apply", env=env)

    assert result.returncode == 1
    assert "api/deeds/get.py: ModuleNotFoundError" in result.stderr and "nothing was synced" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(mongo_client.list_database_names()) == before


def test_cli_help():
    result = subprocess.run([*COMMAND, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: aws-helper-sync sync-indexes")
