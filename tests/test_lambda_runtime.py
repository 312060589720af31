"""The handlers in the real Lambda runtime client (awslambdaric), as Lambda runs them.

Each test starts ``python -m awslambdaric <module>.<function>`` (the function's
``Handler`` string) in a subprocess whose task root is the app, against a fake
Runtime API on 127.0.0.1 (tests/lambda_runtime_support.py) and the session's
SecantusDB and moto: the event goes through the client's own unmarshalling,
``LambdaContext`` and marshalling of the response, as on AWS.
"""

from __future__ import annotations

import datetime
import json
import sys

import pytest

from tests.api_events import v1_event, v2_event
from tests.conftest import EXAMPLE_ROOT, REPORTS_DATABASE, TESTS_DIR
from tests.example_support import parcel, parcel_events_queue
from tests.lambda_runtime_support import (
    FUNCTION_ARN,
    group_gone,
    lambda_runtime,
    lambda_sqs_record,
    sns_envelope,
)
from tests.sqs_support import lambda_event, lambda_record, queue_arn, receive_all

RUNTIME_APP = TESTS_DIR / "runtime_app"
FORK_WARNING = "MongoClient opened before fork"  # pymongo's warning when a client crosses a fork


def body(response: dict) -> dict:
    return json.loads(response["body"])


def recorded(parcel_id: str) -> dict:
    return {"event_id": f"{parcel_id}:recorded", "type": "parcel.recorded", "parcel_id": parcel_id,
            "occurred_at": "2026-11-30T10:00:00+00:00", "parcel": parcel(parcel_id)}


# --- the example's handlers (examples/land_records/handlers.py, named by template.yaml) ---

def test_api_handler_answers_rest_and_http_api_events(mongo_client, boto_client, unique, make_state, monkeypatch):
    queue_url = parcel_events_queue(boto_client, unique, monkeypatch)[1]
    state = make_state("connecticut")

    with lambda_runtime("handlers.api", EXAMPLE_ROOT) as runtime:
        created = runtime.response(v1_event("POST", "/parcels", headers={
            "Constitution-State": state, "Content-Type": "application/json"}, body=parcel("HFD-0001")))
        fetched = runtime.response(v2_event("GET", "/parcels/HFD-0001", headers={"constitution-state": state}))
        listed = runtime.response(v2_event("GET", "/parcels", headers={"constitution-state": state},
                                           query={"limit": "10"}))
        bad_limit = runtime.response(v1_event("GET", "/parcels", headers={"constitution-state": state},
                                              query={"limit": "0"}))
        no_state = runtime.response(v1_event("GET", "/parcels/HFD-0001"))
        no_route = runtime.response(v2_event("GET", "/deeds/1", headers={"constitution-state": state}))

    assert (created["statusCode"], created["headers"]["Location"]) == (201, "/parcels/HFD-0001")
    assert body(created)["event_published"] is True
    assert (fetched["statusCode"], body(fetched)["owner"]) == (200, "A. Smith")
    assert [p["parcel_id"] for p in body(listed)["items"]] == ["HFD-0001"]
    assert (bad_limit["statusCode"], no_state["statusCode"], no_route["statusCode"]) == (400, 400, 404)
    assert mongo_client[state]["parcels"].count_documents({"parcel_id": "HFD-0001"}) == 1
    (message,) = receive_all(boto_client("sqs"), queue_url)  # published from inside the runtime
    assert message["MessageAttributes"]["constitution-state"]["StringValue"] == state


