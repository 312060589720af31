"""MongoManager and ExternalMongoManager against a real server."""

from __future__ import annotations

import json
import os
import threading

import pytest
from pymongo import monitoring

from aws_helper_sync.database import (
    DatabaseAccess,
    ExternalClusterConfigError,
    ExternalMongoManager,
    MongoManager,
    UnknownClusterError,
    build_connection_string,
    inject_credentials,
)
from aws_helper_sync.database.mongo_manager import resolve_connection_string

MONGO_VARS = ("MONGODB_URI", "MONGO_DB_URI", "MONGO_DB_HOST", "MONGO_DB_USER",
              "MONGO_DB_PASSWORD", "MONGO_DB_NAME", "MONGO_DB_OPTIONS")


class TopologyCounter(monitoring.TopologyListener):
    """Counts MongoClient topologies opened (one per client)."""

    def __init__(self) -> None:
        self.opened_ids = set()
        self._lock = threading.Lock()

    def opened(self, event):
        with self._lock:
            self.opened_ids.add(event.topology_id)

    def description_changed(self, event):
        pass

    def closed(self, event):
        pass


@pytest.fixture
def fresh_manager(mongo_uri):
    MongoManager.close()
    yield
    MongoManager.close()


@pytest.fixture
def clean_env(monkeypatch):
    for name in MONGO_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_connection_string_precedence(clean_env):
    clean_env.setenv("MONGO_DB_HOST", "db.example.net")
    clean_env.setenv("MONGO_DB_USER", "app")
    clean_env.setenv("MONGO_DB_PASSWORD", "p@ss:w/rd%")
    clean_env.setenv("MONGO_DB_NAME", "core")
    clean_env.setenv("MONGO_DB_OPTIONS", "retryWrites=true&w=majority")
    assert resolve_connection_string() == (
        "mongodb://app:p%40ss%3Aw%2Frd%25@db.example.net/core?retryWrites=true&w=majority"
    )
    clean_env.setenv("MONGO_DB_URI", "mongodb://second")
    assert resolve_connection_string() == "mongodb://second"
    clean_env.setenv("MONGODB_URI", "mongodb://first")
    assert resolve_connection_string() == "mongodb://first"
    assert resolve_connection_string("mongodb://argument") == "mongodb://argument"


def test_host_with_scheme_is_kept():
    uri = build_connection_string("mongodb+srv://cluster0.example.net", "u", "p")
    assert uri == "mongodb+srv://u:p@cluster0.example.net"


def test_nothing_configured_names_the_variables(clean_env):
    with pytest.raises(RuntimeError) as info:
        resolve_connection_string()
    for name in ("MONGODB_URI", "MONGO_DB_URI", "MONGO_DB_HOST"):
        assert name in str(info.value)


def test_password_is_url_encoded_and_accepted_by_pymongo(clean_env):
    from pymongo.uri_parser import parse_uri

    clean_env.setenv("MONGO_DB_HOST", "127.0.0.1:27017")
    clean_env.setenv("MONGO_DB_USER", "app user")
    clean_env.setenv("MONGO_DB_PASSWORD", "p@ss:w/rd?#")
    parsed = parse_uri(resolve_connection_string())
    assert (parsed["username"], parsed["password"]) == ("app user", "p@ss:w/rd?#")


