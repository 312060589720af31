"""The write side of issue 14 §3 §4 (SPEC §13, §14): ``PROPAGATE_SESSION`` and Lambda tenant isolation.

With ``PROPAGATE_SESSION=true`` every sender also writes the async framework's
(0.33+) ``session`` with the state only: SNSPublisher and SQSPublisher the String
attribute ``session`` (base64 of ``{"state": ...}``), FargateExecutor the
``SESSION`` variable (that JSON), LambdaInvoker the event key ``session``. Each
test proves it where the message lands (moto SNS -> SQS with raw and envelope
delivery, moto SQS, moto ECS ``describe_tasks``, the local Lambda Invoke endpoint
of ``serve`` with a real boto3 client), read twice: the way a 0.33 consumer reads
it (this module's ``async_framework_state``: only the session, base64 JSON with
exactly ``{"state"}``), and by this library's own entry points once the
constitution-state is taken away. Off (the default), nothing extra is sent.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from typing import Any
from urllib.parse import urlsplit

import pytest

from aws_helper_sync import (
    ConfigurationError,
    FargateExecutor,
    LambdaInvoker,
    SNSPublisher,
    SQSPublisher,
    fargate_handler,
    state_scope,
)
from aws_helper_sync.api.local_server import serve_api
from aws_helper_sync.aws import aws_client
from aws_helper_sync.context.sources import (
    ConflictingStateSourcesError,
    MalformedSessionError,
    session_to_write,
)
from aws_helper_sync.context.state import InvalidStateError
from aws_helper_sync.entrypoint import MissingStateError
from aws_helper_sync.fargate.executor import (
    ECS_OVERRIDES_LIMIT,
    build_environment,
    overrides_size,
)
from aws_helper_sync.lambda_standalone.invoker import (
    MAX_ASYNC_PAYLOAD_BYTES,
    READ_TIMEOUT_SECONDS,
    LambdaPayloadTooLargeError,
)
from aws_helper_sync.sns.publisher import MAX_PAYLOAD_BYTES
from aws_helper_sync.sqs import records as rec
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
from tests.reliability_support import use_reliability_app
from tests.sqs_support import create_queue, lambda_event, receive_all, subscribe_queue

QUEUE_ARN = "arn:aws:sqs:us-east-2:123456789012:q"


def b64_session(session: Any) -> str:
    return base64.b64encode(json.dumps(session).encode("utf-8")).decode("ascii")


def async_framework_state(message: dict[str, Any]) -> str:
    """The state as the async framework (0.33+) reads it from an SQS message: the ``session`` only.

    Raw delivery: the String message attribute; SNS envelope: the body's
    ``MessageAttributes``. Base64 of JSON holding exactly ``{"state"}`` (the
    sender writes the state only).
    """
    if "session" in message.get("MessageAttributes", {}):
        attribute = message["MessageAttributes"]["session"]
        assert attribute["DataType"] == "String"
        value = attribute["StringValue"]
    else:
        attribute = json.loads(message["Body"])["MessageAttributes"]["session"]
        assert attribute["Type"] == "String"
        value = attribute["Value"]
    session = json.loads(base64.b64decode(value, validate=True).decode("utf-8"))
    assert set(session) == {"state"}, session
    return session["state"]


def without_constitution_state(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as a sender of the async framework would have sent it: no constitution-state anywhere."""
    message = json.loads(json.dumps(message))
    message.get("MessageAttributes", {}).pop("constitution-state", None)
    try:
        envelope = json.loads(message["Body"])
    except ValueError:
        return message
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
        envelope.get("MessageAttributes", {}).pop("constitution-state", None)
        message["Body"] = json.dumps(envelope)
    return message


@pytest.fixture
def propagate(monkeypatch):
    monkeypatch.setenv("PROPAGATE_SESSION", "true")


