"""Repository: state-scoped collections, the thread-safe cache, indexes."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter

import pytest
from pymongo import monitoring

from aws_helper_sync import Repository, get_state, state_scope
from aws_helper_sync.context import ContextThreadPoolExecutor
from aws_helper_sync.database import ExternalMongoManager, MongoManager


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self._lock = threading.Lock()

    def started(self, event):
        if event.command_name == "createIndexes":
            key = (event.database_name, event.command["createIndexes"])
            with self._lock:
                self.counts[key] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def command_counter(mongo_client, mongo_uri):
    """The library's client rebuilt with a listener counting createIndexes per namespace."""
    counter = CommandCounter()
    MongoManager.close()
    MongoManager.configure(mongo_uri, event_listeners=[counter])
    yield counter
    MongoManager.close()
    MongoManager.initialize(mongo_uri)


class Parcels(Repository):
    collection_name = "parcels"
    indexes = (
        {"key": [("parcel_id", 1)], "unique": True},
        {"key": [("expires_at", 1)], "expireAfterSeconds": 3600},
        {"key": [("town", 1), ("year", -1)], "name": "town_year"},
    )


class Towns(Repository):
    collection_name = "towns"
    database_key = None


def test_missing_collection_name_is_a_clear_error():
    class Nameless(Repository):
        pass

    with pytest.raises(TypeError, match="Nameless must define collection_name"):
        Nameless()


def test_no_state_and_no_database_key_names_the_repository(mongo_client):
    with pytest.raises(ValueError, match="Towns"):
        Towns().collection  # noqa: B018


def test_database_follows_state_or_fixed_key(mongo_client, make_state):
    fixed_db = make_state("core")

    class Fixed(Repository):
        collection_name = "settings"
        database_key = fixed_db

    ohio = make_state("ohio")
    with state_scope(ohio):
        assert Towns().collection.database.name == ohio
        assert Fixed().collection.database.name == fixed_db
    assert Fixed().collection.database.name == fixed_db


