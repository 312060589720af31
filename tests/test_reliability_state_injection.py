"""No request reaches a database it does not belong to: bad states are refused at every door.

Every value below is sent through each entry point that reads a
constitution-state: the API header (REST and HTTP API events), the Lambda
event, the SQS message attribute (Lambda and boto3 shapes), the SNS envelope
(hand-built and delivered by moto), the Fargate task's CONSTITUTION_STATE
(environment, explicit envs, and the launcher's overrides), and the WSGI
middleware's header; then the other state sources (issue 14): Lambda's
``context.tenant_id`` (API, Lambda, SQS) and the async framework's ``session``
(Lambda event, SQS/SNS attribute, Fargate SESSION), malformed, invalid, or
disagreeing with a valid constitution-state. Each entry class
(``canary`` in tests/reliability_app) records that it ran and writes in the
state's database, so a refusal is checked twice: the class never ran, and
``list_database_names()`` gained nothing.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest

from aws_helper_sync import (
    FargateExecutor,
    fargate_handler,
    lambda_handler,
)
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.context.state import InvalidStateError
from aws_helper_sync.sqs.handler import sqs_handler
from aws_helper_sync.sqs.worker import SQSWorker
from tests.api_events import json_body, v1_event, v2_event
from tests.reliability_support import entry_classes, report, use_reliability_app
from tests.sqs_support import (
    create_queue,
    failed_ids,
    lambda_event,
    lambda_record,
    queue_depth,
    subscribe_queue,
)

INVALID = ["admin", "local", "config", "Connecticut", "new jersey", "a.b", "../x", "$where", "",
           "a" * 64, "a" * 200, "méxico", "ñandú"]
LOOK_ALIKES = [
    "\u0430dmin",        # Cyrillic a
    "adm\u0456n",        # Cyrillic i
    "\uff41\uff44\uff4d\uff49\uff4e",  # fullwidth admin
    "\u217cocal",        # small roman numeral fifty (NFKC: l)
    "con\ufb01g",        # fi ligature (NFKC: fi)
    "\u1d00dmin",        # small capital A
    "admin\u200b",       # zero-width space
    "ad\u00admin",       # soft hyphen
    "\u212aansas",       # Kelvin sign (lowercases to k)
]
CASE_VARIANTS = ["Admin", "ADMIN", "aDmIn", "Local", "LOCAL", "Config", "CONFIG"]
PADDED = [" admin", "admin ", "admin\n", "\tlocal", "ohio\n", " ohio", "ohio\r\n", "admin\x00", "ohio\x00"]
OTHER = ["admin.system", "local.oplog", "config/x", "ad$min", "1ohio", "_ohio", "ohio-west", "o hio"]
VALUES = INVALID + LOOK_ALIKES + CASE_VARIANTS + PADDED + OTHER
RESERVED = ("admin", "local", "config")


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


class DatabaseWatch:
    """``list_database_names()`` before the test, compared with after it by ``assert_untouched()``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.before = set(client.list_database_names())

    def assert_untouched(self) -> None:
        created = set(self.client.list_database_names()) - self.before
        assert created == set(), f"databases created by refused requests: {created}"
        for name in RESERVED:
            assert self.client[name].injection_canary.count_documents({}) == 0, name


@pytest.fixture
def databases(mongo_client):
    return DatabaseWatch(mongo_client)


@pytest.fixture
def canaries(reliability_app):
    """The canary class of every entry point, their ``ran`` lists emptied."""
    return entry_classes("canary")


def shown(value: str) -> str:
    return repr(value if len(value) <= 20 else value[:17] + "...")


def test_state_values_are_all_invalid():
    from aws_helper_sync.context.state import InvalidStateError, validate_state

    for value in VALUES:
        with pytest.raises(InvalidStateError):
            validate_state(value)


