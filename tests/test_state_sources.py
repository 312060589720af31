"""State sources beyond constitution-state (SPEC §14, issue 14 §3 §4): Lambda's ``context.tenant_id``
and the async framework's ``session``, at every entry point, against SecantusDB and moto.

Payloads are shaped as they arrive: the ``session`` SNS attribute (base64 of
``{"state", "user"}``) through a real moto SNS -> SQS subscription with raw
delivery (an SQS attribute) and without (the SNS envelope), the Lambda event's
``session`` object, the Fargate ``SESSION`` variable (JSON), and a Lambda
context carrying ``tenant_id`` as awslambdaric builds it. Each entry class of
tests/reliability_app (``canary``) records the state it ran in and writes in
that state's database, so a refusal is checked twice: it did not run, and no
database appeared.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from aws_helper_sync import fargate_handler, lambda_handler
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.context.sources import (
    ConflictingStateSourcesError,
    MalformedSessionError,
    first_agreeing,
    session_attribute,
    session_env,
    session_event,
    session_message_attribute,
    session_state_from_base64,
    session_state_from_json,
    session_state_from_object,
    tenant_id,
)
from aws_helper_sync.context.state import InvalidStateError, set_allowed_states
from aws_helper_sync.sqs import records as rec
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
from aws_helper_sync.sqs.worker import SQSWorker
from tests.api_events import json_body, v1_event, v2_event
from tests.reliability_support import entry_classes, use_reliability_app
from tests.sqs_support import (
    create_queue,
    failed_ids,
    lambda_event,
    lambda_record,
    queue_depth,
    receive_all,
    subscribe_queue,
)

FORGED_USER = {"id": "root", "is_admin": True, "roles": ["admin"], "states": ["*"]}


def b64_session(session: Any) -> str:
    """What the async framework (0.33+) puts in the ``session`` attribute: base64 of the JSON."""
    text = session if isinstance(session, str) else json.dumps(session)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class TenantContext:
    """A Lambda context as awslambdaric builds it (``tenant_id`` from Lambda-Runtime-Aws-Tenant-Id)."""

    def __init__(self, tenant: Any) -> None:
        self.tenant_id = tenant
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "tests"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def canaries(monkeypatch):
    for _ in use_reliability_app(monkeypatch):
        yield entry_classes("canary")


@pytest.fixture
def databases(mongo_client):
    before = set(mongo_client.list_database_names())
    return lambda: set(mongo_client.list_database_names()) - before


# --- the shared rule and the session format (pure) ---


def test_first_found_wins_and_all_found_must_agree():
    assert first_agreeing([("a", None), ("b", None)]) is None
    assert first_agreeing([("a", None), ("b", "ohio"), ("c", "ohio")]) == ("b", "ohio")
    with pytest.raises(ConflictingStateSourcesError, match="b is 'ohio' but c is 'texas'"):
        first_agreeing([("a", None), ("b", "ohio"), ("c", "texas")])
    with pytest.raises(ConflictingStateSourcesError):  # compared as found: a blank is a difference
        first_agreeing([("a", "ohio"), ("b", "ohio ")])
    with pytest.raises(ConflictingStateSourcesError):  # an empty value is a claim too, not an absence
        first_agreeing([("a", ""), ("b", "ohio")])
    with pytest.raises(ConflictingStateSourcesError):
        first_agreeing([("a", 1), ("b", True)])  # 1 == True in Python: not the same state


def test_conflict_is_an_invalid_state_so_every_entry_point_refuses_it():
    assert issubclass(ConflictingStateSourcesError, InvalidStateError)
    assert issubclass(MalformedSessionError, InvalidStateError)


def test_session_reads_only_the_state():
    session = {"state": "ohio", "user": FORGED_USER, "extra": [1, 2]}
    assert session_state_from_base64(b64_session(session), "s") == "ohio"
    assert session_state_from_json(json.dumps(session), "s") == "ohio"
    assert session_state_from_object(session, "s") == "ohio"
    # a session without a state says nothing about the state; its user grants nothing
    assert session_state_from_base64(b64_session({"user": FORGED_USER}), "s") is None
    assert session_state_from_object({"state": None, "user": "x"}, "s") is None


@pytest.mark.parametrize(("value", "why"), [
    ("not base64!", "not base64"),
    ("b2hpbw", "not base64"),                                  # padding missing
    (b64_session("{\"state\": \"ohio\"}")[:-4] + "@@@@", "not base64"),
    (base64.b64encode(b"\xff\xfe").decode(), "not base64 of UTF-8"),
    (b64_session("not json"), "not valid JSON"),
    (b64_session("[\"ohio\"]"), "must be a JSON object"),
    (b64_session("\"ohio\""), "must be a JSON object"),
    (b64_session("{\"state\": 7}"), "must be a string"),
    (b64_session("{\"state\": [\"ohio\"]}"), "must be a string"),
    (b64_session("{\"state\": {\"$ne\": null}}"), "must be a string"),
    (b64_session("{\"state\": true}"), "must be a string"),
    (b64_session("{\"state\": \"ohio\", \"state\": \"admin\"}"), "given twice"),
    (b64_session("[" * 100_000 + "]" * 100_000), "not valid JSON"),
    (7, "must be a string"),
])
def test_malformed_base64_sessions_are_refused(value, why):
    with pytest.raises(MalformedSessionError, match=why):
        session_state_from_base64(value, "the session attribute")


@pytest.mark.parametrize("value", ["eyJzdGF0ZSI6Im9oaW8ifQ==", "{'state': 'ohio'}", "[]", "null", 5])
def test_malformed_session_json_is_refused(value):
    with pytest.raises(MalformedSessionError):
        session_state_from_json(value, "SESSION")


def test_encoders_write_the_state_only_and_round_trip():
    assert session_event("ohio") == {"state": "ohio"}
    assert json.loads(session_env("ohio")) == {"state": "ohio"}
    assert json.loads(base64.b64decode(session_attribute("ohio"))) == {"state": "ohio"}
    assert session_state_from_base64(session_attribute("ohio"), "s") == "ohio"
    assert session_state_from_json(session_env("ohio"), "s") == "ohio"
    assert session_message_attribute("ohio") == {"DataType": "String", "StringValue": session_attribute("ohio")}
    for encode in (session_event, session_env, session_attribute, session_message_attribute):
        with pytest.raises(InvalidStateError):
            encode("admin")


def test_tenant_id_as_awslambdaric_sets_it():
    from awslambdaric.lambda_context import LambdaContext

    isolated = LambdaContext("req-1", None, None, 0, tenant_id="ohio")
    plain = LambdaContext("req-2", None, None, 0)  # no Lambda-Runtime-Aws-Tenant-Id header
    assert tenant_id(isolated) == "ohio"
    assert tenant_id(plain) is None
    assert tenant_id(None) is None and tenant_id(object()) is None and tenant_id(TenantContext("")) is None
    assert tenant_id(TenantContext(7)) == 7  # returned as found: the entry point refuses it


# --- API: context.tenant_id ---


@pytest.mark.parametrize("build", [v1_event, v2_event], ids=["v1", "v2"])
def test_api_takes_the_tenant_id_when_the_header_is_missing(canaries, databases, make_state, build):
    state = make_state("ohio")
    response = api_handler(build("POST", "/canary", body={}), TenantContext(state))
    assert response["statusCode"] == 201, response
    assert canaries["api"].ran == [state]
    assert databases() == {state}


def test_api_header_equal_to_the_tenant_id_passes(canaries, make_state):
    state = make_state("ohio")
    event = v1_event("POST", "/canary", headers={"constitution-state": state}, body={})
    assert api_handler(event, TenantContext(state))["statusCode"] == 201
    assert canaries["api"].ran == [state]


def test_api_header_different_from_the_tenant_id_is_a_400_and_writes_nothing(canaries, databases, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")
    event = v1_event("POST", "/canary", headers={"Constitution-State": texas}, body={})
    response = api_handler(event, TenantContext(ohio))
    assert response["statusCode"] == 400
    message = json_body(response)["message"]
    assert "constitution-state header" in message and "context.tenant_id" in message
    assert canaries["api"].ran == [] and databases() == set()


@pytest.mark.parametrize("tenant", ["Tenant-123", "admin", "ohio\n", "a" * 64, 7, ["ohio"]])
def test_api_tenant_id_is_validated_like_any_state(canaries, databases, tenant):
    response = api_handler(v1_event("POST", "/canary", body={}), TenantContext(tenant))
    assert response["statusCode"] == 400, response
    assert canaries["api"].ran == [] and databases() == set()


def test_api_tenant_id_unknown_to_the_registry_is_a_403(canaries, databases, make_state):
    set_allowed_states([make_state("ohio")])
    response = api_handler(v1_event("POST", "/canary", body={}), TenantContext(make_state("texas")))
    assert response["statusCode"] == 403
    assert canaries["api"].ran == [] and databases() == set()


def test_api_without_tenant_isolation_still_requires_the_header(canaries):
    response = api_handler(v1_event("POST", "/canary", body={}), TenantContext(None))
    assert response["statusCode"] == 400
    assert "constitution-state header is required" in json_body(response)["message"]


# --- standalone Lambda: event session and context.tenant_id ---


def test_lambda_reads_the_event_session_and_ignores_its_user(canaries, databases, make_state):
    state = make_state("ohio")
    result = lambda_handler("canary")({"session": {"state": state, "user": FORGED_USER}, "data": {"n": 1}})
    assert result == {"success": True, "data": "written"}
    assert canaries["lambda"].ran == [state] and databases() == {state}


def test_lambda_session_without_a_state_grants_nothing(canaries, databases):
    result = lambda_handler("canary")({"session": {"user": FORGED_USER}})
    assert result["success"] is False and result["error_type"] == "MissingStateError"
    assert canaries["lambda"].ran == [] and databases() == set()


def test_lambda_tenant_id_is_the_state_when_the_event_has_none(canaries, make_state):
    state = make_state("ohio")
    assert lambda_handler("canary")({"data": {}}, TenantContext(state))["success"] is True
    assert canaries["lambda"].ran == [state]


def test_lambda_all_three_sources_agreeing_pass(canaries, make_state):
    state = make_state("ohio")
    event = {"constitution-state": state, "session": {"state": state}}
    assert lambda_handler("canary")(event, TenantContext(state))["success"] is True
    assert canaries["lambda"].ran == [state]


@pytest.mark.parametrize(("event", "tenant", "named"), [
    ({"constitution-state": "{a}", "session": {"state": "{b}"}}, None,
     ("constitution-state in the event", "session.state in the event")),
    ({"constitution-state": "{a}"}, "{b}", ("constitution-state in the event", "context.tenant_id")),
    ({"session": {"state": "{a}", "user": FORGED_USER}}, "{b}", ("session.state in the event", "context.tenant_id")),
    ({"constitution-state": "{a}", "session": {"state": "{a}"}}, "{b}", ("constitution-state", "context.tenant_id")),
    ({"constitution-state": "", "session": {"state": "{a}"}}, None, ("constitution-state", "session")),
])
def test_lambda_sources_that_disagree_fail_and_write_nothing(canaries, databases, make_state, event, tenant, named):
    a, b = make_state("ohio"), make_state("texas")
    event = json.loads(json.dumps(event).replace("{a}", a).replace("{b}", b))
    context = None if tenant is None else TenantContext(tenant.replace("{b}", b))
    result = lambda_handler("canary")(event, context)
    assert result["success"] is False and result["error_type"] == "ConflictingStateSourcesError"
    assert all(name in result["error"] for name in named), result["error"]
    assert canaries["lambda"].ran == [] and databases() == set()


@pytest.mark.parametrize("session", ["eyJzdGF0ZSI6ICJvaGlvIn0=", ["ohio"], 7, {"state": 7},
                                     {"state": {"$ne": None}}, {"state": ["{a}"]}])
def test_lambda_malformed_session_fails_even_next_to_a_valid_state(canaries, databases, make_state, session):
    a = make_state("ohio")
    event = {"constitution-state": a, "session": json.loads(json.dumps(session).replace("{a}", a))}
    result = lambda_handler("canary")(event)
    assert result["success"] is False and result["error_type"] == "MalformedSessionError", result
    assert "session in the event" in result["error"]
    assert canaries["lambda"].ran == [] and databases() == set()


@pytest.mark.parametrize("state", ["admin", "Ohio", "ohio\n", ""])
def test_lambda_session_state_is_validated(canaries, databases, state):
    result = lambda_handler("canary")({"session": {"state": state}})
    assert result["success"] is False and result["error_type"] in ("InvalidStateError", "MissingStateError")
    assert canaries["lambda"].ran == [] and databases() == set()


# --- SQS: the session attribute, raw and envelope delivery through moto; tenant per invocation ---


def session_record(body: Any, session_value: Any, *, name: str = "session", state: str | None = None,
                   data_type: str = "String") -> dict[str, Any]:
    record = lambda_record(body, state=state)
    attribute = {"stringListValues": [], "binaryListValues": [], "dataType": data_type}
    attribute["binaryValue" if data_type == "Binary" else "stringValue"] = session_value
    record["messageAttributes"][name] = attribute
    return record


@pytest.fixture
def topic_queues(boto_client, unique):
    """A topic with two subscribed queues: raw delivery and the SNS envelope."""
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-sessions")["TopicArn"]
    queues = {}
    for raw in (True, False):
        url = create_queue(sqs, f"{unique}-{'raw' if raw else 'envelope'}")
        subscribe_queue(sns, sqs, topic, url, raw=raw)
        queues["raw" if raw else "envelope"] = url
    return sns, sqs, topic, queues


def publish(sns, topic: str, body: dict[str, Any], **attributes: str) -> None:
    sns.publish(TopicArn=topic, Message=json.dumps(body), MessageAttributes={
        name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()})


def test_sqs_session_through_a_real_sns_subscription_raw_and_envelope(canaries, databases, topic_queues, make_state):
    """Both deliveries of one publish: the state from the session, the forged user ignored, written once per queue."""
    sns, sqs, topic, queues = topic_queues
    state = make_state("ohio")
    publish(sns, topic, {"n": 1}, session=b64_session({"state": state, "user": FORGED_USER}))

    raw_message = receive_all(sqs, queues["raw"])[0]
    envelope_message = receive_all(sqs, queues["envelope"])[0]
    assert raw_message["MessageAttributes"]["session"]["DataType"] == "String"
    assert "session" in json.loads(envelope_message["Body"])["MessageAttributes"]
    assert rec.find_state(raw_message) == ("message attribute 'session' (state)", state)
    assert rec.find_state(envelope_message) == ("SNS envelope MessageAttributes 'session' (state)", state)

    records = [rec.record_from_message(m, "arn:aws:sqs:us-east-2:123456789012:q", "us-east-2")
               for m in (raw_message, envelope_message)]
    for consumer in ("canary", "canary_batch"):
        assert sqs_handler(consumer)(lambda_event(*records))["batchItemFailures"] == []
    assert canaries["sqs"].ran == [state, state] and canaries["sqs-batch"].ran == [state]
    assert databases() == {state}


@pytest.mark.parametrize("queue", ["raw", "envelope"])
def test_sqs_worker_refuses_disagreeing_and_malformed_sessions_from_sns(canaries, databases, topic_queues,
                                                                         make_state, queue):
    """Published with a constitution-state AND a session: agreeing passes, anything else is left on the queue."""
    sns, sqs, topic, queues = topic_queues
    ohio, texas = make_state("ohio"), make_state("texas")
    publish(sns, topic, {"case": "agree"}, **{"constitution-state": ohio, "session": b64_session({"state": ohio})})
    publish(sns, topic, {"case": "disagree"}, **{"constitution-state": ohio,
                                                 "session": b64_session({"state": texas, "user": FORGED_USER})})
    publish(sns, topic, {"case": "not base64"}, **{"constitution-state": ohio, "session": "{\"state\": \"ohio\"}"})
    publish(sns, topic, {"case": "state not a string"}, **{"constitution-state": ohio,
                                                            "session": b64_session({"state": 7})})

    worker = SQSWorker("canary", queues[queue], wait_time_seconds=0, visibility_timeout=30, handle_signals=False,
                       retry_delay=None)  # refused messages stay invisible, so the loop ends
    while worker.poll_once():
        pass

    assert (worker.stats.received, worker.stats.deleted, worker.stats.failed) == (4, 1, 3)
    assert sum(queue_depth(sqs, queues[queue])) == 3  # the refused ones stay, to be redelivered or dead-lettered
    assert canaries["sqs"].ran == [ohio]
    assert databases() == {ohio}


def test_sqs_disagreeing_session_names_both_sources(canaries):
    record = session_record({"n": 1}, b64_session({"state": "texas"}), state="ohio")
    result = load_consumer_class("canary")().run_records([record])
    reason = result.failures[record["messageId"]]
    assert "message attribute 'constitution-state'" in reason and "message attribute 'session'" in reason
    assert canaries["sqs"].ran == []


def test_sqs_binary_session_attribute_is_refused(canaries, databases, make_state):
    """Binary is not guessed at (its bytes could be the JSON or the base64): the record fails, clearly."""
    state = make_state("ohio")
    as_json = base64.b64encode(json.dumps({"state": state}).encode()).decode()
    as_base64_text = base64.b64encode(b64_session({"state": state}).encode()).decode()
    records = [session_record({"n": n}, value, data_type="Binary") for n, value in enumerate((as_json, as_base64_text))]
    boto_shape = lambda_record({"n": 3})
    boto_shape["messageAttributes"] = {"session": {"DataType": "Binary", "BinaryValue": b"{}"}}
    result = load_consumer_class("canary")().run_records([*records, boto_shape])
    assert set(result.failures) == {r["messageId"] for r in (*records, boto_shape)}
    assert all("Binary" in reason for reason in result.failures.values())
    assert canaries["sqs"].ran == [] and databases() == set()


def test_sqs_session_spellings_must_agree(canaries, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")
    agree = session_record({"n": 1}, b64_session({"state": ohio}))
    agree["messageAttributes"]["Session"] = dict(agree["messageAttributes"]["session"])
    disagree = session_record({"n": 2}, b64_session({"state": ohio}))
    disagree["messageAttributes"]["SESSION"] = {"stringValue": b64_session({"state": texas}), "dataType": "String"}
    response = sqs_handler("canary")(lambda_event(agree, disagree))
    assert failed_ids(response) == {disagree["messageId"]}
    assert canaries["sqs"].ran == [ohio]


@pytest.mark.parametrize("consumer", ["canary", "canary_batch"])
def test_sqs_tenant_id_applies_to_every_record_of_the_invocation(canaries, databases, make_state, consumer):
    ohio, texas = make_state("ohio"), make_state("texas")
    stateless = lambda_record({"n": 1})
    same = lambda_record({"n": 2}, state=ohio)
    same_session = session_record({"n": 3}, b64_session({"state": ohio, "user": FORGED_USER}))
    other = lambda_record({"n": 4}, state=texas)
    other_body = lambda_record({"n": 5, "constitution_state": texas})
    other_session = session_record({"n": 6}, b64_session({"state": texas}))

    response = sqs_handler(consumer)(
        lambda_event(stateless, same, same_session, other, other_body, other_session), TenantContext(ohio))

    assert failed_ids(response) == {other["messageId"], other_body["messageId"], other_session["messageId"]}
    ran = canaries["sqs"].ran if consumer == "canary" else canaries["sqs-batch"].ran
    assert set(ran) == {ohio}
    assert databases() == {ohio}


def test_sqs_invalid_tenant_id_fails_every_record(canaries, databases):
    records = [lambda_record({"n": 1}), lambda_record({"n": 2}, state="admin")]
    response = sqs_handler("canary")(lambda_event(*records), TenantContext("Tenant-42"))
    assert failed_ids(response) == {r["messageId"] for r in records}
    assert canaries["sqs"].ran == [] and databases() == set()


def test_sqs_consumer_overriding_extract_state_still_meets_the_tenant(canaries, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")

    class Custom(canaries["sqs"]):
        def extract_state(self, record):
            return json.loads(record["body"])["where"]

    records = [lambda_record({"where": ohio}), lambda_record({"where": texas})]
    result = Custom().run_records(records, TenantContext(ohio))
    assert list(result.failures) == [records[1]["messageId"]]
    assert "Custom.extract_state()" in result.failures[records[1]["messageId"]]


# --- Fargate: the SESSION variable ---


@pytest.fixture
def canary_task(canaries, monkeypatch):
    monkeypatch.setenv("TASK_NAME", "canary")
    for name in ("CONSTITUTION_STATE", "SESSION"):
        monkeypatch.delenv(name, raising=False)
    return canaries["fargate"]


def test_fargate_reads_the_session_variable_and_ignores_its_user(canary_task, databases, make_state, monkeypatch):
    state = make_state("ohio")
    monkeypatch.setenv("SESSION", json.dumps({"state": state, "user": FORGED_USER}))
    assert fargate_handler() == 0
    assert canary_task.ran == [state] and databases() == {state}


def test_fargate_session_agreeing_with_constitution_state_passes(canary_task, make_state, monkeypatch):
    state = make_state("ohio")
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    monkeypatch.setenv("SESSION", json.dumps({"state": state}))
    assert fargate_handler() == 0
    assert canary_task.ran == [state]


@pytest.mark.parametrize("session", [
    '{"state": "{b}"}',                      # disagrees
    '{"state": "{b}", "user": "root"}',
    "eyJzdGF0ZSI6ICJvaGlvIn0=",              # base64: that is the SNS form, not the variable's
    "not json", "[]", '{"state": 7}', '{"state": "{a}", "state": "{b}"}',
])
def test_fargate_session_disagreeing_or_malformed_exits_1(canary_task, databases, make_state, monkeypatch, session):
    a, b = make_state("ohio"), make_state("texas")
    monkeypatch.setenv("CONSTITUTION_STATE", a)
    monkeypatch.setenv("SESSION", session.replace("{a}", a).replace("{b}", b))
    assert fargate_handler() == 1
    assert canary_task.ran == [] and databases() == set()


def test_fargate_explicit_envs_conflict_names_both_variables(canary_task, make_state):
    task = canary_task(envs={"CONSTITUTION_STATE": make_state("ohio"),
                             "session": json.dumps({"state": make_state("texas")})})
    with pytest.raises(ConflictingStateSourcesError, match="CONSTITUTION_STATE .* but SESSION state"):
        task.run()
    assert canary_task.ran == []


# --- SQS records: where the state was found ---


def _envelope(message: Any, **attributes: dict[str, str]) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:us-east-2:123456789012:t",
            "Message": json.dumps(message), "MessageAttributes": attributes}


def test_record_sources_are_named_where_they_were_found():
    assert rec.find_state(lambda_record({"n": 1}, state="iowa")) == ("message attribute 'constitution-state'", "iowa")
    assert rec.find_state(lambda_record({"constitution_state": "iowa"})) == ("body constitution_state", "iowa")
    assert rec.find_state(lambda_record({"content": {"constitution_state": "iowa"}})) == \
        ("body content.constitution_state", "iowa")
    envelope = _envelope({"n": 1}, **{"constitution-state": {"Type": "String", "Value": "iowa"}})
    assert rec.find_state(lambda_record(envelope)) == ("SNS envelope MessageAttributes 'constitution-state'", "iowa")
    boto = {"MessageId": "m", "Body": "{}", "MessageAttributes": {
        "session": {"DataType": "String", "StringValue": b64_session({"state": "iowa"})}}}
    assert rec.find_state(boto) == ("message attribute 'session' (state)", "iowa")
    assert rec.find_state(lambda_record({"n": 1})) is None


def test_constitution_state_precedence_is_kept_and_the_session_must_agree_with_the_winner():
    body = {"constitution_state": "texas"}  # SPEC §7: the attribute wins over the body, as before
    assert rec.extract_state(lambda_record(body, state="iowa")) == "iowa"
    agree = session_record(body, b64_session({"state": "iowa"}), state="iowa")
    assert rec.extract_state(agree) == "iowa"
    with pytest.raises(ConflictingStateSourcesError, match="'iowa' but message attribute 'session'"):
        rec.extract_state(session_record(body, b64_session({"state": "texas"}), state="iowa"))


def test_envelope_session_must_agree_with_the_envelope_state():
    good = _envelope({"n": 1}, **{"constitution-state": {"Type": "String", "Value": "iowa"},
                                   "session": {"Type": "String", "Value": b64_session({"state": "iowa"})}})
    assert rec.extract_state(lambda_record(good)) == "iowa"
    bad = _envelope({"n": 1}, **{"constitution-state": {"Type": "String", "Value": "iowa"},
                                  "session": {"Type": "String", "Value": b64_session({"state": "ohio"})}})
    with pytest.raises(ConflictingStateSourcesError):
        rec.extract_state(lambda_record(bad))
    binary = _envelope({"n": 1}, session={"Type": "Binary", "Value": b64_session({"state": "iowa"})})
    with pytest.raises(MalformedSessionError, match="Binary"):
        rec.extract_state(lambda_record(binary))