def test_shared_instance_16_threads_20_states_no_leakage(mongo_client, make_state):
    repo = Towns()
    states = [make_state(f"s{i:02d}") for i in range(20)]
    per_state = 10
    barrier = threading.Barrier(16)
    errors = []

    def worker(index: int) -> None:
        barrier.wait()
        try:
            for n in range(per_state * 20 // 16 + 1):
                slot = index * 1000 + n
                state = states[slot % 20]
                with state_scope(state):
                    repo.collection.insert_one({"state": state, "slot": slot})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    client = MongoManager.get_client()
    total = 0
    for state in states:
        coll = client[state]["towns"]
        total += coll.count_documents({})
        assert coll.count_documents({"state": {"$ne": state}}) == 0, state
    assert total == 16 * (per_state * 20 // 16 + 1)


def test_same_instance_gives_each_thread_its_states_collection(mongo_client, make_state):
    repo = Towns()
    states = [make_state(f"c{i}") for i in range(8)]
    with ContextThreadPoolExecutor(max_workers=8) as pool:

        def lookup(state):
            with state_scope(state):
                return [repo.collection.database.name for _ in range(200)]

        results = dict(zip(states, pool.map(lookup, states)))
    for state, names in results.items():
        assert set(names) == {state}


def test_indexes_ensured_once_per_key_under_concurrent_first_access(command_counter, make_state):
    repo = Parcels()
    states = [make_state("a"), make_state("b")]
    barrier = threading.Barrier(16)

    def first_access(i: int) -> None:
        barrier.wait()
        with state_scope(states[i % 2]):
            repo.collection.find_one({})

    threads = [threading.Thread(target=first_access, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with state_scope(states[0]):
        Parcels().collection  # noqa: B018 - a second instance of the class shares the cache
    assert dict(command_counter.counts) == {(s, "parcels"): 1 for s in states}


def test_unique_and_ttl_indexes_really_exist(mongo_client, make_state):
    from pymongo.errors import DuplicateKeyError

    with state_scope(make_state("idx")):
        coll = Parcels().collection
        info = coll.index_information()
        coll.insert_one({"parcel_id": "p1"})
        with pytest.raises(DuplicateKeyError):
            coll.insert_one({"parcel_id": "p1"})
    assert info["parcel_id_1"]["unique"] is True
    assert info["expires_at_1"]["expireAfterSeconds"] == 3600
    assert info["town_year"]["key"] == [("town", 1), ("year", -1)]


def test_conflicting_index_is_logged_and_reads_writes_work(mongo_client, make_state, caplog):
    state = make_state("conflict")
    mongo_client[state]["parcels"].create_index([("parcel_id", 1)], name="parcel_id_1")  # not unique
    with caplog.at_level(logging.ERROR), state_scope(state):
        coll = Parcels().collection
        coll.insert_one({"parcel_id": "p1", "town": "x", "year": 2020})
        assert coll.count_documents({"parcel_id": "p1"}) == 1
    assert any("parcel_id_1" in r.getMessage() and "conflicts" in r.getMessage() for r in caplog.records)
    info = mongo_client[state]["parcels"].index_information()
    assert "expires_at_1" in info and "town_year" in info  # the others were still created


def test_auto_create_indexes_false_turns_it_off(command_counter, make_state, monkeypatch):
    monkeypatch.setenv("AUTO_CREATE_INDEXES", "false")
    state = make_state("noidx")
    with state_scope(state):
        repo = Parcels()
        repo.collection.insert_one({"parcel_id": "p"})
        assert command_counter.counts[(state, "parcels")] == 0
        assert sorted(repo.ensure_indexes()) == ["expires_at_1", "parcel_id_1", "town_year"]
    assert command_counter.counts[(state, "parcels")] == 1


def test_cache_follows_a_new_client_after_close(mongo_client, mongo_uri, make_state):
    repo = Towns()
    with state_scope(make_state("re")):
        before = repo.collection
        MongoManager.close()
        MongoManager.initialize(mongo_uri)
        after = repo.collection
        assert after.database.client is MongoManager.get_client()
        assert before.database.client is not after.database.client
        after.insert_one({"ok": True})


def test_external_repository_uses_its_cluster(mongo_client, mongo_uri, make_state, monkeypatch):
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
        [{"name": "Dockets", "connection_string": mongo_uri}]))
    ExternalMongoManager.close()
    db_name = make_state("dockets")

    class Cases(Repository):
        collection_name = "cases"
        database_key = db_name
        is_external = True
        cluster_name = "Dockets"

    coll = Cases().collection
    assert coll.database.client is ExternalMongoManager.get_client("Dockets")
    coll.insert_one({"case": 1})
    assert mongo_client[db_name]["cases"].count_documents({}) == 1


def test_external_without_cluster_name_is_refused():
    class Broken(Repository):
        collection_name = "x"
        is_external = True

    with pytest.raises(TypeError, match="cluster_name"):
        Broken()


def test_repository_without_indexes_caches_its_collection(mongo_client, make_state):
    with state_scope(make_state("plain")):
        repo = Towns()
        assert repo.collection is repo.collection
        assert Towns().collection is repo.collection


# --- index failures that are not definition conflicts are retried (SPEC §4, issue 10 §10) ---

@pytest.fixture(scope="module")
def failpoint_server():
    """A SecantusDB of this module with ``configureFailPoint`` enabled (off on the session's)."""
    from aws_helper_sync.devservers import SecantusServer

    with SecantusServer(extra_args=("--enable-test-commands",)) as server:
        yield server


@pytest.fixture
def failpoint_client(failpoint_server, mongo_uri):
    """The library's client on the failpoint server, counting createIndexes per namespace."""
    counter = CommandCounter()
    MongoManager.close()
    MongoManager.configure(failpoint_server.uri, event_listeners=[counter])
    client = MongoManager.get_client()
    before = set(client.list_database_names())
    yield client, counter
    client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    for name in set(client.list_database_names()) - before - {"admin", "local", "config"}:
        client.drop_database(name)
    MongoManager.close()
    MongoManager.initialize(mongo_uri)


TRANSIENT_INDEX_FAILURES = {
    # the build itself succeeded, but its replication was not confirmed in time
    "WTimeoutError": {"writeConcernError": {
        "code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": True}}},
    "MaxTimeMSExpired": {"errorCode": 50},
    "Interrupted": {"errorCode": 11601},
    "IndexBuildAborted": {"errorCode": 276},
    "AutoReconnect": {"closeConnection": True},
}


def fail_create_indexes(client, times: int, data: dict) -> None:
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"times": times},
                          "data": {"failCommands": ["createIndexes"], **data}})