@pytest.mark.parametrize("build", [v1_event, v2_event], ids=["v1", "v2"])
def test_api_header(canaries, databases, build):
    statuses = {}
    for value in VALUES:
        for name in ("constitution-state", "Constitution-State"):
            response = api_handler(build("POST", "/canary", headers={name: value}, body={}))
            statuses[(value, name)] = response["statusCode"]
            assert response["statusCode"] == 400, (value, response)
            assert "constitution-state" in json_body(response)["message"]

    report("state-injection", f"API header ({build.__name__})", values=len(VALUES),
           requests=len(statuses), refused_400=sum(1 for s in statuses.values() if s == 400))
    assert canaries["api"].ran == []
    databases.assert_untouched()


def test_lambda_event(canaries, databases):
    handler = lambda_handler("canary")
    results = []
    for value in VALUES:
        for key in ("constitution-state", "constitution_state"):
            result = handler({key: value, "data": {"parcel_id": 1}})
            results.append(result)
            assert result["success"] is False, (value, result)
            assert result["error_type"] in ("InvalidStateError", "MissingStateError")
            assert "constitution-state" in result["error"]

    report("state-injection", "Lambda event", values=len(VALUES), invocations=len(results),
           refused=sum(1 for r in results if not r["success"]))
    assert canaries["lambda"].ran == []
    databases.assert_untouched()


def sqs_records(value: str) -> list[tuple[str, dict[str, Any]]]:
    """The record shapes that carry ``value`` as the state, each paired with a label."""
    valid_body = {"n": 1, "constitution_state": "ohio"}  # a valid fallback that must NOT be used
    envelope = {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(valid_body),
                "MessageAttributes": {"constitution-state": {"Type": "String", "Value": value}}}
    lambda_shape = lambda_record(valid_body, state=value)
    boto_shape = lambda_record(valid_body)
    boto_shape["messageAttributes"] = {"constitution-state": {"StringValue": value, "DataType": "String"}}
    return [
        ("SQS attribute", lambda_shape),
        ("SQS attribute (boto3 shape)", boto_shape),
        ("SNS envelope", lambda_record(envelope)),
        ("body constitution_state", lambda_record({"n": 1, "constitution_state": value})),
        ("body content.constitution_state", lambda_record({"content": {"constitution_state": value}})),
    ]


@pytest.mark.parametrize("consumer", ["canary", "canary_batch"])
def test_sqs_attribute_sns_envelope_and_body(canaries, databases, consumer):
    handler = sqs_handler(consumer)
    refused: dict[str, int] = {}
    for value in VALUES:
        labelled = sqs_records(value)
        response = handler(lambda_event(*(record for _, record in labelled)))
        assert failed_ids(response) == {record["messageId"] for _, record in labelled}, value
        for label, _ in labelled:
            refused[label] = refused.get(label, 0) + 1

    report("state-injection", f"SQS records, {consumer} consumer", values=len(VALUES),
           **{f"refused via {label}": count for label, count in refused.items()})
    assert canaries["sqs"].ran == [] and canaries["sqs-batch"].ran == []
    databases.assert_untouched()


def test_sns_envelope_and_raw_delivery_through_moto(canaries, databases, boto_client, unique):
    """Published with the bad attribute, delivered by moto, refused by the worker, never deleted."""
    from botocore.exceptions import ClientError

    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-injection")["TopicArn"]
    queues = {raw: create_queue(sqs, f"{unique}-injection-{'raw' if raw else 'envelope'}") for raw in (False, True)}
    for raw, url in queues.items():
        subscribe_queue(sns, sqs, topic, url, raw=raw)
    published, refused_by_sns = 0, []
    for value in VALUES:
        try:
            sns.publish(TopicArn=topic, Message=json.dumps({"n": 1}), MessageAttributes={
                "constitution-state": {"DataType": "String", "StringValue": value}})
            published += 1
        except ClientError:
            refused_by_sns.append(value)

    stats = {}
    for raw, url in queues.items():
        # retry_delay=None: refused messages keep their 30 s, so the loop ends when all were seen once
        worker = SQSWorker("canary", url, wait_time_seconds=0, visibility_timeout=30, handle_signals=False,
                           retry_delay=None)
        while worker.poll_once():
            pass
        stats[raw] = worker.stats
        assert (worker.stats.received, worker.stats.failed, worker.stats.deleted) == (published, published, 0)
        assert sum(queue_depth(sqs, url)) == published  # all still there, none acknowledged

    report("state-injection", "SNS -> SQS (envelope and raw) -> SQSWorker, through moto",
           values=len(VALUES), published=published, refused_by_sns_itself=len(refused_by_sns),
           received_per_queue=published, failed_per_queue=published, deleted=0)
    assert refused_by_sns == [""]  # SNS itself refuses an empty attribute value
    assert canaries["sqs"].ran == []
    databases.assert_untouched()