@pytest.fixture
def canaries(monkeypatch, mongo_client):
    """The reliability app's canary consumer and task: each records the state it ran in."""
    for _ in use_reliability_app(monkeypatch):
        from aws_helper_sync import FargateTask
        from aws_helper_sync.entrypoint import load_entry_class

        classes = {"sqs": load_consumer_class("canary"),
                   "fargate": load_entry_class(FargateTask, "task", "canary", "task.py", "Task")}
        for cls in classes.values():
            cls.ran.clear()
        yield classes


@pytest.fixture
def topic_queues(boto_client, unique):
    """A topic with two subscribed queues (raw delivery and the SNS envelope), and a plain queue."""
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-events")["TopicArn"]
    queues = {}
    for raw in (True, False):
        url = create_queue(sqs, f"{unique}-{'raw' if raw else 'envelope'}")
        subscribe_queue(sns, sqs, topic, url, raw=raw)
        queues["raw" if raw else "envelope"] = url
    queues["direct"] = create_queue(sqs, f"{unique}-direct")
    return sqs, topic, queues


# --- the setting and the one decision ---


@pytest.mark.parametrize(("raw", "on"), [(None, False), ("", False), ("false", False), ("0", False),
                                         ("true", True), ("TRUE", True), ("1", True), (" yes ", True)])
def test_propagate_session_is_off_by_default_and_read_as_a_flag(monkeypatch, raw, on):
    if raw is None:
        monkeypatch.delenv("PROPAGATE_SESSION", raising=False)
    else:
        monkeypatch.setenv("PROPAGATE_SESSION", raw)
    assert session_to_write("ohio") == ("ohio" if on else None)
    assert session_to_write(None) is None


def test_a_bad_propagate_session_value_stops_every_sender_before_it_sends(monkeypatch, topic_queues, ecs,
                                                                        make_state):
    sqs, topic, queues = topic_queues
    monkeypatch.setenv("PROPAGATE_SESSION", "ture")
    with state_scope(make_state("ohio")):
        attempts = [
            lambda: SNSPublisher(topic).publish({"content": {"n": 1}}),
            lambda: SNSPublisher(topic).publish([{"content": {"n": 1}}]),
            lambda: SQSPublisher(queues["direct"]).send({"content": {"n": 1}}),
            lambda: FargateExecutor().run_task("hello"),
            lambda: LambdaInvoker("echo").build_payload({"n": 1}),
        ]
        for attempt in attempts:
            with pytest.raises(ConfigurationError, match="PROPAGATE_SESSION='ture' is not a boolean"):
                attempt()
    with pytest.raises(ConfigurationError):  # read even without a state: a typo never passes silently
        session_to_write(None)
    assert all(receive_all(sqs, url) == [] for url in queues.values())
    assert ecs.client.list_tasks(cluster="land-records")["taskArns"] == []


# --- SNS -> SQS ---


def test_sns_publish_with_propagation_reaches_raw_and_envelope_queues_as_a_0_33_session(
        propagate, topic_queues, canaries, make_state):
    """One publish and one PublishBatch: both deliveries carry the session; without constitution-state
    the async framework and this library's consumer both run the message in the state."""
    sqs, topic, queues = topic_queues
    ohio = make_state("ohio")
    publisher = SNSPublisher(topic)
    with state_scope(ohio):
        publisher.publish({"content": {"n": 0}, "attributes": {"kind": "recorded"}})
        publisher.publish([{"content": {"n": n}} for n in range(1, 4)])

    for delivery in ("raw", "envelope"):
        messages = receive_all(sqs, queues[delivery])
        assert len(messages) == 4
        for message in messages:
            assert async_framework_state(message) == ohio
            stripped = without_constitution_state(message)
            assert rec.find_state(stripped)[1] == ohio and "session" in rec.find_state(stripped)[0]
        records = [rec.record_from_message(without_constitution_state(m), QUEUE_ARN, "us-east-2")
                   for m in messages]
        assert sqs_handler("canary")(lambda_event(*records))["batchItemFailures"] == []
    assert canaries["sqs"].ran == [ohio] * 8