@pytest.mark.parametrize("failure", list(TRANSIENT_INDEX_FAILURES))
def test_transient_index_failure_is_retried_until_the_unique_index_exists(
    failpoint_client, make_state, caplog, failure
):
    from pymongo.errors import DuplicateKeyError, PyMongoError

    client, counter = failpoint_client
    state = make_state("retry")
    # 4 = one whole command plus the three one-by-one retries a conflict would get
    fail_create_indexes(client, 4, TRANSIENT_INDEX_FAILURES[failure])
    repo = Parcels()
    with caplog.at_level(logging.WARNING), state_scope(state):
        for _ in range(20):  # every access while the failure lasts is a retry
            try:
                repo.collection.find_one({})
            except PyMongoError:  # AutoReconnect also fails the read that follows
                pass
            if "parcel_id_1" in client[state]["parcels"].index_information():
                break
        repo.collection.insert_one({"parcel_id": "p1"})
        with pytest.raises(DuplicateKeyError):
            repo.collection.insert_one({"parcel_id": "p1"})
        for _ in range(3):
            repo.collection.find_one({})  # ensured now: no more createIndexes
    assert counter.counts[(state, "parcels")] == 5  # four failed, the fifth ensured the key
    assert client[state]["parcels"].count_documents({"parcel_id": "p1"}) == 1
    assert not [r for r in caplog.records if "conflicts" in r.getMessage()]
    assert [r for r in caplog.records if r.levelno == logging.WARNING and "retried" in r.getMessage()]


def test_ensure_indexes_raises_a_transient_failure_and_leaves_the_key_unensured(failpoint_client, make_state):
    from pymongo.errors import ExecutionTimeout

    client, counter = failpoint_client
    state = make_state("explicit")
    fail_create_indexes(client, 1, TRANSIENT_INDEX_FAILURES["MaxTimeMSExpired"])
    with state_scope(state):
        with pytest.raises(ExecutionTimeout):
            Parcels().ensure_indexes()
        Parcels().collection  # noqa: B018 - the automatic step still runs: the key was not ensured
    assert counter.counts[(state, "parcels")] == 2
    assert client[state]["parcels"].index_information()["parcel_id_1"]["unique"] is True


def test_a_transient_failure_after_a_conflict_still_leaves_the_key_unensured(failpoint_client, make_state):
    client, counter = failpoint_client
    state = make_state("mixed")
    client[state]["parcels"].create_index([("parcel_id", 1)], name="parcel_id_1")  # conflicts: not unique
    # the whole command fails on the conflict; then the second one-by-one retry times out
    client.admin.command({"configureFailPoint": "failCommand", "mode": {"skip": 2, "times": 1},
                          "data": {"failCommands": ["createIndexes"], "errorCode": 50}})
    with state_scope(state):
        Parcels().collection  # noqa: B018 - whole (conflict), parcel_id_1 (conflict), expires_at_1 (timeout)
        Parcels().collection  # noqa: B018 - retried: whole (conflict) and the three one by one
    info = client[state]["parcels"].index_information()
    assert counter.counts[(state, "parcels")] == 1 + 3 + 4  # the arranging create_index, then 3, then 4
    assert "expires_at_1" in info and "town_year" in info
    assert info["parcel_id_1"].get("unique") is not True  # the conflict stays logged and skipped


# --- bounded caches (SPEC §4, issue 11 §1) ---

