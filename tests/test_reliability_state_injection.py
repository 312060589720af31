"""No request reaches a database it does not belong to: bad states are refused at every door.

Every value below is sent through each entry point that reads a
constitution-state: the API header (REST and HTTP API events), the Lambda
event, the SQS message attribute (Lambda and boto3 shapes), the SNS envelope
(hand-built and delivered by moto), the Fargate task's CONSTITUTION_STATE
(environment, explicit envs, and the launcher's overrides), and the WSGI
middleware's header. Each entry class
(``canary`` in tests/reliability_app) records that it ran and writes in the
state's database, so a refusal is checked twice: the class never ran, and
``list_database_names()`` gained nothing.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from aws_helper_sync import (
    FargateExecutor,
    FargateTask,
    Lambda,
    fargate_handler,
    lambda_handler,
)
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.api.router import resolve_route
from aws_helper_sync.entrypoint import load_entry_class
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
from aws_helper_sync.sqs.worker import SQSWorker
from tests.api_events import json_body, v1_event, v2_event
from tests.reliability_support import report, use_reliability_app
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
    """The four canary classes, their ``ran`` lists emptied."""
    classes = {
        "api": resolve_route("POST", ("canary",))[0],
        "lambda": load_entry_class(Lambda, "lambda", "canary", "main.py", "Lambda"),
        "sqs": load_consumer_class("canary"),
        "sqs-batch": load_consumer_class("canary_batch"),
        "fargate": load_entry_class(FargateTask, "task", "canary", "task.py", "Task"),
    }
    for cls in classes.values():
        cls.ran.clear()
    return classes


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