def test_propagation_off_sends_no_session_anywhere(topic_queues, ecs, endpoint, make_state, monkeypatch):
    """The regression guard: by default the senders send exactly what they sent before."""
    monkeypatch.delenv("PROPAGATE_SESSION", raising=False)
    sqs, topic, queues = topic_queues
    ohio = make_state("ohio")
    with state_scope(ohio):
        SNSPublisher(topic).publish({"content": {"n": 0}})
        SNSPublisher(topic).publish([{"content": {"n": 1}}])
        SQSPublisher(queues["direct"]).send({"content": {"n": 2}})
        SQSPublisher(queues["direct"]).send([{"content": {"n": 3}}])
        arn = FargateExecutor().run_task("hello", {"batch_size": 5})
        seen = LambdaInvoker("context_echo").invoke({"n": 4})

    for delivery in ("raw", "direct"):
        for message in receive_all(sqs, queues[delivery]):
            assert set(message["MessageAttributes"]) == {"constitution-state"}
    for message in receive_all(sqs, queues["envelope"]):
        assert set(json.loads(message["Body"])["MessageAttributes"]) == {"constitution-state"}
    assert environment_of(ecs, arn) == {"CONSTITUTION_STATE": ohio, "TASK_NAME": "hello", "BATCH_SIZE": "5"}
    assert seen == {"state": ohio, "tenant_id": None, "event_keys": ["constitution-state", "data"],
                    "session": None}


# --- SQS ---


def test_sqs_send_with_propagation_carries_the_session_to_both_kinds_of_consumer(
        propagate, topic_queues, canaries, make_state):
    sqs, _, queues = topic_queues
    ohio, iowa = make_state("ohio"), make_state("iowa")
    publisher = SQSPublisher(queues["direct"])
    with state_scope(ohio):
        publisher.send({"content": {"n": 0}})
        publisher.send([{"content": {"n": n}} for n in range(1, 12)])  # two SendMessageBatch calls
        # a message that names its own constitution-state gets the session of that state, so both agree
        publisher.send({"content": {"n": 12}, "attributes": {"constitution-state": iowa}})

    messages = sorted(receive_all(sqs, queues["direct"]), key=lambda m: json.loads(m["Body"])["n"])
    assert [async_framework_state(m) for m in messages] == [ohio] * 12 + [iowa]
    records = [rec.record_from_message(without_constitution_state(m), QUEUE_ARN, "us-east-2") for m in messages]
    assert sqs_handler("canary")(lambda_event(*records))["batchItemFailures"] == []
    assert canaries["sqs"].ran == [ohio] * 12 + [iowa]


def test_a_message_state_that_is_not_a_state_gets_no_session_but_an_error(topic_queues, make_state, monkeypatch):
    """Off, such a message goes out as before (the consumer refuses it); on, the session could not carry it."""
    sqs, _, queues = topic_queues
    publisher = SQSPublisher(queues["direct"])
    bad = {"content": {"n": 1}, "attributes": {"constitution-state": "Not A State"}}
    with state_scope(make_state("ohio")):
        monkeypatch.setenv("PROPAGATE_SESSION", "true")
        with pytest.raises(InvalidStateError):
            publisher.send(bad)
        assert receive_all(sqs, queues["direct"]) == []
        monkeypatch.setenv("PROPAGATE_SESSION", "false")
        publisher.send(bad)
    (message,) = receive_all(sqs, queues["direct"])
    assert set(message["MessageAttributes"]) == {"constitution-state"}


@pytest.mark.parametrize("sender", ["sns", "sqs"])
def test_the_session_counts_toward_the_ten_attribute_limit(propagate, topic_queues, make_state, sender):
    sqs, topic, queues = topic_queues
    publisher = SNSPublisher(topic) if sender == "sns" else SQSPublisher(queues["direct"])
    send = publisher.publish if sender == "sns" else publisher.send
    with state_scope(make_state("ohio")):
        with pytest.raises(ValueError, match="11 attributes, including the constitution-state and session "
                                             "attributes added"):
            send({"content": {"n": 1}, "attributes": {f"a{i}": "x" for i in range(9)}})
        with pytest.raises(ValueError, match="11 attributes"):
            send([{"content": {"n": 0}}, {"content": {"n": 1}, "attributes": {f"a{i}": "x" for i in range(9)}}])
        assert receive_all(sqs, queues["raw" if sender == "sns" else "direct"]) == []  # nothing of the list
        send({"content": {"n": 2}, "attributes": {f"a{i}": "x" for i in range(8)}})  # 10 in all: sent
    (message,) = receive_all(sqs, queues["raw" if sender == "sns" else "direct"])
    assert len(message["MessageAttributes"]) == 10 and "session" in message["MessageAttributes"]