def test_sqs_handler_reports_batch_item_failures(mongo_client, boto_client, unique, make_state, monkeypatch):
    """Records as the event source delivers them: from the real queue (raw SNS delivery), an SNS
    envelope (raw delivery off), a malformed event; only the malformed one is reported failed."""
    ohio, texas = make_state("ohio"), make_state("texas")
    sqs = boto_client("sqs")
    topic_arn, queue_url = parcel_events_queue(boto_client, unique, monkeypatch)
    boto_client("sns").publish(TopicArn=topic_arn, Message=json.dumps(recorded("P-001")),
                               MessageAttributes={"constitution-state": {"DataType": "String", "StringValue": ohio}})
    (message,) = receive_all(sqs, queue_url)
    from_queue = lambda_sqs_record(message, queue_arn(sqs, queue_url))
    enveloped = lambda_record(sns_envelope(recorded("P-002"), texas))
    malformed = lambda_record({"parcel_id": "P-003"}, state=ohio)

    with lambda_runtime("handlers.parcel_events", EXAMPLE_ROOT) as runtime:
        response = runtime.response(lambda_event(from_queue, enveloped, malformed))
        redelivered = runtime.response(lambda_event(from_queue))

    assert response["batchItemFailures"] == [{"itemIdentifier": malformed["messageId"]}]
    assert (response["successful"], response["failed"]) == (2, 1)
    assert redelivered["batchItemFailures"] == []
    assert [d["parcel_id"] for d in mongo_client[ohio]["parcel_history"].find()] == ["P-001"]
    assert [d["parcel_id"] for d in mongo_client[texas]["parcel_history"].find()] == ["P-002"]


def test_report_lambda(mongo_client, make_state):
    state = make_state("connecticut")
    mongo_client[state]["parcels"].insert_many([
        {"parcel_id": "A-1", "county": "Hartford", "owner": "X", "acres": 2.5,
         "recorded_at": datetime.datetime(2026, 1, 1)},
        {"parcel_id": "B-1", "county": "New Haven", "owner": "Y", "acres": 1.0,
         "recorded_at": datetime.datetime(2026, 1, 1)},
    ])

    with lambda_runtime("handlers.parcel_report", EXAMPLE_ROOT) as runtime:
        report = runtime.response({"constitution-state": state, "data": {"county": "Hartford"}})
        refused = runtime.response({"data": {}})

    assert report["success"] is True
    assert (report["data"]["state"], report["data"]["total_parcels"], report["data"]["total_acres"]) == (state, 1, 2.5)
    assert isinstance(report["data"]["generated_at"], str)  # the datetime serialized for the JSON answer
    assert (refused["success"], refused["error_type"]) == (False, "MissingStateError")
    assert mongo_client[REPORTS_DATABASE]["parcel_reports"].count_documents({"state": state}) == 1


# --- what the library sees of the context (tests/runtime_app) ---

def test_deadline_tenant_and_request_id_reach_the_lambda(mongo_client, make_state):
    state = make_state("ohio")
    with lambda_runtime("handlers.probe", RUNTIME_APP) as runtime:
        tight = runtime.invoke({"constitution-state": state, "data": {}}, tenant_id=state, deadline_in_ms=3_000)
        roomy = runtime.invoke({"constitution-state": state, "data": {}}, deadline_in_ms=600_000)

    seen, later = tight.payload["data"], roomy.payload["data"]
    assert tight.payload["success"] and roomy.payload["success"]
    assert 0 < seen["remaining_ms"] <= 3_000  # Lambda-Runtime-Deadline-Ms, as the library reads it
    assert 300_000 < later["remaining_ms"] <= 600_000
    assert (seen["tenant_id"], later["tenant_id"]) == (state, None)  # Lambda-Runtime-Aws-Tenant-Id
    assert (seen["request_id"], later["request_id"]) == (tight.request_id, roomy.request_id)
    assert (seen["function_arn"], seen["function_name"], seen["state"]) == (FUNCTION_ARN, "land-records", state)