def cache_lengths(cls) -> tuple[int, int, int]:
    return len(cls._collections), len(cls._key_locks), len(cls._ensured)


def test_caches_stay_bounded_over_100000_distinct_states(mongo_client):
    from tests.reliability_support import rss_bytes

    class Stream(Repository):  # no indexes: ensuring a key is bookkeeping only, no server call
        collection_name = "stream"

    repo = Stream()
    rss = {}
    for n in range(100_000):
        with state_scope(f"lru{n}"):
            repo.collection  # noqa: B018 - builds client[db][coll], no I/O
        if n + 1 in (10_000, 100_000):
            rss[n + 1] = rss_bytes()
            assert cache_lengths(Stream) == (1024, 1024, 1024)
    # unbounded, 90,000 more entries in three caches take tens of MB (about 70 MB measured)
    assert rss[100_000] - rss[10_000] < 16 * 2**20, rss


def test_a_hot_key_survives_a_stream_of_one_off_states(mongo_client, make_state):
    class Hot(Repository):
        collection_name = "hot"
        collection_cache_size = 8

    repo = Hot()
    hot = make_state("hot")
    with state_scope(hot):
        first = repo.collection
    for n in range(1000):
        with state_scope(f"oneoff{n}"):
            repo.collection  # noqa: B018
        with state_scope(hot):
            assert repo.collection is first, f"the hot key was evicted after {n} one-off states"
    assert cache_lengths(Hot) == (8, 8, 8)


def test_cache_size_from_class_attribute_or_environment(mongo_client, monkeypatch):
    from aws_helper_sync.errors import ConfigurationError

    class Small(Repository):
        collection_name = "small"
        collection_cache_size = 3

    class FromEnv(Repository):
        collection_name = "from_env"

    monkeypatch.setenv("REPOSITORY_CACHE_SIZE", "5")
    for n in range(20):
        with state_scope(f"size{n}"):
            Small().collection  # noqa: B018
            FromEnv().collection  # noqa: B018
    assert (cache_lengths(Small), cache_lengths(FromEnv)) == ((3, 3, 3), (5, 5, 5))
    assert Repository.cache_size() == 5
    monkeypatch.delenv("REPOSITORY_CACHE_SIZE")
    assert Repository.cache_size() == 1024

    for bad in ("0", "-1", "lots"):
        monkeypatch.setenv("REPOSITORY_CACHE_SIZE", bad)
        with pytest.raises(ConfigurationError, match="REPOSITORY_CACHE_SIZE"), state_scope("size_new"):
            FromEnv().collection  # noqa: B018
    Small.collection_cache_size = 0
    with pytest.raises(TypeError, match="Small.collection_cache_size"), state_scope("size_new"):
        Small().collection  # noqa: B018


def test_hammer_under_eviction_never_gives_a_thread_another_states_collection(mongo_client, make_state):
    class Churn(Repository):
        collection_name = "churn"
        collection_cache_size = 4  # 24 states over 4 slots: most accesses evict

    repo = Churn()
    states = [make_state(f"h{i:02d}") for i in range(24)]
    barrier = threading.Barrier(16)
    wrong, errors = [], []

    def worker(index: int) -> None:
        barrier.wait()
        try:
            for n in range(600):
                state = states[(index * 7 + n * 5) % len(states)]
                with state_scope(state):
                    collection = repo.collection
                    if collection.database.name != state:
                        wrong.append((state, collection.database.name))
                    if n % 60 == 0:
                        collection.insert_one({"state": state, "thread": index})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (wrong, errors) == ([], [])
    written = 0
    for state in states:
        documents = mongo_client[state]["churn"]
        written += documents.count_documents({})
        assert documents.count_documents({"state": {"$ne": state}}) == 0, state
    assert written == 16 * 10
    collections, locks, ensured = cache_lengths(Churn)
    assert collections <= 4 and ensured <= 4 and locks <= 4 + 16  # held locks are never dropped


