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