@pytest.mark.parametrize("sender", ["sns", "sqs"])
def test_the_session_counts_toward_the_size_limit(topic_queues, make_state, monkeypatch, sender):
    """A message exactly at 256 KiB goes out without propagation; the session's bytes push it over."""
    sqs, topic, queues = topic_queues
    state = make_state("ohio")
    publisher = SNSPublisher(topic) if sender == "sns" else SQSPublisher(queues["direct"])
    send = publisher.publish if sender == "sns" else publisher.send
    attribute_bytes = len("constitution-state") + len("String") + len(state)
    message = {"content": "x" * (MAX_PAYLOAD_BYTES - 2 - attribute_bytes)}  # the JSON string's quotes: 2
    with state_scope(state):
        assert publisher.format_entry(message)[1] == MAX_PAYLOAD_BYTES
        monkeypatch.setenv("PROPAGATE_SESSION", "true")
        with pytest.raises(ValueError, match="bytes with its attributes, over the"):
            send(message)
        assert receive_all(sqs, queues["raw" if sender == "sns" else "direct"]) == []
        monkeypatch.setenv("PROPAGATE_SESSION", "false")
        send(message)
    assert len(receive_all(sqs, queues["raw" if sender == "sns" else "direct"])) == 1


@pytest.mark.parametrize("sender", ["sns", "sqs"])
@pytest.mark.parametrize("on", [True, False])
def test_a_session_the_message_sets_itself_is_kept_only_if_it_names_the_same_state(
        topic_queues, make_state, monkeypatch, sender, on):
    """Never replaced (its user included), never doubled under another spelling; a different state or an
    unreadable one is refused before anything is sent, because consumers would split on it."""
    monkeypatch.setenv("PROPAGATE_SESSION", "true" if on else "false")
    sqs, topic, queues = topic_queues
    queue = queues["raw" if sender == "sns" else "direct"]
    publisher = SNSPublisher(topic) if sender == "sns" else SQSPublisher(queues["direct"])
    send = publisher.publish if sender == "sns" else publisher.send
    ohio, texas = make_state("ohio"), make_state("texas")
    own = b64_session({"state": ohio, "user": {"id": "u-7"}})
    with state_scope(ohio):
        with pytest.raises(ConflictingStateSourcesError, match="'session' names the state"):
            send([{"content": {"n": 0}}, {"content": {"n": 1}, "attributes": {"session": b64_session({"state": texas})}}])
        with pytest.raises(ConflictingStateSourcesError):  # against the message's own constitution-state too
            send({"content": {"n": 1}, "attributes": {"constitution-state": texas, "Session": own}})
        with pytest.raises(MalformedSessionError):
            send({"content": {"n": 1}, "attributes": {"session": json.dumps({"state": ohio})}})  # not base64
        assert receive_all(sqs, queue) == []
        send({"content": {"n": 2}, "attributes": {"session": own}})
        send({"content": {"n": 3}, "attributes": {"Session": own}})
        send({"content": {"n": 4}, "attributes": {"session": b64_session({"user": {"id": "u-8"}})}})  # no state
    messages = sorted(receive_all(sqs, queue), key=lambda m: json.loads(m["Body"])["n"])
    assert [{k: v["StringValue"] for k, v in m["MessageAttributes"].items() if k.lower() == "session"}
            for m in messages] == [{"session": own}, {"Session": own},
                                   {"session": b64_session({"user": {"id": "u-8"}})}]


