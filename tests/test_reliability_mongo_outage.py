"""MongoDB dies in the middle of the work: nothing is acknowledged that was not written.

Each test runs its own SecantusDB on a fixed port and data dir, SIGKILLs it at
a chosen point and starts it again on the same port and data dir. The
library's client keeps its defaults (SPEC §3: ``w="majority", journal=True``,
so an acknowledged write survives a crash of the server; without the journal,
SecantusDB, like mongod, loses the last ~100 ms of acknowledged writes on
SIGKILL, and a message whose write was lost would already be deleted), except
a shorter server selection timeout than the 5 s default, to keep the tests
fast:

    MongoManager.configure(uri, serverSelectionTimeoutMS=1000)
"""

from __future__ import annotations

import json
import time

import pymongo.errors
import pytest

from aws_helper_sync import MongoManager, lambda_handler
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.devservers import SecantusServer
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
from aws_helper_sync.sqs.worker import SQSWorker
from tests.api_events import json_body, v1_event, v2_event
from tests.reliability_support import free_port, report, use_reliability_app, wait_for
from tests.sqs_support import (
    create_queue,
    failed_ids,
    lambda_event,
    lambda_record,
    queue_depth,
    send,
)

SERVER_SELECTION_TIMEOUT_MS = 1000
BOUND_S = 15  # a generous upper bound on one handler call while the server is down
LEAK_MARKERS = ("Traceback", 'File "', ".py", "127.0.0.1", "ServerSelectionTimeout", "Connection refused")


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


def start_own_mongo(tmp_path, monkeypatch, query: str = "", **client_kwargs):
    """Body of the fixtures below: a SecantusDB of this test, the library's client pointed at it."""
    port = free_port()
    server = SecantusServer(data_dir=str(tmp_path / "data"), port=port).start()
    uri = f"mongodb://127.0.0.1:{port}/{query}"
    MongoManager.close()
    monkeypatch.setenv("MONGODB_URI", uri)
    MongoManager.configure(uri, **client_kwargs)
    try:
        yield server
    finally:
        load_consumer_class("outage_batch").after_write = None
        load_consumer_class("outage_single").after_write = None
        MongoManager.close()  # the next test connects to the session's server again
        server.kill()  # its data dir is the test's tmp_path: no clean shutdown needed
        server.stop()


@pytest.fixture
def own_mongo(tmp_path, monkeypatch):
    """A SecantusDB of this test on a fixed port; the client's defaults but a 1 s server selection."""
    yield from start_own_mongo(tmp_path, monkeypatch, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS)


def kill_after(server: SecantusServer, writes: int, killed: list[float]):
    def hook(count: int) -> None:
        if count == writes and not killed:
            server.kill()
            killed.append(time.monotonic())
    return hook


def outage_records(state: str) -> dict[str, dict]:
    return {doc["_id"]: doc for doc in MongoManager.get_client()[state]["outage_records"].find()}


def test_worker_batch_hit_by_an_outage_is_not_acknowledged_and_succeeds_after_restart(
    reliability_app, own_mongo, boto_client, unique, make_state
):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-outage")
    state = make_state("ohio")
    uids = [f"{unique}-{n}" for n in range(6)]
    for uid in uids:
        send(sqs, url, {"uid": uid}, state=state)
    consumer_class = load_consumer_class("outage_batch")
    killed: list[float] = []
    consumer_class.after_write = kill_after(own_mongo, 2, killed)
    worker = SQSWorker("outage_batch", url, wait_time_seconds=1, handle_signals=False)

    started = time.monotonic()
    received = worker.poll_once()
    during_outage = time.monotonic() - started

    assert killed, "the server was never killed: the batch did not reach its third write"
    assert received == 6
    assert (worker.stats.succeeded, worker.stats.failed, worker.stats.deleted) == (0, 6, 0)
    assert sum(queue_depth(sqs, url)) == 6  # none deleted: all six come back
    assert during_outage < BOUND_S

    consumer_class.after_write = None
    own_mongo.start()
    wait_for(lambda: worker.poll_once() >= 0 and worker.stats.deleted == 6, 30,
             lambda: f"worker stats {worker.stats}")

    documents = outage_records(state)
    report(
        "mongo-outage", "SQSWorker batch, SecantusDB SIGKILLed after 2 of 6 writes",
        records=6, killed_after_writes=2,
        reported_failed_during_outage=6, acknowledged_during_outage=0,
        handler_seconds_during_outage=round(during_outage, 1),
        server_selection_timeout_ms=SERVER_SELECTION_TIMEOUT_MS,
        written_after_restart=len(documents), deleted_after_restart=worker.stats.deleted,
    )
    assert set(documents) == set(uids)
    assert {doc["state"] for doc in documents.values()} == {state}
    assert queue_depth(sqs, url) == (0, 0)


