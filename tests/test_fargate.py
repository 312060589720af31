"""``FargateExecutor`` against moto's ECS (SPEC §9)."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace

import pytest
from botocore.awsrequest import AWSResponse

from aws_helper_sync import (
    ConfigurationError,
    FargateExecutor,
    fargate_handler,
    state_scope,
)
from aws_helper_sync.aws import aws_client
from aws_helper_sync.fargate.executor import (
    ECS_OVERRIDES_LIMIT,
    TaskLaunchError,
    overrides_size,
)

CLUSTER = "land-records"


@pytest.fixture
def ecs(boto_client, monkeypatch):
    """A cluster, two task definitions and the default VPC's network, named in the environment."""
    ec2, ecs_client = boto_client("ec2"), boto_client("ecs")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]][:2]
    group = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]["GroupId"]
    ecs_client.create_cluster(clusterName=CLUSTER)
    for family, container in (("hello", "hello"), ("worker", "app")):
        ecs_client.register_task_definition(
            family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="256", memory="512",
            containerDefinitions=[{"name": container, "image": "app:latest", "memory": 512}],
        )
    monkeypatch.setenv("ECS_CLUSTER", CLUSTER)
    monkeypatch.setenv("ECS_SUBNETS", ",".join(subnets))
    monkeypatch.setenv("ECS_SECURITY_GROUPS", group)
    return SimpleNamespace(client=ecs_client, subnets=subnets, group=group)


@pytest.fixture
def sent_run_task_params():
    """The parameters of each RunTask request the library's ECS client sends."""
    sent: list[dict] = []

    def record(params, **_):
        sent.append(json.loads(json.dumps(params)))

    events = aws_client("ecs").meta.events
    events.register("provide-client-params.ecs.RunTask", record)
    yield sent
    events.unregister("provide-client-params.ecs.RunTask", record)


@pytest.fixture
def ecs_answers():
    """``ecs_answers(body)``: the next RunTask calls get ``body`` instead of reaching moto.

    Fault injection through botocore's ``before-send`` event (TESTING.md), for
    answers moto cannot give (ECS ``failures``) or requests it cannot take
    (no security group).
    """
    events = aws_client("ecs").meta.events
    hooks = []

    def answer(body):
        def send(request, **_):
            response = AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, None)
            response._content = json.dumps(body).encode()
            return response

        events.register_first("before-send.ecs.RunTask", send)
        hooks.append(send)

    yield answer
    for send in hooks:
        events.unregister("before-send.ecs.RunTask", send)


def environment_of(ecs, arn: str, container: str = "hello") -> dict[str, str]:
    task = ecs.client.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    (override,) = [o for o in task["overrides"]["containerOverrides"] if o["name"] == container]
    return {item["name"]: item["value"] for item in override["environment"]}


def test_run_task_records_state_and_task_name_in_the_overrides(ecs, make_state):
    state = make_state("connecticut")
    with state_scope(state):
        arn = FargateExecutor().run_task(
            "hello", {"greeting": "hi", "batch_size": 5, "dry_run": True, "ids": [1, 2], "skip": None})
    assert arn.startswith("arn:aws:ecs:us-east-2:")
    assert environment_of(ecs, arn) == {
        "GREETING": "hi", "BATCH_SIZE": "5", "DRY_RUN": "true", "IDS": "[1, 2]",
        "CONSTITUTION_STATE": state, "TASK_NAME": "hello",
    }


def test_an_explicit_state_wins_over_the_current_one(ecs, make_state):
    with state_scope(make_state("ohio")):
        arn = FargateExecutor().run_task("hello", {"constitution_state": "texas", "Task_Name": "hello"})
    env = environment_of(ecs, arn)
    assert (env["CONSTITUTION_STATE"], env["TASK_NAME"]) == ("texas", "hello")