def test_many_threads_each_publish_their_own_states_session(propagate, topic_queues, make_state):
    sqs, _, queues = topic_queues
    publisher = SQSPublisher(queues["direct"])
    states = [make_state(f"s{n}") for n in range(12)]
    errors: list[BaseException] = []

    def send(state: str) -> None:
        try:
            with state_scope(state):
                publisher.send([{"content": {"state": state, "n": n}} for n in range(3)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    messages = receive_all(sqs, queues["direct"])
    assert len(messages) == 36
    for message in messages:
        body = json.loads(message["Body"])
        assert async_framework_state(message) == body["state"]
        assert message["MessageAttributes"]["constitution-state"]["StringValue"] == body["state"]


# --- Fargate ---

CLUSTER = "land-records"


@pytest.fixture
def ecs(boto_client, monkeypatch):
    ec2, ecs_client = boto_client("ec2"), boto_client("ecs")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]][:2]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    ecs_client.create_cluster(clusterName=CLUSTER)
    ecs_client.register_task_definition(
        family="hello", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "hello", "image": "app:latest", "memory": 512}])
    monkeypatch.setenv("ECS_CLUSTER", CLUSTER)
    monkeypatch.setenv("ECS_SUBNETS", ",".join(subnets))
    monkeypatch.setenv("ECS_SECURITY_GROUPS", group)  # moto's RunTask needs one
    return type("Ecs", (), {"client": ecs_client})


def environment_of(ecs, arn: str) -> dict[str, str]:
    task = ecs.client.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    (override,) = task["overrides"]["containerOverrides"]
    return {item["name"]: item["value"] for item in override["environment"]}


@pytest.fixture
def run_task_calls():
    calls: list[dict] = []
    events = aws_client("ecs").meta.events
    record = lambda params, **_: calls.append(params)
    events.register("provide-client-params.ecs.RunTask", record)
    yield calls
    events.unregister("provide-client-params.ecs.RunTask", record)


def test_fargate_task_gets_the_session_variable_and_runs_from_it_alone(propagate, ecs, canaries, make_state,
                                                                      monkeypatch):
    ohio, iowa = make_state("ohio"), make_state("iowa")
    with state_scope(ohio):
        arn = FargateExecutor().run_task("hello", {"batch_size": 5})
        other = FargateExecutor().run_task("hello", {"constitution_state": iowa})  # the task's own state
        batch = FargateExecutor().run_task_batch("hello", [{"n": n} for n in range(3)])

    environment = environment_of(ecs, arn)
    assert environment == {"CONSTITUTION_STATE": ohio, "SESSION": json.dumps({"state": ohio}, separators=(",", ":")),
                           "TASK_NAME": "hello", "BATCH_SIZE": "5"}
    assert json.loads(environment["SESSION"]) == {"state": ohio}  # what the async framework reads
    assert json.loads(environment_of(ecs, other)["SESSION"]) == {"state": iowa}
    assert [json.loads(environment_of(ecs, a)["SESSION"]) for a in batch] == [{"state": ohio}] * 3

    # the container of a 0.33 sender: SESSION and no CONSTITUTION_STATE; this library's task runs from it
    monkeypatch.delenv("CONSTITUTION_STATE", raising=False)
    monkeypatch.setenv("SESSION", environment["SESSION"])
    assert fargate_handler("canary") == 0
    assert canaries["fargate"].ran == [ohio]


