"""Session fixtures: real SecantusDB and moto servers, per-test isolation.

SecantusDB starts once per session (or ``MONGODB_URI`` is used when already
set); moto starts on first use. Every test that touches MongoDB gets the
databases it created dropped afterwards; every AWS test gets a moto reset.

Database names of the suite start with ``DATABASE_PREFIX`` (``t`` + a tag of the
session: ``make_state`` / ``unique``), so a server given in ``MONGODB_URI`` only
ever sees databases that are the suite's own. With such a server, the session
ends with a check: a database created during the session without the prefix
fails the run and is named (the suite wrote to ``connecticut`` or ``core``
itself), and the session's prefixed leftovers are dropped.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from aws_helper_sync import loading
from aws_helper_sync.context import state as state_module
from aws_helper_sync.database import ExternalMongoManager, MongoManager
from tests.servers import MotoServer, SecantusServer

TESTS_DIR = Path(__file__).parent
EXAMPLE_ROOT = TESTS_DIR.parent / "examples" / "land_records"
SYSTEM_DATABASES = {"admin", "local", "config"}
SESSION_TAG = uuid.uuid4().hex[:4]
DATABASE_PREFIX = f"t{SESSION_TAG}"  # every database (and state) name of this session starts so
# The example's report database (examples/land_records/repositories.py), prefixed too;
# set before any test imports the example, and inherited by the CLI subprocesses.
os.environ["REPORTS_DATABASE"] = REPORTS_DATABASE = f"{DATABASE_PREFIX}_core"
_external_server: dict[str, Any] = {}  # the MONGODB_URI server's "uri" and database names "before" first use

# Hypothesis tests are reproducible: the same examples on every run and machine (derandomized,
# no example database). HYPOTHESIS_PROFILE=explore searches with fresh random examples instead.
hypothesis_settings.register_profile("reproducible", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "reproducible"))

# Never talk to real AWS, whatever the developer's shell holds.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_REGION="us-east-2",
    AWS_DEFAULT_REGION="us-east-2",
)
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "ALLOWED_STATES", "APP_ROOT", "REQUIRE_AUTH"):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def mongo_server():
    """The SecantusDB server of the session, or None when MONGODB_URI points elsewhere."""
    if os.environ.get("MONGODB_URI"):
        yield None
        return
    server = SecantusServer().start()
    try:
        yield server
    finally:
        MongoManager.close()
        server.stop()


@pytest.fixture
def owned_mongo_server(mongo_server):
    """For the few tests that must use a fixed database name (a default such as ``core``):
    only on the session's own SecantusDB, never on a server given in MONGODB_URI."""
    if mongo_server is None:
        pytest.skip("writes a fixed database name; the suite never does on a MONGODB_URI server")
    return mongo_server


@pytest.fixture(scope="session")
def mongo_uri(mongo_server) -> str:
    uri = os.environ.get("MONGODB_URI") if mongo_server is None else mongo_server.uri
    os.environ["MONGODB_URI"] = uri
    if mongo_server is None:
        with _own_client(uri) as client:
            _external_server.update(uri=uri, before=set(client.list_database_names()))
    return uri


@contextlib.contextmanager
def _own_client(uri: str):
    """A client of the suite's bookkeeping, apart from the library's (tests close and replace that one)."""
    from pymongo import MongoClient

    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        yield client
    finally:
        client.close()


def foreign_databases(before: set[str], after: set[str]) -> list[str]:
    """Databases created during the session whose names are not the session's (sorted)."""
    return sorted(name for name in after - before - SYSTEM_DATABASES if not name.startswith(DATABASE_PREFIX))


def pytest_sessionfinish(session, exitstatus):
    """With MONGODB_URI given: drop the session's leftovers, fail loudly on any other new database."""
    if not _external_server:
        return
    before = _external_server["before"]
    with _own_client(_external_server["uri"]) as client:
        after = set(client.list_database_names())
        for name in after - before:
            if name.startswith(DATABASE_PREFIX):
                client.drop_database(name)
    foreign = foreign_databases(before, after)
    if foreign:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = (f"the suite created databases without its prefix {DATABASE_PREFIX!r} on the "
                   f"MONGODB_URI server (left in place): {', '.join(foreign)}")
        if reporter is not None:
            reporter.write_sep("=", "DATABASE ISOLATION FAILED", red=True, bold=True)
            reporter.write_line(message, red=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def mongo_client(mongo_uri):
    """The library's process client; databases created by the test are dropped after it."""
    client = MongoManager.initialize(mongo_uri)
    before = set(client.list_database_names())
    yield client
    after = set(MongoManager.get_client().list_database_names())
    for name in after - before - SYSTEM_DATABASES:
        MongoManager.get_client().drop_database(name)


@pytest.fixture
def mongo_unreachable(mongo_uri):
    """The library's process client pointed at a port nobody listens on (MongoDB down), put back after."""
    from tests.reliability_support import free_port

    MongoManager.close()
    MongoManager.initialize(f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=150")
    yield
    MongoManager.close()
    MongoManager.initialize(mongo_uri)


@pytest.fixture
def unique() -> str:
    """A short unique tag for state and database names of one test (starts with DATABASE_PREFIX)."""
    return DATABASE_PREFIX + uuid.uuid4().hex[:8]


@pytest.fixture
def make_state(unique):
    """``make_state("connecticut")`` -> a valid, test-unique state name."""
    return lambda name: f"{unique}_{name}"


@pytest.fixture(scope="session")
def moto_server():
    server = MotoServer().start()
    os.environ["AWS_ENDPOINT_URL"] = server.endpoint_url
    try:
        yield server
    finally:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        server.stop()


@pytest.fixture
def aws(moto_server):
    """A clean moto for the test; yields the server (``endpoint_url``)."""
    moto_server.reset()
    os.environ["AWS_ENDPOINT_URL"] = moto_server.endpoint_url
    yield moto_server
    moto_server.reset()


@pytest.fixture
def boto_client(aws):
    """Raw boto3 clients for arranging and checking, with retries off (see TESTING.md)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1})
    return lambda service: boto3.client(
        service, region_name="us-east-2", endpoint_url=aws.endpoint_url, config=config
    )


@pytest.fixture
def app_root(monkeypatch):
    """Point APP_ROOT at the sample app under tests/app and forget loaded classes."""
    root = TESTS_DIR / "app"
    monkeypatch.setenv("APP_ROOT", str(root))
    loading.clear_cache()
    yield root
    loading.clear_cache()


@pytest.fixture
def example_app(monkeypatch):
    """Point APP_ROOT at examples/land_records (its modules importable) and forget loaded classes."""
    monkeypatch.setenv("APP_ROOT", str(EXAMPLE_ROOT))
    monkeypatch.syspath_prepend(str(EXAMPLE_ROOT))
    loading.clear_cache()
    yield EXAMPLE_ROOT
    loading.clear_cache()


@pytest.fixture(autouse=True)
def _isolation():
    """No state, allow-list or external cluster config survives a test."""
    state_module.set_allowed_states(None)
    state_module.set_state(None)
    yield
    state_module.set_allowed_states(None)
    state_module.set_state(None)
    ExternalMongoManager.close()