def test_32_threads_create_exactly_one_client(fresh_manager, mongo_uri):
    counter = TopologyCounter()
    MongoManager.configure(event_listeners=[counter])
    barrier = threading.Barrier(32)
    databases, errors = [], []

    def worker():
        try:
            barrier.wait()
            databases.append(MongoManager.get_database("anything"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({id(db.client) for db in databases}) == 1
    assert len(counter.opened_ids) == 1


def test_ping_and_close(fresh_manager, mongo_uri):
    assert not MongoManager.is_initialized()
    assert MongoManager.ping() is True
    assert MongoManager.is_initialized()
    first = MongoManager.get_client()
    MongoManager.close()
    assert not MongoManager.is_initialized()
    assert MongoManager.get_client() is not first


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_its_own_working_client(mongo_client, make_state):
    parent = MongoManager.get_client()
    db_name = make_state("fork")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read_fd)
            child = MongoManager.get_client()
            child.get_database(db_name).docs.insert_one({"from": "child"})
            report = {"same": child is parent, "count": child[db_name].docs.count_documents({})}
            os.write(write_fd, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        report = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == {"same": False, "count": 1}
    assert MongoManager.get_client() is parent
    assert parent[db_name].docs.count_documents({"from": "child"}) == 1


def test_database_access_mixin_gives_db_and_external_db(mongo_client, make_state, monkeypatch):
    class Unit(DatabaseAccess):
        pass

    unit = Unit()
    name = make_state("proxy")
    unit.db[name].things.insert_one({"x": 1})
    assert getattr(unit.db, name).things.count_documents({}) == 1
    monkeypatch.delenv("EXTERNAL_MONGODB_CONNECTIONS", raising=False)
    assert unit.external_db is None


def test_external_clusters_resolve_to_their_own_servers(mongo_client, mongo_uri, monkeypatch, make_state):
    base = mongo_uri.split("?")[0].rstrip("/")
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps([
        {"name": "ClusterA", "connection_string": f"{base}/?appname=cluster-a"},
        {"name": "ClusterB", "connection_string": f"{base}/?appname=cluster-b"},
    ]))
    ExternalMongoManager.close()
    db_name = make_state("ext")
    a = ExternalMongoManager.get_database("ClusterA", db_name)
    b = ExternalMongoManager.get_database("ClusterB", db_name)
    assert a.client is not b.client
    assert a.client.options.pool_options.metadata["application"]["name"] == "cluster-a"
    assert b.client.options.pool_options.metadata["application"]["name"] == "cluster-b"
    a.docs.insert_one({"via": "a"})
    assert b.docs.count_documents({"via": "a"}) == 1  # same server, seen through the other client

    class Unit(DatabaseAccess):
        pass

    proxy = Unit().external_db
    assert getattr(proxy.ClusterA, db_name).docs.count_documents({}) == 1
    with pytest.raises(UnknownClusterError, match="ClusterA, ClusterB"):
        proxy.Nope  # noqa: B018
    assert ExternalMongoManager.get_available_clusters() == ["ClusterA", "ClusterB"]


def test_external_clients_created_once_under_concurrency(mongo_uri, monkeypatch):
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
        [{"name": "One", "connection_string": mongo_uri}]))
    ExternalMongoManager.close()
    barrier = threading.Barrier(16)
    clients = []

    def worker():
        barrier.wait()
        clients.append(ExternalMongoManager.get_client("One"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in clients}) == 1


@pytest.mark.parametrize(("raw", "fragment"), [
    ("{not json", "not valid JSON"),
    ('{"name": "x"}', "must be a JSON list"),
    ('["x"]', "[0] must be an object"),
    ('[{"connection_string": "mongodb://h"}]', "non-empty \"name\""),
    ('[{"name": "A"}]', "non-empty \"connection_string\""),
    ('[{"name": "A", "connection_string": "mongodb://h"}, {"name": "A", "connection_string": "mongodb://i"}]',
     "twice"),
])
def test_malformed_external_config_names_the_variable(monkeypatch, raw, fragment):
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", raw)
    ExternalMongoManager.close()
    with pytest.raises(ExternalClusterConfigError) as info:
        ExternalMongoManager.initialize()
    assert "EXTERNAL_MONGODB_CONNECTIONS" in str(info.value)
    assert fragment in str(info.value)

    class Unit(DatabaseAccess):
        pass

    with pytest.raises(ExternalClusterConfigError):
        Unit().external_db  # noqa: B018 - never a silent "no clusters"


def test_credentials_are_injected_replacing_existing_ones(monkeypatch):
    monkeypatch.setenv("MONGO_DB_USER", "svc")
    monkeypatch.setenv("MONGO_DB_PASSWORD", "s3cr@t")
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps([
        {"name": "Dockets", "connection_string": "mongodb+srv://old:pw@dockets.example.net/db?w=1"},
    ]))
    ExternalMongoManager.close()
    ExternalMongoManager.initialize()
    assert ExternalMongoManager._connections == {
        "Dockets": "mongodb+srv://svc:s3cr%40t@dockets.example.net/db?w=1"
    }


def test_inject_credentials_keeps_at_signs_in_the_path():
    uri = inject_credentials("mongodb://a:b@h1,h2/db?authSource=x@y", "u", "p")
    assert uri == "mongodb://u:p@h1,h2/db?authSource=x@y"