@pytest.mark.parametrize("on", [True, False])
def test_a_session_in_envs_cannot_name_another_state(ecs, run_task_calls, make_state, monkeypatch, on):
    monkeypatch.setenv("PROPAGATE_SESSION", "true" if on else "false")
    ohio, texas = make_state("ohio"), make_state("texas")
    with state_scope(ohio):
        for envs, error in (
            ({"SESSION": json.dumps({"state": texas})}, ConflictingStateSourcesError),
            ({"session": {"state": texas, "user": {"id": "root"}}}, ConflictingStateSourcesError),
            ({"CONSTITUTION_STATE": texas, "SESSION": json.dumps({"state": ohio})}, ConflictingStateSourcesError),
            ({"SESSION": b64_session({"state": ohio})}, MalformedSessionError),   # base64 is the attribute's form
            ({"SESSION": '{"state": "' + ohio + '", "state": "' + texas + '"}'}, MalformedSessionError),
        ):
            with pytest.raises(error):
                FargateExecutor().run_task("hello", envs)
        assert run_task_calls == []
        # the same state (a user with it is the caller's business), or no state at all: sent as given
        own = json.dumps({"state": ohio, "user": {"id": "u-7"}})
        assert environment_of(ecs, FargateExecutor().run_task("hello", {"SESSION": own}))["SESSION"] == own
        assert environment_of(ecs, FargateExecutor().run_task("hello", {"session": {"user": 1}}))["SESSION"] == \
            '{"user": 1}'
    assert issubclass(ConflictingStateSourcesError, ValueError) and issubclass(MalformedSessionError, ValueError)


def test_the_session_variable_counts_in_the_overrides_size(ecs, run_task_calls, make_state, monkeypatch):
    state = make_state("ohio")
    with state_scope(state):
        base = overrides_size({"containerOverrides": [{"name": "hello", "environment": [
            {"name": k, "value": v} for k, v in build_environment("hello", {"PAD": ""}).items()]}]})
        envs = {"PAD": "x" * (ECS_OVERRIDES_LIMIT - base)}
        assert overrides_size(FargateExecutor().build_overrides("hello", envs)) == ECS_OVERRIDES_LIMIT
        monkeypatch.setenv("PROPAGATE_SESSION", "true")
        with pytest.raises(ValueError, match="ECS accepts at most 8192"):
            FargateExecutor().run_task("hello", envs)
        assert run_task_calls == []
        monkeypatch.setenv("PROPAGATE_SESSION", "false")
        FargateExecutor().run_task("hello", envs)
    assert len(run_task_calls) == 1


# --- Lambda: the event's session, TenantId, and the local endpoint's context.tenant_id ---


@pytest.fixture
def endpoint(app_root, mongo_client, aws, monkeypatch):
    """``serve``'s server for tests/app in a thread: Lambda calls go to it, the rest to moto."""
    server = serve_api(app_root, port=0).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def wire():
    """Every Invoke request the library's Lambda client sends: (headers, JSON body)."""
    sent: list[tuple[dict[str, str], Any]] = []

    def record(request, **_):
        sent.append(({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()},
                     json.loads(request.body)))

    events = LambdaInvoker("echo").lambda_client.meta.events
    events.register("before-send.lambda.Invoke", record, unique_id="propagate-wire")
    yield sent
    events.unregister("before-send.lambda.Invoke", unique_id="propagate-wire")


def raw_lambda_client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client("lambda", region_name="us-east-2", endpoint_url=endpoint.url,
                        config=Config(retries={"total_max_attempts": 1}))


def invoke_raw(endpoint, payload: Any, **params: Any) -> dict[str, Any]:
    response = raw_lambda_client(endpoint).invoke(Payload=json.dumps(payload), **params)
    return json.loads(response["Payload"].read())


def test_installed_botocore_sends_tenant_id_as_the_header():
    model = LambdaInvoker("echo").lambda_client.meta.service_model.operation_model("Invoke")
    assert model.input_shape.members["TenantId"].serialization == {"location": "header", "name": "X-Amz-Tenant-Id"}


def test_a_botocore_without_tenant_id_is_a_clear_error_not_an_unknown_parameter(endpoint, make_state, monkeypatch):
    """Simulated on a client of its own whose Invoke model lacks TenantId, as botocore 1.40.0's does."""
    client = raw_lambda_client(endpoint)
    client.meta.service_model.operation_model("Invoke").input_shape.members.pop("TenantId")
    sent: list[Any] = []
    client.meta.events.register("before-send.lambda.Invoke", lambda **kwargs: sent.append(kwargs))
    monkeypatch.setattr(LambdaInvoker, "lambda_client", property(lambda self: client))
    with state_scope(make_state("ohio")):
        with pytest.raises(ConfigurationError, match="needs a botocore whose Lambda Invoke takes TenantId"):
            LambdaInvoker("context_echo", tenant_isolation=True).invoke({})
        assert LambdaInvoker("context_echo").invoke({})["tenant_id"] is None  # without tenant isolation: fine
    assert len(sent) == 1
    cached = aws_client("lambda", "us-east-2", read_timeout=READ_TIMEOUT_SECONDS)  # the library's own client
    assert cached is not client and "TenantId" in cached.meta.service_model.operation_model(
        "Invoke").input_shape.members