def test_declarations_written_as_properties_work_as_in_the_async_framework(mongo_client, make_state):
    """0.32.0's README declares collection_name/indexes as @property: the class-level index step reads them."""
    state = make_state("ohio")

    class PropertyDeclared(Repository):
        def __init__(self, never_called_by_declared: object = None) -> None:
            super().__init__()

        @property
        def collection_name(self) -> str:
            return "declared_by_property"

        @property
        def indexes(self) -> list[dict]:
            return [{"key": [("parcel_id", 1)], "unique": True, "name": "parcel_unique"}]

    assert PropertyDeclared.declared("indexes")[0]["name"] == "parcel_unique"
    assert PropertyDeclared.declared("collection_name") == "declared_by_property"
    assert PropertyDeclared.declared("database_key") is None
    with state_scope(state):
        PropertyDeclared().collection.insert_one({"parcel_id": "P-1"})
    assert mongo_client[state]["declared_by_property"].index_information()["parcel_unique"]["unique"] is True


# --- the hit path (issue 15): no os.getpid(), fork-safe, declarations bound per instance ---

def test_the_hit_path_calls_neither_getpid_nor_the_client_factory(mongo_client, make_state, monkeypatch):
    """A warm access is a dict read and identity checks; fork safety comes from the fork hooks."""
    import os

    repo = Towns()
    with state_scope(make_state("hit")):
        first = repo.collection
        calls = Counter()
        real_getpid, real_get_client = os.getpid, MongoManager.get_client
        monkeypatch.setattr(os, "getpid", lambda: calls.update(["getpid"]) or real_getpid())
        monkeypatch.setattr(MongoManager, "get_client",
                            classmethod(lambda cls: calls.update(["get_client"]) or real_get_client()))
        assert all(repo.collection is first for _ in range(100))
    assert calls == Counter()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reads_through_its_own_client_not_the_parents_cache(mongo_client, make_state):
    state = make_state("forked")
    repo = Towns()
    with state_scope(state):
        parent_collection = repo.collection
        parent_collection.insert_one({"_id": "from-parent", "n": 1})
    parent_client = MongoManager.get_client()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            with state_scope(state):
                child_collection = repo.collection
                assert child_collection is not parent_collection
                assert child_collection.database.client is not parent_client
                assert child_collection.database.client is MongoManager.get_client()
                assert child_collection.find_one({"_id": "from-parent"})["n"] == 1  # a real read, fresh client
                assert repo.collection is child_collection  # cached again, in the child
                assert Towns().collection is child_collection
            code = 0
        except BaseException:  # noqa: BLE001 - reported on stderr, exit code 1
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with state_scope(state):
        assert repo.collection is parent_collection  # the parent's cache is untouched
        assert parent_collection.find_one({"_id": "from-parent"})["n"] == 1


def test_declarations_assigned_on_an_instance_or_read_through_properties_are_honoured(mongo_client, make_state):
    ohio, fixed = make_state("ohio"), make_state("fixed")

    class Plain(Repository):
        collection_name = "plain"

    class NoSuperInit(Repository):
        collection_name = "no_super"

        def __init__(self) -> None:  # skips Repository.__init__: the first access binds it
            pass

    class PerState(Repository):
        @property
        def collection_name(self) -> str:  # a new str on every access
            return f"per_{get_state()}"

    with state_scope(ohio):
        shared, moved = Plain(), Plain()
        assert shared.collection.full_name == f"{ohio}.plain"
        moved.collection_name = "moved"
        assert moved.collection.full_name == f"{ohio}.moved"
        assert shared.collection.full_name == f"{ohio}.plain"
        moved.database_key = fixed
        assert moved.collection.full_name == f"{fixed}.moved"
        repo = NoSuperInit()
        assert repo.collection.full_name == f"{ohio}.no_super" and repo.collection is repo.collection
        per_state = PerState()
        assert per_state.collection.full_name == f"{ohio}.per_{ohio}"
    with state_scope(fixed):
        assert per_state.collection.full_name == f"{fixed}.per_{fixed}"
        assert shared.collection.full_name == f"{fixed}.plain"