def test_network_and_definition_parameters(ecs, sent_run_task_params):
    with state_scope("ohio"):
        arn = FargateExecutor().run_task("worker", container_name="app", task_definition_revision=1,
                                         assign_public_ip="DISABLED")
    task = ecs.client.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    assert task["taskDefinitionArn"].endswith(":task-definition/worker:1")
    assert environment_of(ecs, arn, container="app")["TASK_NAME"] == "worker"
    (params,) = sent_run_task_params
    assert params["launchType"] == "FARGATE" and params["count"] == 1
    assert params["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ecs.subnets, "securityGroups": [ecs.group], "assignPublicIp": "DISABLED"}



def test_no_security_groups_configured_sends_none(ecs, sent_run_task_params, ecs_answers, monkeypatch):
    monkeypatch.delenv("ECS_SECURITY_GROUPS")
    ecs_answers({"tasks": [{"taskArn": "arn:aws:ecs:us-east-2:123456789012:task/land-records/t1"}],
                 "failures": []})
    with state_scope("ohio"):
        assert FargateExecutor().run_task("hello").endswith("/t1")
    (params,) = sent_run_task_params
    assert params["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ecs.subnets, "assignPublicIp": "ENABLED"}


def test_run_task_batch_keeps_the_callers_state_and_the_input_order(ecs):
    with state_scope("ohio"):
        arns = FargateExecutor().run_task_batch("hello", [{"index": i} for i in range(10)])
    assert len(arns) == 10 and len(set(arns)) == 10 and all(arns)
    for index, arn in enumerate(arns):
        env = environment_of(ecs, arn)
        assert (env["CONSTITUTION_STATE"], env["INDEX"], env["TASK_NAME"]) == ("ohio", str(index), "hello")


def test_run_task_batch_gives_none_for_each_failure_and_logs_it(ecs, caplog):
    envs = [{"n": 0}, {"blob": "x" * ECS_OVERRIDES_LIMIT}, {"n": 2}, {"constitution_state": "Bad State"}]
    with state_scope("ohio"):
        arns = FargateExecutor().run_task_batch("hello", envs)
    assert [arn is not None for arn in arns] == [True, False, True, False]
    assert "task 2 of 4" in caplog.text and "task 4 of 4" in caplog.text


def test_oversize_overrides_are_refused_before_any_call(ecs, sent_run_task_params):
    with state_scope("ohio"), pytest.raises(ValueError, match="8192"):
        FargateExecutor().run_task("hello", {"payload": "x" * ECS_OVERRIDES_LIMIT})
    assert sent_run_task_params == []
    assert ecs.client.list_tasks(cluster=CLUSTER)["taskArns"] == []


def test_overrides_just_under_the_limit_are_sent(ecs):
    executor = FargateExecutor()
    with state_scope("ohio"):
        base = overrides_size(executor.build_overrides("hello", {"p": ""}))
        arn = executor.run_task("hello", {"p": "y" * (ECS_OVERRIDES_LIMIT - base)})
    assert len(environment_of(ecs, arn)["P"]) == ECS_OVERRIDES_LIMIT - base


@pytest.mark.parametrize("envs", [None, {"constitution_state": "Not-Valid"}, {"constitution_state": "admin"}])
def test_missing_or_invalid_state_is_refused_before_any_call(ecs, sent_run_task_params, envs):
    with pytest.raises(ValueError, match="constitution-state|CONSTITUTION_STATE"):
        FargateExecutor().run_task("hello", envs)
    assert sent_run_task_params == []


def test_no_task_started_raises_with_ecs_failures(ecs, ecs_answers):
    failures = [{"arn": "arn:aws:ecs:us-east-2:123456789012:container-instance/x", "reason": "RESOURCE:MEMORY"}]
    ecs_answers({"tasks": [], "failures": failures})
    with state_scope("ohio"), pytest.raises(TaskLaunchError, match="RESOURCE:MEMORY") as raised:
        FargateExecutor().run_task("hello")
    assert raised.value.failures == failures


def test_ecs_errors_propagate_from_run_task(ecs):
    from botocore.exceptions import ClientError

    with state_scope("ohio"), pytest.raises(ClientError):
        FargateExecutor().run_task("no-such-definition")


def test_get_task_status_has_the_async_frameworks_keys_and_ours(ecs):
    executor = FargateExecutor()
    with state_scope("ohio"):
        arn = executor.run_task("hello")

    status = executor.get_task_status(arn)

    described = ecs.client.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
    # aws-python-helper 0.32.0's keys, as README examples read them
    assert status["status"] == status["last_status"] and isinstance(status["status"], str)
    assert status["desired_status"] == "RUNNING"
    assert status["stop_reason"] == status["stopped_reason"] == described.get("stoppedReason")
    assert {"started_at", "stopped_at"} <= set(status)
    assert status["task_arn"] == arn
    assert list(status)[:6] == ["status", "desired_status", "started_at", "stopped_at", "stop_reason", "task_arn"]
    assert [c["name"] for c in status["containers"]] == ["hello"]


def test_get_task_status_of_a_stopped_task_gives_its_stop_reason(ecs):
    executor = FargateExecutor()
    with state_scope("ohio"):
        arn = executor.run_task("hello")
    ecs.client.stop_task(cluster=CLUSTER, task=arn, reason="replaced by a newer run")

    status = executor.get_task_status(arn)

    assert status["stop_reason"] == status["stopped_reason"] == "replaced by a newer run"
    assert status["desired_status"] == "STOPPED"


def test_get_task_status_of_an_unknown_task_is_not_found(ecs):
    executor = FargateExecutor()
    unknown = f"arn:aws:ecs:us-east-2:123456789012:task/{CLUSTER}/0123456789abcdef0123456789abcdef"

    status = executor.get_task_status(unknown)

    assert status["status"] == "NOT_FOUND"
    assert status == {"status": "NOT_FOUND", "task_arn": unknown}


def test_ecs_client_is_the_async_frameworks_name_for_the_client(ecs):
    executor = FargateExecutor()
    assert executor.ecs_client is executor.client
    assert executor.ecs_client.meta.service_model.service_name == "ecs"


@pytest.mark.parametrize(("unset", "variable"), [
    ("ECS_CLUSTER", "ECS_CLUSTER"), ("ECS_SUBNETS", "ECS_SUBNETS"), ("AWS_REGION", "AWS_REGION")])
def test_missing_configuration_is_a_configuration_error_naming_the_variable(monkeypatch, unset, variable):
    monkeypatch.setenv("ECS_CLUSTER", CLUSTER)
    monkeypatch.setenv("ECS_SUBNETS", "subnet-1")
    monkeypatch.delenv(unset)
    if unset == "AWS_REGION":
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigurationError, match=variable) as info:
        FargateExecutor()
    assert not isinstance(info.value, ValueError)  # SPEC §5: a 500 from an API, never a 400


def test_arguments_override_the_environment(monkeypatch):
    monkeypatch.delenv("ECS_CLUSTER", raising=False)
    executor = FargateExecutor(cluster="c", subnets="subnet-a, subnet-b", region="eu-west-1",
                               security_groups=["sg-1"])
    assert (executor.cluster, executor.subnets, executor.region, executor.security_groups) == (
        "c", ["subnet-a", "subnet-b"], "eu-west-1", ["sg-1"])


@pytest.mark.parametrize("count", [0, 11, "2", True])
def test_count_is_checked_before_any_call(count):
    executor = FargateExecutor(cluster=CLUSTER, subnets="subnet-1", region="us-east-2")
    with state_scope("ohio"), pytest.raises(ValueError, match="count"):
        executor.run_task("hello", count=count)


def test_state_travels_from_launcher_to_task(ecs, app_root, mongo_client, make_state, monkeypatch, caplog):
    """What run_task sends is what the container's fargate_handler needs to run in that state."""
    caplog.set_level(logging.INFO)
    state = make_state("connecticut")
    with state_scope(state):
        arn = FargateExecutor().run_task("hello", {"run_id": "r-1"})
    for name, value in environment_of(ecs, arn).items():
        monkeypatch.setenv(name, value)
    assert fargate_handler() == 0
    assert mongo_client[state].task_runs.find_one({"run_id": "r-1"})["state"] == state


# --- issue 11 §7: launches that mean what they say ---

@pytest.mark.parametrize("envs", [
    {"a": 1, "A": 2},
    {"ß": "x", "SS": "y"},  # "ß".upper() == "SS"
    {"region ": "us", "region": "eu"},
    {"constitution_state": "ohio", "CONSTITUTION_STATE": "texas"},
    {"CONSTITUTION_STATE": "Bad State", "constitution_state": "ohio"},  # the bad one was dropped
    {"flag": None, "FLAG": "1"},  # "leave out" and "set" at once
], ids=repr)
def test_env_names_that_collide_are_refused_naming_both(ecs, sent_run_task_params, envs):
    first, second = envs
    with state_scope("ohio"), pytest.raises(ValueError, match="both") as raised:
        FargateExecutor().run_task("hello", envs)
    assert repr(first) in str(raised.value) and repr(second) in str(raised.value)
    assert sent_run_task_params == []


def test_two_spellings_with_the_same_value_are_one_variable(ecs):
    with state_scope("ohio"):
        arn = FargateExecutor().run_task("hello", {"batch": 5, "BATCH": "5"})
    assert environment_of(ecs, arn)["BATCH"] == "5"


@pytest.mark.parametrize("key", ["TASK_NAME", "task_name", " Task_Name "])
@pytest.mark.parametrize("value", ["failing", "", None, 7])
def test_task_name_cannot_be_overridden_through_envs(ecs, sent_run_task_params, key, value):
    envs = {key: value}
    if value is None:  # "leave it out" cannot remove it either: it is simply the task's name
        with state_scope("ohio"):
            arn = FargateExecutor().run_task("hello", envs)
        assert environment_of(ecs, arn)["TASK_NAME"] == "hello"
        return
    with state_scope("ohio"), pytest.raises(ValueError, match="TASK_NAME"):
        FargateExecutor().run_task("hello", envs)
    assert sent_run_task_params == []


@pytest.mark.parametrize("value", ["Ohio", "admin", "", " ohio", "ohio\x00", 5, ["ohio"]])
def test_a_state_given_in_envs_is_validated_like_any_state(ecs, sent_run_task_params, value):
    from aws_helper_sync.context.state import InvalidStateError

    with state_scope("texas"), pytest.raises(InvalidStateError, match="CONSTITUTION_STATE in envs"):
        FargateExecutor().run_task("hello", {"Constitution_State": value})
    assert sent_run_task_params == []


def test_a_state_given_in_envs_must_be_allowed(ecs, sent_run_task_params, monkeypatch):
    from aws_helper_sync.context.state import InvalidStateError

    monkeypatch.setenv("ALLOWED_STATES", "ohio")
    with state_scope("ohio"), pytest.raises(InvalidStateError, match="ALLOWED_STATES"):
        FargateExecutor().run_task("hello", {"constitution_state": "texas"})
    assert sent_run_task_params == []


@pytest.fixture
def sent_run_task_bodies():
    """The raw body of each RunTask request, as botocore puts it on the wire."""
    bodies: list[bytes] = []

    def record(request, **_):
        bodies.append(bytes(request.body))

    events = aws_client("ecs").meta.events
    events.register("before-send.ecs.RunTask", record)
    yield bodies
    events.unregister("before-send.ecs.RunTask", record)


def ecs_character_count(body: bytes) -> int:
    """What ECS counts in a RunTask body: the characters of the overrides JSON as sent,
    formatting included, a \\uXXXX escape being the one character it stands for."""
    text = body.decode("utf-8")
    start = text.index('"overrides": ') + len('"overrides": ')
    _, end = json.JSONDecoder().raw_decode(text, start)
    return len(re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text[start:end]))


@pytest.mark.parametrize("char", ["y", "€", "ß", "名"])
def test_the_overrides_limit_is_what_ecs_counts(ecs, sent_run_task_bodies, char):
    executor = FargateExecutor()
    with state_scope("ohio"):
        base = overrides_size(executor.build_overrides("hello", {"payload": "", "note": "Zoë"}))
        fits = {"payload": char * (ECS_OVERRIDES_LIMIT - base), "note": "Zoë"}
        arn = executor.run_task("hello", fits)  # exactly 8192: ECS takes it (moto does not check)
        with pytest.raises(ValueError, match="8193 characters"):
            executor.run_task("hello", {**fits, "payload": fits["payload"] + char})
    (body,) = sent_run_task_bodies  # the refused one never left
    assert ecs_character_count(body) == ECS_OVERRIDES_LIMIT
    assert environment_of(ecs, arn)["PAYLOAD"] == char * (ECS_OVERRIDES_LIMIT - base)