def test_invoker_with_propagation_writes_the_event_session(propagate, endpoint, wire, make_state):
    ohio, iowa = make_state("ohio"), make_state("iowa")
    invoker = LambdaInvoker("context_echo")
    with state_scope(ohio):
        seen = invoker.invoke({"n": 1})
        explicit = invoker.invoke({"n": 2}, state=iowa)
        assert invoker.invoke_async({"n": 3})

    assert seen == {"state": ohio, "tenant_id": None, "event_keys": ["constitution-state", "data", "session"],
                    "session": {"state": ohio}}
    assert explicit["session"] == {"state": iowa} and explicit["state"] == iowa
    assert [body for _, body in wire] == [
        {"constitution-state": ohio, "session": {"state": ohio}, "data": {"n": 1}},
        {"constitution-state": iowa, "session": {"state": iowa}, "data": {"n": 2}},
        {"constitution-state": ohio, "session": {"state": ohio}, "data": {"n": 3}},
    ]
    assert all("x-amz-tenant-id" not in headers for headers, _ in wire)  # tenant isolation is off
    # the event a 0.33 sender writes (the session only) runs in that state
    only_session = {k: v for k, v in wire[0][1].items() if k != "constitution-state"}
    assert invoke_raw(endpoint, only_session, FunctionName="context_echo")["data"]["state"] == ohio


def test_the_event_session_counts_toward_the_payload_limit(endpoint, wire, make_state, monkeypatch):
    state = make_state("utah")
    envelope = len(json.dumps({"constitution-state": state, "data": {"blob": ""}}, separators=(",", ":")))
    data = {"blob": "x" * (MAX_ASYNC_PAYLOAD_BYTES - envelope)}
    invoker = LambdaInvoker("echo")
    with state_scope(state):
        assert len(invoker.build_payload(data, limit=MAX_ASYNC_PAYLOAD_BYTES)) == MAX_ASYNC_PAYLOAD_BYTES
        monkeypatch.setenv("PROPAGATE_SESSION", "true")
        with pytest.raises(LambdaPayloadTooLargeError, match="asynchronous limit"):
            invoker.invoke_async(data)
        assert wire == []
        monkeypatch.setenv("PROPAGATE_SESSION", "false")
        assert invoker.invoke_async(data)
    assert len(wire) == 1


def test_tenant_isolation_passes_the_state_as_the_tenant_id(endpoint, wire, make_state, mongo_client):
    ohio, iowa = make_state("ohio"), make_state("iowa")
    invoker = LambdaInvoker("context_echo", tenant_isolation=True)
    with state_scope(ohio):
        seen = invoker.invoke({"n": 1})
        explicit = invoker.invoke({"n": 2}, state=iowa)
        assert invoker.invoke_async({"n": 3})
        written = LambdaInvoker("land_records", tenant_isolation=True).invoke({"parcel_id": 9})

    assert seen == {"state": ohio, "tenant_id": ohio, "event_keys": ["constitution-state", "data"],
                    "session": None}
    assert explicit["tenant_id"] == explicit["state"] == iowa
    assert [headers["x-amz-tenant-id"] for headers, _ in wire] == [ohio, iowa, ohio, ohio]
    assert written["state"] == ohio and mongo_client[ohio].land_records.count_documents({"parcel_id": 9}) == 1