def test_fargate_environment_variable(canaries, databases, monkeypatch):
    monkeypatch.setenv("TASK_NAME", "canary")
    codes = {}
    for value in VALUES:
        if "\x00" in value:
            continue  # an environment variable cannot hold NUL; the explicit-envs test covers it
        monkeypatch.setenv("CONSTITUTION_STATE", value)
        codes[value] = fargate_handler()
        assert codes[value] == 1, shown(value)

    report("state-injection", "Fargate CONSTITUTION_STATE environment variable (fargate_handler)",
           values=len(codes), exit_code_1=sum(1 for c in codes.values() if c == 1))
    assert canaries["fargate"].ran == []
    databases.assert_untouched()


def test_fargate_explicit_envs_and_launch_overrides(canaries, databases):
    from aws_helper_sync.context.state import InvalidStateError

    executor = FargateExecutor(cluster="reliability", subnets=["subnet-1"], region="us-east-2")
    for value in VALUES:
        for key in ("CONSTITUTION_STATE", "constitution_state"):
            with pytest.raises(InvalidStateError):
                canaries["fargate"](envs={key: value}).run()
            with pytest.raises(InvalidStateError):  # refused before any call to ECS
                executor.build_overrides("canary", {key: value})

    report("state-injection", "FargateTask(envs=...) and FargateExecutor overrides",
           values=len(VALUES), refused_task_runs=2 * len(VALUES), refused_launches=2 * len(VALUES))
    assert canaries["fargate"].ran == []
    databases.assert_untouched()


def test_wsgi_middleware_header(databases, make_state):
    """The same header in front of any WSGI app (legacy Flask services and others)."""
    from aws_helper_sync import get_state
    from aws_helper_sync.database import MongoManager
    from aws_helper_sync.integrations.wsgi import StateMiddleware

    ran = []

    def app(environ, start_response):
        ran.append(get_state())
        MongoManager.get_database(get_state()).injection_canary.insert_one({"entry": "wsgi"})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"written"]

    middleware = StateMiddleware(app)
    statuses = []
    for value in [*VALUES, make_state("ohio")]:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/canary", "HTTP_CONSTITUTION_STATE": value,
                   "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "test", "SERVER_PORT": "80"}
        b"".join(middleware(environ, lambda status, headers, exc_info=None: statuses.append(status)))

    report("state-injection", "WSGI StateMiddleware header", values=len(VALUES),
           refused_400=sum(1 for status in statuses[:-1] if status.startswith("400")))
    assert len(statuses) == len(VALUES) + 1
    assert all(status.startswith("400") for status in statuses[:-1])
    assert statuses[-1].startswith("200") and ran == [make_state("ohio")]  # the control got in
    databases.client.drop_database(make_state("ohio"))
    databases.assert_untouched()


def test_canaries_do_run_with_a_valid_state(canaries, mongo_client, make_state, monkeypatch):
    """The control: the same doors let a valid state in, and the canaries notice."""
    state = make_state("ohio")
    assert api_handler(v1_event("POST", "/canary", headers={"Constitution-State": state}, body={}))["statusCode"] == 201
    assert lambda_handler("canary")({"constitution-state": state})["success"] is True
    assert sqs_handler("canary")(lambda_event(lambda_record({"n": 1}, state=state)))["batchItemFailures"] == []
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    assert fargate_handler("canary") == 0

    assert canaries["api"].ran == canaries["lambda"].ran == canaries["sqs"].ran == canaries["fargate"].ran == [state]
    assert mongo_client[state].injection_canary.count_documents({}) == 4


# --- the state registry (issue 11 §1): well-formed is not enough, the state must be known ---

@pytest.fixture
def registry(mongo_client, unique, monkeypatch):
    from tests.registry_support import use_registry

    yield from use_registry(unique, monkeypatch)