def test_deadline_tenant_and_request_id_reach_an_api(mongo_client, make_state):
    state = make_state("ohio")
    with lambda_runtime("handlers.api", RUNTIME_APP) as runtime:
        invocation = runtime.invoke(v2_event("GET", "/probe", headers={"constitution-state": state}),
                                    tenant_id=state, deadline_in_ms=5_000)
        from_tenant = runtime.invoke(v2_event("GET", "/probe"), tenant_id=state)  # no header: the tenant id
        mismatch = runtime.invoke(v2_event("GET", "/probe", headers={"constitution-state": state}),
                                  tenant_id=make_state("texas"))
        failing = runtime.invoke(v1_event("POST", "/probe", headers={"constitution-state": state}, body={}))
        log = runtime.output()

    response = invocation.payload
    assert response["statusCode"] == 200, response
    seen = body(response)
    assert 0 < seen["remaining_ms"] <= 5_000
    assert (seen["tenant_id"], seen["request_id"], seen["state"]) == (state, invocation.request_id, state)
    # tenant isolation mode (SPEC §14): the tenant id is a state source, and a different one is refused
    assert body(from_tenant.payload)["state"] == state
    assert mismatch.payload["statusCode"] == 400 and "disagree" in body(mismatch.payload)["message"]
    # an error answers 500 with the Lambda request id (context.aws_request_id), the cause only in the log
    assert failing.outcome == "response" and failing.payload["statusCode"] == 500
    assert body(failing.payload)["request_id"] == failing.request_id
    assert failing.payload["headers"]["X-Request-Id"] == failing.request_id
    assert "quota" not in failing.payload["body"] and "disk quota of tenant-7 exceeded" in log
    assert any(line.startswith("[ERROR]\t") and f"\t{failing.request_id}\t" in line  # the runtime's log line
               for line in log.splitlines())


def test_a_handler_string_naming_nothing_is_an_init_error():
    with lambda_runtime("handlers.missing", EXAMPLE_ROOT, wait_workers=0) as runtime:
        error = runtime.api.init_errors.get(timeout=20)
        assert runtime.process.wait(20) == 1
    assert error["error_type"] == "Runtime.HandlerNotFound"
    assert "Handler 'missing' missing on module 'handlers'" in error["payload"]["errorMessage"]


# --- Lambda Managed Instances: AWS_LAMBDA_MAX_CONCURRENCY forks workers ---

WORKERS = 3


def run_concurrently(runtime, state: str) -> list[dict]:
    """One event per worker at once (each worker polls one at a time, so each takes one)."""
    invocations = [runtime.api.submit({"constitution-state": state, "data": {"hold_ms": 300}})
                   for _ in range(WORKERS)]
    answers = [runtime.api.wait(invocation).payload for invocation in invocations]
    assert all(answer["success"] for answer in answers), answers
    return [answer["data"] for answer in answers]


@pytest.mark.parametrize("preloaded", [False, True], ids=["imported-in-workers", "imported-before-fork"])
def test_each_forked_worker_gets_its_own_mongo_client(mongo_client, make_state, preloaded):
    """``imported-before-fork``: the handler module is imported and MongoDB used in the parent
    (as newer awslambdaric releases do before forking), so the workers inherit a connected client."""
    state = make_state("ohio")
    argv = [sys.executable, str(RUNTIME_APP / "preload.py"), "handlers.probe"] if preloaded else None

    with lambda_runtime("handlers.probe", RUNTIME_APP, argv=argv, wait_workers=WORKERS,
                        AWS_LAMBDA_MAX_CONCURRENCY=str(WORKERS)) as runtime:
        first = run_concurrently(runtime, state)
        second = run_concurrently(runtime, state)
        output = runtime.output()
        parent = runtime.process.pid
    assert group_gone(parent)  # no worker outlives the runtime

    pids = {seen["pid"] for seen in first}
    assert len(pids) == WORKERS and parent not in pids
    assert {seen["pid"] for seen in second} == pids
    for seen in first + second:
        assert seen["client_pid"] == seen["pid"]  # a client made in the worker, never the parent's
    if preloaded:
        assert {seen["parent_pid"] for seen in first} == {str(parent)}
    assert FORK_WARNING not in output
    assert sorted(seen["probes"] for seen in second) == [2] * WORKERS  # every worker wrote twice
    assert mongo_client[state]["probes"].count_documents({}) == 2 * WORKERS