# --- client defaults (SPEC §3): durable writes, bounded server selection, tz-aware ---

DURABLE = {"w": "majority", "j": True}


def plain_uri(mongo_uri: str) -> str:
    """The session server's URI without its options (the fixture's carries a timeout)."""
    return mongo_uri.split("?")[0].rstrip("/") + "/"


def described(client) -> dict:
    return {
        "write_concern": client.write_concern.document,
        "server_selection_timeout": client.options.server_selection_timeout,
        "tz_aware": client.codec_options.tz_aware,
    }


def test_uri_option_names_are_read_case_insensitively_without_dns():
    from aws_helper_sync.database.client_options import uri_option_names

    # mongodb+srv would need DNS in pymongo's parser: never resolved here
    assert uri_option_names("mongodb+srv://u:p%3F@cluster0.example.net/db?W=1&wTimeoutMS=5") == {
        "w", "wtimeoutms"}
    assert uri_option_names("mongodb://h1,h2?Journal=true;appName=x") == {"journal", "appname"}
    assert uri_option_names("mongodb://h/db") == set()
    assert uri_option_names("mongodb://h/?") == set()


def test_default_client_is_durable_bounded_and_tz_aware(fresh_manager, mongo_uri, make_state):
    import datetime as dt

    MongoManager.configure(plain_uri(mongo_uri))
    client = MongoManager.get_client()
    assert described(client) == {"write_concern": DURABLE, "server_selection_timeout": 5.0, "tz_aware": True}
    collection = client[make_state("tz")].docs
    collection.insert_one({"_id": 1, "at": dt.datetime(2024, 5, 6, 7, 8, 9)})  # naive means UTC in BSON
    try:
        at = collection.find_one({"_id": 1})["at"]
        assert at == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
        assert at.utcoffset() == dt.timedelta(0)
    finally:
        client.drop_database(collection.database.name)


USER_CHOICES = [
    # (URI options, the same as configure() keywords, what the client must have)
    ("w=1&journal=false", {"w": 1, "journal": False},
     {"write_concern": {"w": 1, "j": False}, "server_selection_timeout": 5.0, "tz_aware": True}),
    ("W=1", {"W": 1},
     {"write_concern": {"w": 1}, "server_selection_timeout": 5.0, "tz_aware": True}),
    ("wTimeoutMS=2000", {"wTimeoutMS": 2000},
     {"write_concern": {"wtimeout": 2000}, "server_selection_timeout": 5.0, "tz_aware": True}),
    ("journal=false", {"journal": False},
     {"write_concern": {"j": False}, "server_selection_timeout": 5.0, "tz_aware": True}),
    ("serverselectiontimeoutms=1500", {"serverSelectionTimeoutMS": 1500},
     {"write_concern": DURABLE, "server_selection_timeout": 1.5, "tz_aware": True}),
    ("tz_aware=false", {"tz_aware": False},
     {"write_concern": DURABLE, "server_selection_timeout": 5.0, "tz_aware": False}),
]
CHOICE_IDS = ["w1-nojournal", "W-upper", "wtimeout", "journal-false", "timeout", "tz-naive"]


@pytest.mark.parametrize(("query", "keywords", "expected"), USER_CHOICES, ids=CHOICE_IDS)
def test_user_choices_stand_whole_via_uri_and_configure(fresh_manager, mongo_uri, query, keywords, expected):
    MongoManager.configure(plain_uri(mongo_uri) + "?" + query)
    via_uri = described(MongoManager.get_client())
    MongoManager.close()
    MongoManager.configure(plain_uri(mongo_uri), **keywords)
    via_configure = described(MongoManager.get_client())
    assert (via_uri, via_configure) == (expected, expected)
    MongoManager.get_client().admin.command("ping")  # the client works with the user's choice