@pytest.fixture
def registered(reliability_app):
    """The ``registered`` entry classes (they write through a Repository with indexes)."""
    return entry_classes("registered")


def test_registry_unknown_states_through_every_entry_point(registry, registered, monkeypatch, unique):
    """200 well-formed states the registry does not know (or marks inactive), through 6 doors."""
    from concurrent.futures import ThreadPoolExecutor

    from aws_helper_sync import reload_state_registry
    from aws_helper_sync.integrations.wsgi import StateMiddleware

    unknown = [f"{unique}_u{n}" for n in range(200 - len(registry.inactive))] + registry.inactive
    before = registry.databases()
    refused: dict[str, int] = {}

    def count(door: str, ok: bool) -> None:
        assert ok, door
        refused[door] = refused.get(door, 0) + 1

    def api(n_state: tuple[int, str]) -> int:
        n, state = n_state
        build = v1_event if n % 2 else v2_event
        return api_handler(build("POST", "/registered", headers={"constitution-state": state}, body={}))["statusCode"]

    with ThreadPoolExecutor(8) as pool:  # concurrently: the registry is loaded once, not once per thread
        for status in pool.map(api, enumerate(unknown)):
            count("API (v1 and v2, 8 threads) -> 403", status == 403)
    handler = lambda_handler("registered")
    for state in unknown:
        result = handler({"constitution-state": state})
        count("Lambda -> success false, UnknownStateError", result["error_type"] == "UnknownStateError")
    for consumer in ("registered", "registered_batch"):
        records = [lambda_record({"n": n}, state=state) for n, state in enumerate(unknown)]
        failed = failed_ids(sqs_handler(consumer)(lambda_event(*records)))
        for record in records:
            count(f"SQS {consumer} -> record failed", record["messageId"] in failed)
    monkeypatch.setenv("TASK_NAME", "registered")
    for state in unknown:
        monkeypatch.setenv("CONSTITUTION_STATE", state)
        count("Fargate -> exit 1", fargate_handler() == 1)
    statuses: list[str] = []
    middleware = StateMiddleware(lambda environ, start: pytest.fail("the app ran"))
    for state in unknown:
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/registered", "HTTP_CONSTITUTION_STATE": state,
                   "wsgi.input": io.BytesIO(b""), "SERVER_NAME": "test", "SERVER_PORT": "80"}
        b"".join(middleware(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        count("WSGI middleware -> 403", statuses[-1].startswith("403"))
    created = registry.databases() - before
    queries_first = registry.queries()

    rounds = 5  # each refresh is one query, whatever the number of states checked in between
    for round_number in range(rounds):
        reload_state_registry()
        for state in unknown[:40]:
            assert handler({"constitution-state": state})["success"] is False
    report("state-injection", "State registry: unknown states through every entry point",
           unknown_states=len(unknown), entry_points=6, **refused,
           databases_created=len(created), entry_classes_run=sum(len(c.ran) for c in registered.values()),
           registry_queries_for_all_of_the_above=queries_first,
           refreshes_then=rounds, registry_queries_per_refresh=(registry.queries() - queries_first) / rounds)
    assert created == set()
    assert all(cls.ran == [] for cls in registered.values())
    assert queries_first == 1
    assert registry.queries() - queries_first == rounds


def test_registry_unreachable_fails_closed(registered, mongo_client, monkeypatch, unique):
    """The registry's server gone: every door refuses, nothing runs, nothing is acknowledged."""
    import os

    from aws_helper_sync.context.registry import (
        RETRY_AFTER_FAILURE_SECONDS,
        mongo_registry,
    )
    from aws_helper_sync.database import MongoManager
    from tests.reliability_support import free_port

    monkeypatch.setenv("STATES_COLLECTION", f"{unique}_core.states")
    monkeypatch.setenv("TASK_NAME", "registered")
    MongoManager.close()
    MongoManager.initialize(f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=150")
    outcomes: dict[str, list] = {"API 503": [], "Lambda success false": [], "SQS records failed": [],
                                 "Fargate exit 1": []}
    try:
        for n in range(3):
            state = f"ohio{n}"
            response = api_handler(v1_event("POST", "/registered", headers={"constitution-state": state}, body={}))
            outcomes["API 503"].append(response["statusCode"] == 503)
            outcomes["Lambda success false"].append(
                lambda_handler("registered")({"constitution-state": state})["success"] is False)
            records = [lambda_record({}, state=state), lambda_record({}, state=state)]
            failed = failed_ids(sqs_handler("registered_batch")(lambda_event(*records)))
            outcomes["SQS records failed"].extend(r["messageId"] in failed for r in records)
            monkeypatch.setenv("CONSTITUTION_STATE", state)
            outcomes["Fargate exit 1"].append(fargate_handler() == 1)
        reads = mongo_registry().queries
    finally:
        MongoManager.close()
        MongoManager.initialize(os.environ["MONGODB_URI"])
    report("state-injection", "State registry unreachable (fail closed)",
           **{door: f"{sum(v)} of {len(v)}" for door, v in outcomes.items()},
           entry_classes_run=sum(len(c.ran) for c in registered.values()),
           registry_reads_attempted=reads, refused_at_once_after_a_failure=f"for {RETRY_AFTER_FAILURE_SECONDS} s")
    assert 1 <= reads <= 12
    assert all(all(v) for v in outcomes.values()), outcomes
    assert all(cls.ran == [] for cls in registered.values())


# --- forged responses (issue 11 §5): request text put into a response header ---

FORGED_VALUES = [
    "x\r\nSet-Cookie: session=forged", "x\nSet-Cookie: session=forged", "x\rSet-Cookie: session=forged",
    "x\r\n\r\n<script>forged</script>", "x\x00forged", "\r\nLocation: https://forged.example",
    "x\r\n Set-Cookie: session=forged",  # obs-fold
]
FORGED_NAMES = ["X-A\r\nSet-Cookie: session=forged", "Set-Cookie: session=forged; X", "X forged",
                "X-A\nforged", "X-A\x00forged", ""]
FORGED_PAIRS = [("X-Reflect", v) for v in FORGED_VALUES] + [(n, "1") for n in FORGED_NAMES]


@pytest.mark.parametrize("build", [v1_event, v2_event], ids=["v1", "v2"])
def test_forged_response_headers_are_refused(reliability_app, build, make_state, caplog):
    state = make_state("ohio")
    statuses = []
    for name, value in FORGED_PAIRS:
        for via in ("set_header", "set_headers", "returned"):
            response = api_handler(build("GET", "/reflect", headers={"constitution-state": state},
                                         query={"name": name, "value": value, "via": via}))
            statuses.append(response["statusCode"])
            assert response["statusCode"] == 500, (name, value, via, response)
            assert "forged" not in repr(response), (name, value, via)
    control = api_handler(build("GET", "/reflect", headers={"constitution-state": state},
                                query={"value": "plain text"}))
    assert (control["statusCode"], control["headers"]["X-Reflect"]) == (200, "plain text")

    report("state-injection", f"forged response headers through api_handler ({build.__name__})",
           requests=len(statuses), refused_500=statuses.count(500), forged_headers_sent=0)


def test_forged_response_headers_and_framing_over_the_local_server(reliability_app, make_state):
    import socket
    import urllib.parse

    from aws_helper_sync.api.local_server import serve_api

    def exchange(port: int, data: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while part := sock.recv(65536):
                received += part
            return received

    state = make_state("ohio")
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    framings = [b"Transfer-Encoding: chunked\r\n\r\n" + size + b"\r\n{}\r\n0\r\n\r\n"
                for size in (b"-1", b"-0", b"0x2", b"+2", b"2_", b"", b"zz")]
    framings += [b"Content-Length: " + n + b"\r\n\r\n{}" for n in (b"-2", b"+2", b"0x2", b"2, 3")]
    framings += [b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}"]
    with serve_api(reliability_app, port=0).start() as server:
        header_statuses = []
        for name, value in FORGED_PAIRS:
            query = urllib.parse.urlencode({"name": name, "value": value})
            raw = exchange(server.port, f"GET /reflect?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        f"constitution-state: {state}\r\n\r\n".encode())
            header_statuses.append(int(raw.split(b" ", 2)[1]))
            assert b"forged" not in raw, (name, value)
        framing_statuses = [int(exchange(server.port, head + f).split(b" ", 2)[1]) for f in framings]
    assert header_statuses == [500] * len(FORGED_PAIRS)
    assert framing_statuses == [400] * len(framings)

    report("state-injection", "forged headers and ambiguous body framing over the local server",
           forged_header_requests=len(header_statuses), refused_500=header_statuses.count(500),
           framings=len(framings), refused_400=framing_statuses.count(400), forged_headers_sent=0)


# --- issue 14 §3 §4: Lambda's context.tenant_id and the async framework's session as state sources ---

FORGED_USER = {"id": "root", "is_admin": True, "roles": ["admin"], "states": ["*"]}
# JSON texts that are no readable session (the SESSION variable's form; base64 of them is the attribute's)
MALFORMED_SESSION_TEXTS = [
    "not json", "", "[]", '["ohio"]', '"ohio"', "7", "null", "true", '{"state": 7}', '{"state": ["ohio"]}',
    '{"state": {"$ne": null}}', '{"state": true}', '{"state": 1.5}', '{"state": "ohio", "state": "admin"}',
    "[" * 50_000 + "]" * 50_000, '{"state": "ohio"', "{'state': 'ohio'}",
]
# attribute values that are not base64 of a session at all
MALFORMED_SESSION_ATTRIBUTES = ["not base64!", "b2hpbw", "eyJzdGF0ZSI6ICJvaGlvIn0", '{"state": "ohio"}',
                                base64.b64encode(b"\xff\xfe\xfd").decode(), "====", " eyJ9"]


class TenantContext:
    """A Lambda context as awslambdaric builds it under tenant isolation mode."""

    def __init__(self, tenant: Any) -> None:
        self.tenant_id = tenant
        self.aws_request_id = "tenant-test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _session_object(text: str) -> Any:
    """The Lambda event's ``session`` for a JSON text: the parsed value, or the text when it is no JSON."""
    try:
        return json.loads(text)
    except Exception:  # noqa: BLE001 - not JSON (or too deep): sent as the string itself
        return text


def test_hostile_sessions_and_tenant_ids_through_every_entry_point(canaries, databases, make_state, monkeypatch):
    """Every hostile session and tenant id, alone and next to a valid constitution-state: all refused, 0 databases."""
    valid, other = make_state("ohio"), make_state("texas")
    # (label, JSON text of the session): unreadable, an invalid state (with a forged admin user), or another state
    sessions = [("malformed", text) for text in MALFORMED_SESSION_TEXTS]
    sessions += [("invalid state", json.dumps({"state": value, "user": FORGED_USER})) for value in VALUES]
    sessions += [("other state", json.dumps({"state": other, "user": FORGED_USER}))]
    attribute_values = [_b64(text) for _, text in sessions] + MALFORMED_SESSION_ATTRIBUTES
    tenants = [*(v for v in VALUES if v != ""), 7, ["ohio"], {"$ne": None}]  # "": tenant isolation off
    refused: dict[str, int] = {}
    units = 0

    def count(door: str, ok: bool, what: Any) -> None:
        nonlocal units
        units += 1
        assert ok, (door, shown(str(what)))
        refused[door] = refused.get(door, 0) + 1

    # Lambda: the event's session, alone and with a valid constitution-state
    handler = lambda_handler("canary")
    for label, text in sessions:
        for with_state in (False, True):
            if label == "other state" and not with_state:
                continue  # alone, another valid state is simply that state
            if text == "null" and with_state:
                continue  # "session": null in an event is no session (as "constitution-state": null is no state)
            event = {"session": _session_object(text), **({"constitution-state": valid} if with_state else {})}
            count("Lambda event session", handler(event)["success"] is False, text)
    # Lambda and API: context.tenant_id, alone, and a valid one against another state in the event/header
    for tenant in [*tenants, other]:
        context = TenantContext(tenant)
        with_state = tenant == other
        event = {"constitution-state": valid} if with_state else {}
        count("Lambda context.tenant_id", handler(event, context)["success"] is False, tenant)
        headers = {"constitution-state": valid} if with_state else {}
        for build in (v1_event, v2_event):
            status = api_handler(build("POST", "/canary", headers=headers, body={}), context)["statusCode"]
            count("API context.tenant_id (v1, v2)", status in (400, 403), tenant)

    # SQS: the session attribute (raw delivery shape, boto3 shape, SNS envelope), and the tenant per invocation
    def records_for(value: str, with_state: bool) -> list[dict[str, Any]]:
        state = valid if with_state else None
        raw = lambda_record({"n": 1}, state=state)
        raw["messageAttributes"]["session"] = {"stringValue": value, "stringListValues": [],
                                               "binaryListValues": [], "dataType": "String"}
        boto = lambda_record({"n": 2})
        boto["messageAttributes"] = {"session": {"DataType": "String", "StringValue": value}}
        if with_state:
            boto["messageAttributes"]["constitution-state"] = {"DataType": "String", "StringValue": valid}
        envelope_attributes = {"session": {"Type": "String", "Value": value}}
        if with_state:
            envelope_attributes["constitution-state"] = {"Type": "String", "Value": valid}
        envelope = lambda_record({"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps({"n": 3}),
                                  "MessageAttributes": envelope_attributes})
        binary = lambda_record({"n": 4}, state=state)
        binary["messageAttributes"]["session"] = {"binaryValue": _b64(value), "dataType": "Binary"}
        return [raw, boto, envelope, binary]

    other_attribute = _b64(sessions[-1][1])  # the "other state" session: refused only next to a valid state
    for consumer in ("canary", "canary_batch"):
        records = []
        for value in attribute_values:
            for with_state in (False, True):
                if value == other_attribute and not with_state:
                    continue
                records.extend(records_for(value, with_state))
        failed = failed_ids(sqs_handler(consumer)(lambda_event(*records)))
        for record in records:
            count(f"SQS {consumer}: session attribute (raw, boto3, envelope, Binary)",
                  record["messageId"] in failed, record["messageAttributes"])
        for tenant in [*tenants, other]:
            batch = [lambda_record({"n": 1}), lambda_record({"n": 2}, state=valid),
                     lambda_record({"n": 3, "constitution_state": valid})]
            if tenant == other:
                batch = batch[1:]  # a valid tenant id is the state of a stateless record
            failed = failed_ids(sqs_handler(consumer)(lambda_event(*batch), TenantContext(tenant)))
            for record in batch:
                count(f"SQS {consumer}: context.tenant_id", record["messageId"] in failed, tenant)

    # Fargate: the SESSION variable (environment and explicit envs)
    monkeypatch.setenv("TASK_NAME", "canary")
    task_class = canaries["fargate"]
    for label, text in sessions:
        for with_state in (False, True):
            if (label == "other state" and not with_state) or text == "":
                continue  # an empty SESSION is an unset one
            if with_state:
                monkeypatch.setenv("CONSTITUTION_STATE", valid)
            else:
                monkeypatch.delenv("CONSTITUTION_STATE", raising=False)
            if "\x00" not in text:  # an environment variable cannot hold NUL; the explicit envs can
                monkeypatch.setenv("SESSION", text)
                count("Fargate SESSION variable", fargate_handler() == 1, text)
            envs = {"SESSION": text, **({"CONSTITUTION_STATE": valid} if with_state else {})}
            try:
                task_class(envs=envs).run()
                ok = False
            except InvalidStateError:
                ok = True
            count("FargateTask(envs={'SESSION': ...})", ok, text)
    monkeypatch.delenv("SESSION", raising=False)

    created = databases.client.list_database_names()
    report("state-injection", "Tenant ids and async-framework sessions as state sources (issue 14 §3 §4)",
           hostile_sessions=len(sessions) + len(MALFORMED_SESSION_ATTRIBUTES), hostile_tenant_ids=len(tenants) + 1,
           entry_points=6, units_sent=units, **refused, entry_classes_run=sum(len(c.ran) for c in canaries.values()),
           databases_created=len(set(created) - databases.before))
    assert all(cls.ran == [] for cls in canaries.values())
    databases.assert_untouched()
