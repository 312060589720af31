"""The state registry (issue 11 §1): a well-formed state must also be a known, active one.

Against SecantusDB: the registry collection is a real one (``STATES_COLLECTION``
in a test-unique database), its queries are counted on the wire by a PyMongo
command listener, and "unreachable" is a client pointed at a port nobody
listens on. Each entry point writes through a Repository WITH indexes, so a
state that got in would leave a database, a collection and indexes behind.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time

import pytest

from aws_helper_sync import (
    StateRegistryUnavailableError,
    UnknownStateError,
    fargate_handler,
    for_each_state,
    lambda_handler,
    reload_state_registry,
    set_allowed_states,
)
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.context import registry as registry_module
from aws_helper_sync.database import MongoManager
from aws_helper_sync.entrypoint import known_state
from aws_helper_sync.sqs.handler import sqs_handler
from tests.api_events import json_body, v1_event, v2_event
from tests.registry_support import use_registry
from tests.reliability_support import entry_classes, free_port, use_reliability_app
from tests.sqs_support import failed_ids, lambda_event, lambda_record

flask = pytest.importorskip("flask")


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


@pytest.fixture
def registered(reliability_app):
    """The ``registered`` entry classes, their ``ran`` lists emptied."""
    return entry_classes("registered")


@pytest.fixture
def registry(mongo_client, unique, monkeypatch):
    yield from use_registry(unique, monkeypatch)


@pytest.fixture
def unreachable(mongo_client, monkeypatch, unique, mongo_unreachable):
    """STATES_COLLECTION set, and the process client pointed at a port nobody listens on."""
    monkeypatch.setenv("STATES_COLLECTION", f"{unique}_core.states")


def flask_app():
    from aws_helper_sync.integrations.flask import StateRouting
    from tests.registry_support import record_entry

    app = flask.Flask(__name__)
    StateRouting(app)
    ran: list = []

    @app.post("/registered")
    def write():
        record_entry("flask", ran)
        return {"ok": True}

    return app.test_client(), ran


def wsgi_app():
    from aws_helper_sync.integrations.wsgi import StateMiddleware
    from tests.registry_support import record_entry

    ran: list = []

    def app(environ, start_response):
        record_entry("wsgi", ran)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    middleware = StateMiddleware(app)

    def call(state: str) -> str:
        statuses = []
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/registered", "HTTP_CONSTITUTION_STATE": state,
                   "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "test", "SERVER_PORT": "80"}
        body = b"".join(middleware(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        return statuses[0] + " " + body.decode()

    return call, ran


def test_active_names_come_from_status_or_is_active_and_contradictions_are_refused(registry):
    names = registry_module.mongo_registry().active_names()
    assert names == frozenset(registry.active)
    assert registry.queries() == 1


def test_every_entry_point_refuses_unknown_and_inactive_states_and_creates_nothing(
        registry, registered, monkeypatch, unique):
    refused = [*registry.inactive, f"{unique}_nowhere", "ohio"]  # "ohio" itself is not registered
    before = registry.databases()
    client, flask_ran = flask_app()
    wsgi, wsgi_ran = wsgi_app()
    monkeypatch.setenv("TASK_NAME", "registered")
    for state in refused:
        for build in (v1_event, v2_event):
            response = api_handler(build("POST", "/registered", headers={"constitution-state": state}, body={}))
            assert response["statusCode"] == 403, (state, response)
            assert json_body(response)["message"] == (
                f"constitution-state header: constitution-state {state!r} is not a known active state")
        result = lambda_handler("registered")({"constitution-state": state})
        assert (result["success"], result["error_type"]) == (False, "UnknownStateError"), result
        for consumer in ("registered", "registered_batch"):
            records = [lambda_record({"n": 1}, state=state), lambda_record({"constitution_state": state})]
            response = sqs_handler(consumer)(lambda_event(*records))
            assert failed_ids(response) == {r["messageId"] for r in records}
        monkeypatch.setenv("CONSTITUTION_STATE", state)
        assert fargate_handler() == 1
        with pytest.raises(UnknownStateError):
            registered["fargate"](envs={"CONSTITUTION_STATE": state}).run()
        response = client.post("/registered", headers={"constitution-state": state})
        assert (response.status_code, response.json["error"]) == (403, "unknown_constitution_state")
        assert wsgi(state).startswith("403 Forbidden")
        with pytest.raises(UnknownStateError, match=repr(state)):
            for_each_state([registry.active[0], state], lambda s: pytest.fail(f"ran in {s}"))

    assert all(cls.ran == [] for cls in registered.values()) and flask_ran == wsgi_ran == []
    assert registry.databases() == before, "a refused state created a database"
    assert registry.queries() == 1  # one load answered every state above

    # the control: an active state gets in everywhere, and its database gets the indexes
    state = registry.active[1]
    assert api_handler(v1_event("POST", "/registered", headers={"constitution-state": state}, body={}))[
        "statusCode"] == 201
    assert lambda_handler("registered")({"constitution-state": state})["success"] is True
    assert sqs_handler("registered")(lambda_event(lambda_record({}, state=state)))["batchItemFailures"] == []
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    assert fargate_handler() == 0
    assert client.post("/registered", headers={"constitution-state": state}).status_code == 200
    assert wsgi(state).startswith("200")
    collection = MongoManager.get_client()[state]["registered_records"]
    assert collection.count_documents({}) == 6
    assert {"entry_1", "entry_n"} <= set(collection.index_information())


def test_many_unknown_states_cost_one_query_per_refresh(registry, reliability_app, unique):
    for n in range(300):
        state = f"{unique}_x{n}"
        response = api_handler(v2_event("POST", "/registered", headers={"constitution-state": state}, body={}))
        assert response["statusCode"] == 403
    assert registry.queries() == 1

    reload_state_registry()  # e.g. after adding a state: the next check reads the collection again
    assert lambda_handler("registered")({"constitution-state": f"{unique}_x1"})["success"] is False
    assert registry.queries() == 2


def test_a_state_added_to_the_registry_gets_in_after_a_refresh(registry, registered, monkeypatch):
    newcomer = registry.name("vermont")
    event = v1_event("POST", "/registered", headers={"constitution-state": newcomer}, body={})
    assert api_handler(event)["statusCode"] == 403
    registry.collection.insert_one({"name": newcomer, "status": "active"})
    assert api_handler(event)["statusCode"] == 403  # cached for STATES_REFRESH_SECONDS (60 s)
    reload_state_registry()
    assert api_handler(event)["statusCode"] == 201
    registry.collection.update_one({"name": newcomer}, {"$set": {"status": "suspended"}})
    reload_state_registry()
    assert api_handler(event)["statusCode"] == 403  # retired: refused again
    assert registry.queries() == 3


def test_the_refresh_interval_is_configurable(registry, monkeypatch):
    monkeypatch.setenv("STATES_REFRESH_SECONDS", "0.2")
    assert registry_module.mongo_registry().refresh_seconds == 0.2
    known_state(registry.active[0])
    known_state(registry.active[1])
    assert registry.queries() == 1
    time.sleep(0.25)
    known_state(registry.active[0])
    assert registry.queries() == 2


def test_hammer_one_refresh_at_a_time_and_every_answer_right(registry, unique):
    """32 threads start together on an expired registry, three times: 3 queries, 0 wrong answers."""
    threads, per_thread, rounds = 32, 150, 3
    wrong: list[str] = []
    for _ in range(rounds):
        reload_state_registry()
        barrier = threading.Barrier(threads)

        def work(index: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            for n in range(per_thread):
                state = registry.active[n % 2] if n % 3 == 0 else f"{unique}_t{index}_{n}"
                try:
                    known_state(state)
                    ok = True
                except UnknownStateError:
                    ok = False
                if ok != (state in registry.active):
                    wrong.append(state)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert wrong == []
    assert registry.queries() == rounds


def test_an_unreachable_registry_fails_closed_at_every_entry_point(unreachable, registered, monkeypatch, caplog):
    caplog.set_level(logging.ERROR)
    state = "ohio"
    response = api_handler(v1_event("POST", "/registered", headers={"constitution-state": state}, body={}))
    assert response["statusCode"] == 503
    assert json_body(response)["message"] == "State registry unavailable"
    assert "127.0.0.1" not in response["body"] and "states" not in response["body"]
    result = lambda_handler("registered")({"constitution-state": state})
    assert (result["success"], result["error_type"]) == (False, "StateRegistryUnavailableError")
    records = [lambda_record({}, state=state), lambda_record({"n": 2}, state="texas")]
    assert failed_ids(sqs_handler("registered")(lambda_event(*records))) == {r["messageId"] for r in records}
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    monkeypatch.setenv("TASK_NAME", "registered")
    assert fargate_handler() == 1
    client, _ = flask_app()
    response = client.post("/registered", headers={"constitution-state": state})
    assert (response.status_code, response.json["error"]) == (503, "state_registry_unavailable")
    wsgi, _ = wsgi_app()
    assert wsgi(state).startswith("503 Service Unavailable")
    with pytest.raises(StateRegistryUnavailableError):
        for_each_state([state], lambda s: pytest.fail("ran"))
    assert all(cls.ran == [] for cls in registered.values())
    assert "could not be read" in caplog.text  # the operator sees why


def test_threads_waiting_on_a_failed_refresh_share_its_failure(mongo_client, monkeypatch, unique):
    monkeypatch.setenv("STATES_COLLECTION", f"{unique}_core.states")
    MongoManager.close()
    MongoManager.initialize(f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=1000")
    try:
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def check() -> None:
            barrier.wait()
            try:
                known_state("ohio")
                outcomes.append("accepted")
            except StateRegistryUnavailableError:
                outcomes.append("refused")

        workers = [threading.Thread(target=check) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert outcomes == ["refused"] * 8
        # one thread waited on the server; the others took its answer instead of each waiting 1 s
        assert registry_module.mongo_registry().queries <= 2
    finally:
        MongoManager.close()
        MongoManager.initialize(os.environ["MONGODB_URI"])


def test_a_loaded_list_is_not_served_once_the_registry_is_unreachable(registry):
    """Fail closed also after a good load: an expired list is never trusted past its TTL."""
    assert known_state(registry.active[0]) == registry.active[0]
    MongoManager.close()
    MongoManager.initialize(f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=150")
    reload_state_registry()
    with pytest.raises(StateRegistryUnavailableError):
        known_state(registry.active[0])
    queries = registry_module.mongo_registry().queries
    for _ in range(20):  # refused at once while the failure is recent: no wait per request
        with pytest.raises(StateRegistryUnavailableError):
            known_state(registry.active[0])
    assert registry_module.mongo_registry().queries == queries
    MongoManager.close()
    MongoManager.initialize(os.environ["MONGODB_URI"], event_listeners=[registry.log])
    time.sleep(registry_module.RETRY_AFTER_FAILURE_SECONDS)
    assert known_state(registry.active[0]) == registry.active[0]  # back by itself


def test_a_missing_registry_collection_refuses_everything_and_creates_nothing(
        mongo_client, reliability_app, monkeypatch, unique, caplog):
    monkeypatch.setenv("STATES_COLLECTION", f"{unique}_core.states")
    before = set(mongo_client.list_database_names())
    response = api_handler(v1_event("POST", "/registered", headers={"constitution-state": "ohio"}, body={}))
    assert response["statusCode"] == 403
    assert f"{unique}_core" not in MongoManager.get_client().list_database_names()
    assert set(MongoManager.get_client().list_database_names()) == before
    assert "has no active states" in caplog.text


def test_allow_list_and_registry_both_apply(registry, reliability_app, monkeypatch):
    monkeypatch.setenv("ALLOWED_STATES", registry.active[0])
    event = lambda s: v1_event("POST", "/registered", headers={"constitution-state": s}, body={})
    assert api_handler(event(registry.active[0]))["statusCode"] == 201
    response = api_handler(event(registry.active[1]))  # registered, but not allowed here
    assert response["statusCode"] == 403
    assert "ALLOWED_STATES" in json_body(response)["message"]


def test_a_malformed_states_collection_is_a_configuration_error(reliability_app, monkeypatch, caplog):
    for value in ("core", "core.", ".states", "co re.states", "core.$x", "a/b.states"):
        monkeypatch.setenv("STATES_COLLECTION", value)
        response = api_handler(v1_event("POST", "/registered", headers={"constitution-state": "ohio"}, body={}))
        assert response["statusCode"] == 500, value
        assert "STATES_COLLECTION" not in response["body"]
        assert f"STATES_COLLECTION={value!r}" in caplog.text
    monkeypatch.setenv("STATES_COLLECTION", "core.states")
    for value in ("soon", "0", "-5", "nan", "inf"):
        monkeypatch.setenv("STATES_REFRESH_SECONDS", value)
        result = lambda_handler("registered")({"constitution-state": "ohio"})
        assert (result["success"], result["error_type"]) == (False, "ConfigurationError"), value
        assert "STATES_REFRESH_SECONDS" in result["error"]


# --- no registry configured ---

@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(registry_module, "_warned", False)


def test_without_a_registry_any_state_passes_and_one_warning_says_so(
        fresh_warning, mongo_client, reliability_app, make_state, caplog):
    caplog.set_level(logging.WARNING, logger="aws_helper_sync.registry")
    assert registry_module.unguarded_warning() == registry_module.UNGUARDED_WARNING
    barrier = threading.Barrier(16)
    statuses: list[int] = []

    def request(n: int) -> None:
        barrier.wait()
        event = v1_event("POST", "/registered", headers={"constitution-state": make_state(f"s{n}")}, body={})
        statuses.append(api_handler(event)["statusCode"])

    workers = [threading.Thread(target=request, args=(n,)) for n in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert statuses == [201] * 16  # today's behaviour stays
    assert lambda_handler("registered")({"constitution-state": make_state("s1")})["success"] is True
    warnings = [r for r in caplog.records if r.name == "aws_helper_sync.registry"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "any well-formed constitution-state is accepted" in warnings[0].getMessage()


@pytest.mark.parametrize("configure", ["env", "code", "collection"])
def test_no_warning_once_a_registry_is_configured(fresh_warning, monkeypatch, caplog, configure):
    caplog.set_level(logging.WARNING, logger="aws_helper_sync.registry")
    if configure == "env":
        monkeypatch.setenv("ALLOWED_STATES", "ohio")
    elif configure == "code":
        set_allowed_states("ohio")
    else:
        monkeypatch.setenv("STATES_COLLECTION", "core.states")
    assert registry_module.unguarded_warning() is None
    if configure != "collection":
        assert known_state("ohio") == "ohio"
        assert caplog.records == []


def test_registry_errors_are_exported_with_a_clear_hierarchy():
    from aws_helper_sync import ConfigurationError, InvalidStateError

    assert issubclass(UnknownStateError, InvalidStateError)  # any code refusing bad states refuses these
    assert not issubclass(StateRegistryUnavailableError, ValueError)  # not the caller's fault: never a 400
    assert not issubclass(StateRegistryUnavailableError, ConfigurationError)


def test_a_batch_fails_only_its_unknown_records(registry, registered):
    known, unknown = registry.active[0], registry.inactive[0]
    for consumer in ("registered", "registered_batch"):
        records = [lambda_record({"n": 1}, state=known), lambda_record({"n": 2}, state=unknown),
                   lambda_record({"constitution_state": known})]
        response = sqs_handler(consumer)(lambda_event(*records))
        assert failed_ids(response) == {records[1]["messageId"]}, consumer
    assert registered["sqs"].ran == [known, known] and registered["sqs-batch"].ran == [known]
    assert registry.queries() == 1


def test_checking_states_loads_pymongo_only_when_a_registry_collection_is_configured():
    import subprocess
    import sys

    code = (
        "import sys; from aws_helper_sync.entrypoint import require_state; "
        "from aws_helper_sync import set_allowed_states; "
        "require_state('ohio', 'x'); set_allowed_states('ohio,texas'); require_state('texas', 'x'); "
        "print('pymongo' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("STATES_COLLECTION", "ALLOWED_STATES")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