def test_tenant_isolation_without_a_state_is_refused_before_the_call(endpoint, wire):
    invoker = LambdaInvoker("context_echo", tenant_isolation=True)
    for call in (invoker.invoke, invoker.invoke_async):
        with pytest.raises(MissingStateError, match="tenant-isolated function needs a tenant id"):
            call({"n": 1})
    assert wire == []
    with pytest.raises(TypeError):
        LambdaInvoker("context_echo", tenant_isolation="yes")


def test_tenant_isolation_and_propagation_together(propagate, endpoint, wire, make_state):
    ohio = make_state("ohio")
    with state_scope(ohio):
        seen = LambdaInvoker("context_echo", tenant_isolation=True).invoke({})
    assert seen["tenant_id"] == seen["state"] == ohio and seen["session"] == {"state": ohio}
    assert wire[0][0]["x-amz-tenant-id"] == ohio


def test_the_read_side_refuses_a_tenant_id_that_disagrees_with_the_event(endpoint, make_state, mongo_client):
    """A real boto3 client through the local endpoint: TenantId is context.tenant_id, checked against the event."""
    ohio, iowa = make_state("ohio"), make_state("iowa")
    refused = invoke_raw(endpoint, {"constitution-state": ohio, "data": {"parcel_id": 1}},
                         FunctionName="land_records", TenantId=iowa)
    assert refused["success"] is False and refused["error_type"] == "ConflictingStateSourcesError"
    assert ohio in refused["error"] and iowa in refused["error"] and "context.tenant_id" in refused["error"]
    refused = invoke_raw(endpoint, {"session": {"state": ohio}, "data": {"parcel_id": 1}},
                         FunctionName="land_records", TenantId=iowa)
    assert refused["error_type"] == "ConflictingStateSourcesError"
    for hostile in ("admin", "Tenant-42", "a/b"):
        refused = invoke_raw(endpoint, {"data": {"parcel_id": 1}}, FunctionName="land_records", TenantId=hostile)
        assert refused["success"] is False and refused["error_type"] == "InvalidStateError", hostile
    assert {ohio, iowa} & set(mongo_client.list_database_names()) == set()
    # the tenant id alone is the state; agreeing with the event passes
    assert invoke_raw(endpoint, {"data": {"parcel_id": 2}}, FunctionName="land_records", TenantId=iowa)["success"]
    assert invoke_raw(endpoint, {"constitution-state": iowa, "data": {"parcel_id": 3}},
                      FunctionName="land_records", TenantId=iowa)["success"]
    assert mongo_client[iowa].land_records.count_documents({}) == 2 and ohio not in mongo_client.list_database_names()


def test_the_endpoint_refuses_a_tenant_header_given_twice_or_malformed(endpoint, make_state):
    ohio, iowa = make_state("ohio"), make_state("iowa")
    address = urlsplit(endpoint.url)

    def post(*tenant_headers: str) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        body = json.dumps({"data": {}}).encode()
        connection.putrequest("POST", "/2015-03-31/functions/context_echo/invocations")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        for value in tenant_headers:
            connection.putheader("X-Amz-Tenant-Id", value)
        connection.endheaders(body)
        response = connection.getresponse()
        answer = (response.status, json.loads(response.read() or b"{}"))
        connection.close()
        return answer

    status, body = post(ohio, iowa)
    assert status == 400 and "given 2 times" in body["message"]
    assert post("")[0] == 400 and post("x" * 257)[0] == 400 and post("a\tb")[0] == 400
    status, body = post(ohio, ohio)   # the same value twice says one thing
    assert status == 200 and body["data"]["tenant_id"] == ohio
    status, body = post()
    assert status == 200 and body["success"] is False and body["error_type"] == "MissingStateError"


def test_many_threads_share_one_client_and_each_call_carries_its_own_tenant(endpoint, make_state):
    invoker = LambdaInvoker("context_echo", tenant_isolation=True)
    states = [make_state(f"s{n}") for n in range(16)]
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []

    def call(state: str) -> None:
        try:
            with state_scope(state):
                for _ in range(3):
                    result = invoker.invoke({})
                    assert result["tenant_id"] == result["state"] == state, (state, result)
                seen[state] = result
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and sorted(seen) == sorted(states)