def test_lambda_batch_hit_by_an_outage_fails_exactly_the_unwritten_records(
    reliability_app, own_mongo, unique, make_state
):
    state = make_state("utah")
    records = [lambda_record({"uid": f"{unique}-{n}"}, state=state) for n in range(5)]
    consumer_class = load_consumer_class("outage_single")
    consumer_class.written = 0
    killed: list[float] = []
    consumer_class.after_write = kill_after(own_mongo, 2, killed)
    handler = sqs_handler("outage_single")

    started = time.monotonic()
    response = handler(lambda_event(*records))
    during_outage = time.monotonic() - started

    unwritten = {r["messageId"] for r in records[2:]}
    assert killed
    assert failed_ids(response) == unwritten
    assert (response["successful"], response["failed"]) == (2, 3)
    assert during_outage < BOUND_S

    consumer_class.after_write = None
    own_mongo.start()
    redelivered = [
        lambda_record(json.loads(r["body"]), message_id=r["messageId"], state=state, receive_count=2)
        for r in records[2:]
    ]
    retry = handler(lambda_event(*redelivered))

    documents = outage_records(state)
    report(
        "mongo-outage", "sqs_handler single mode, SecantusDB SIGKILLed after 2 of 5 records",
        records=5, killed_after_writes=2,
        reported_failed_during_outage=len(failed_ids(response)),
        acknowledged_during_outage=response["successful"],
        handler_seconds_during_outage=round(during_outage, 1),
        redelivered_and_succeeded=retry["successful"],
        written_after_restart=len(documents),
    )
    assert retry["batchItemFailures"] == []
    assert set(documents) == {f"{unique}-{n}" for n in range(5)}  # the two acknowledged survived the crash
    assert {doc["writes"] for doc in documents.values()} == {1}


@pytest.mark.parametrize("build", [v1_event, v2_event], ids=["v1", "v2"])
def test_api_during_an_outage_answers_503_without_details_then_recovers(
    reliability_app, own_mongo, make_state, build
):
    state = make_state("iowa")
    headers = {"Constitution-State": state}
    before = api_handler(build("POST", "/notes", headers=headers, body={"text": "before"}))
    assert before["statusCode"] == 201
    note_id = json_body(before)["_id"]

    own_mongo.kill()
    started = time.monotonic()
    during = [
        api_handler(build("POST", "/notes", headers=headers, body={"text": "during"})),
        api_handler(build("GET", f"/notes/{note_id}", headers=headers)),
    ]
    during_outage = time.monotonic() - started

    own_mongo.start()
    after_post = api_handler(build("POST", "/notes", headers=headers, body={"text": "after"}))
    after_get = api_handler(build("GET", f"/notes/{note_id}", headers=headers))

    report(
        "mongo-outage", f"API ({build.__name__}) during an outage",
        requests_during_outage=len(during),
        statuses_during_outage=[r["statusCode"] for r in during],
        seconds_for_both=round(during_outage, 1),
        status_after_restart=[after_post["statusCode"], after_get["statusCode"]],
    )
    for response in during:
        assert response["statusCode"] == 503
        assert json_body(response)["message"] == "Database unavailable"
        text = response["body"] + json.dumps(response["headers"])
        assert not [marker for marker in LEAK_MARKERS if marker in text]
    assert during_outage < 2 * BOUND_S
    assert after_post["statusCode"] == 201
    assert after_get["statusCode"] == 200
    assert json_body(after_get)["text"] == "before"