@pytest.mark.parametrize(("query", "keywords", "expected"), USER_CHOICES, ids=CHOICE_IDS)
def test_external_clients_get_the_same_defaults_and_keep_user_choices(
    mongo_uri, monkeypatch, query, keywords, expected
):
    base = plain_uri(mongo_uri)
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps([
        {"name": "Plain", "connection_string": base},
        {"name": "Chosen", "connection_string": f"{base}?{query}"},
        {"name": "ByKeywords", "connection_string": base},
    ]))
    ExternalMongoManager.reset()
    assert described(ExternalMongoManager.get_client("Plain")) == {
        "write_concern": DURABLE, "server_selection_timeout": 5.0, "tz_aware": True}
    assert described(ExternalMongoManager.get_client("Chosen")) == expected
    assert described(ExternalMongoManager.get_client("ByKeywords", **keywords)) == expected


# --- external clusters follow EXTERNAL_MONGODB_CONNECTIONS (issue 11 §9) ---

def app_name(client) -> str:
    return client.options.pool_options.metadata["application"]["name"]


def is_closed(client) -> bool:
    from pymongo.errors import InvalidOperation

    try:
        client.admin.command("ping")
    except InvalidOperation:
        return True
    return False


def test_external_clients_follow_the_variable_when_it_changes(mongo_client, mongo_uri, monkeypatch):
    base = plain_uri(mongo_uri)

    def configure(**apps):
        monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
            [{"name": name, "connection_string": f"{base}?appname={app}"} for name, app in apps.items()]))

    configure(Kept="kept", Changed="v1", Removed="gone")
    ExternalMongoManager.reset()
    kept, changed, removed = (ExternalMongoManager.get_client(n) for n in ("Kept", "Changed", "Removed"))

    configure(Kept="kept", Changed="v2")  # between two calls, as a reconfigured process would

    with pytest.raises(UnknownClusterError, match="Changed, Kept"):
        ExternalMongoManager.get_client("Removed")

    class Unit(DatabaseAccess):
        pass

    with pytest.raises(UnknownClusterError):
        Unit().external_db.Removed  # noqa: B018 - the proxy does not serve it either
    assert ExternalMongoManager.get_client("Kept") is kept  # unchanged string: same client
    renewed = ExternalMongoManager.get_client("Changed")
    assert renewed is not changed and app_name(renewed) == "v2"
    assert is_closed(changed) and is_closed(removed) and not is_closed(kept)
    assert ExternalMongoManager.get_available_clusters() == ["Kept", "Changed"]

    monkeypatch.delenv("EXTERNAL_MONGODB_CONNECTIONS")
    assert Unit().external_db is None
    assert is_closed(kept) and is_closed(renewed)


def test_changed_credentials_give_new_external_clients(mongo_uri, monkeypatch):
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
        [{"name": "Dockets", "connection_string": plain_uri(mongo_uri)}]))
    monkeypatch.delenv("MONGO_DB_USER", raising=False)
    monkeypatch.delenv("MONGO_DB_PASSWORD", raising=False)
    ExternalMongoManager.reset()
    before = ExternalMongoManager.get_client("Dockets")
    monkeypatch.setenv("MONGO_DB_USER", "svc")
    monkeypatch.setenv("MONGO_DB_PASSWORD", "rotated")
    after = ExternalMongoManager.get_client("Dockets")
    assert after is not before and is_closed(before)
    assert (after.options.pool_options._credentials.username,
            after.options.pool_options._credentials.password) == ("svc", "rotated")


def test_external_reset_closes_clients_and_reads_the_variable_again(mongo_uri, monkeypatch):
    monkeypatch.setenv("EXTERNAL_MONGODB_CONNECTIONS", json.dumps(
        [{"name": "One", "connection_string": plain_uri(mongo_uri)}]))
    ExternalMongoManager.reset()
    first = ExternalMongoManager.get_client("One")
    ExternalMongoManager.reset()
    assert not ExternalMongoManager.is_initialized() and is_closed(first)
    second = ExternalMongoManager.get_client("One")
    assert second is not first
    second.admin.command("ping")


def test_write_concern_in_mongo_db_options_stands(fresh_manager, mongo_uri, clean_env):
    host = plain_uri(mongo_uri).split("://", 1)[1].rstrip("/")
    clean_env.setenv("MONGO_DB_HOST", host)
    clean_env.setenv("MONGO_DB_OPTIONS", "journal=false&serverSelectionTimeoutMS=2500")
    client = MongoManager.get_client()
    assert described(client) == {"write_concern": {"j": False}, "server_selection_timeout": 2.5, "tz_aware": True}
    client.admin.command("ping")