def test_token_check_during_an_outage_is_503_not_401(reliability_app, own_mongo, monkeypatch, make_state):
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    client = MongoManager.get_client()
    user_id = client.core.users.insert_one({"username": "clerk", "is_active": True}).inserted_id
    client.core.tokens.insert_one({"token": "clerk-token", "user_id": user_id, "is_active": True})
    event = v1_event("GET", "/notes/0123456789abcdef01234567", headers={
        "Authorization": "Bearer clerk-token", "Constitution-State": make_state("ohio")})
    assert api_handler(event)["statusCode"] == 404  # authenticated, no such note

    own_mongo.kill()
    during = api_handler(event)
    own_mongo.start()
    after = api_handler(event)

    report("mongo-outage", "token authentication during an outage",
           status_during_outage=during["statusCode"], status_after_restart=after["statusCode"])
    assert during["statusCode"] == 503  # the credential was never checked: not a refusal
    assert not [marker for marker in LEAK_MARKERS if marker in during["body"]]
    assert after["statusCode"] == 404


def test_standalone_lambda_during_an_outage_fails_cleanly_then_recovers(reliability_app, own_mongo, make_state):
    state = make_state("utah")
    handler = lambda_handler("notes")
    assert handler({"constitution-state": state}) == {"success": True, "data": {"state": state, "notes": 0}}

    own_mongo.kill()
    started = time.monotonic()
    during = handler({"constitution-state": state})
    during_outage = time.monotonic() - started
    own_mongo.start()
    after = handler({"constitution-state": state})

    report("mongo-outage", "standalone Lambda during an outage",
           result_during_outage=f"success={during['success']}, error_type={during.get('error_type')}",
           seconds_during_outage=round(during_outage, 1), success_after_restart=after["success"])
    assert during["success"] is False
    # PyMongo's "no server" error: a server selection timeout, or AutoReconnect when the read was
    # sent on a pooled connection the kill closed and its retry found no server (it raises the first)
    assert issubclass(getattr(pymongo.errors, during["error_type"]), pymongo.errors.ConnectionFailure), during
    assert during_outage < BOUND_S
    assert after == {"success": True, "data": {"state": state, "notes": 0}}


DURABILITY_RECORDS, KILLED_AFTER = 400, 300


@pytest.fixture
def mongo_with_defaults(request, tmp_path, monkeypatch):
    """A SecantusDB of this test; the client exactly as the library builds it from ``request.param``."""
    yield from start_own_mongo(tmp_path, monkeypatch, request.param)


@pytest.mark.parametrize("mongo_with_defaults", [
    pytest.param("", id="library-defaults"),
    pytest.param("?w=1&journal=false", id="user-chose-w1-no-journal", marks=pytest.mark.slow),
], indirect=True)
def test_sigkill_right_after_an_acknowledged_write_loses_no_acknowledged_record(
    reliability_app, mongo_with_defaults, unique, make_state
):
    """One Lambda batch; SecantusDB SIGKILLed right after the 300th acknowledged write and started
    again (a crash and restart), the rest of the batch written after the restart."""
    server = mongo_with_defaults
    query = MongoManager._connection_string.partition("?")[2]
    state = make_state("ohio")
    records = [lambda_record({"uid": f"{unique}-{n}"}, state=state) for n in range(DURABILITY_RECORDS)]
    consumer_class = load_consumer_class("outage_single")
    consumer_class.written = 0
    crashes: list[float] = []

    def crash_and_restart(count: int) -> None:
        if count == KILLED_AFTER and not crashes:
            server.kill()  # the write of record 300 was just acknowledged
            crashes.append(time.monotonic())
            server.start()

    consumer_class.after_write = crash_and_restart
    response = sqs_handler("outage_single")(lambda_event(*records))
    consumer_class.after_write = None

    write_concern = MongoManager.get_client().write_concern.document
    acknowledged = {json.loads(r["body"])["uid"] for r in records} - {
        json.loads(r["body"])["uid"] for r in records if r["messageId"] in failed_ids(response)}
    stored = set(outage_records(state))
    lost = acknowledged - stored
    report(
        "mongo-outage",
        f"sqs_handler single mode, SecantusDB SIGKILLed right after an acknowledged write "
        f"({'library defaults' if not query else query})",
        records=DURABILITY_RECORDS, killed_after_acknowledged_writes=KILLED_AFTER,
        write_concern=write_concern, acknowledged=len(acknowledged),
        reported_failed=len(failed_ids(response)), acknowledged_but_lost=len(lost),
    )
    assert crashes, "the server was never killed"
    if not query:
        assert write_concern == {"w": "majority", "j": True}
        assert len(acknowledged) >= KILLED_AFTER
        assert lost == set()  # every record Lambda would delete is in the database
    else:
        assert write_concern == {"w": 1, "j": False}  # the user's choice stands (and may lose writes)
