"""``FargateExecutor`` against moto's ECS (SPEC §9)."""

from __future__ import annotations

import json
import logging
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
from aws_helper_sync.fargate.executor import ECS_OVERRIDES_LIMIT, TaskLaunchError

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


def test_explicit_envs_win(ecs, make_state):
    with state_scope(make_state("ohio")):
        arn = FargateExecutor().run_task("hello", {"constitution_state": "texas", "Task_Name": "hello2"})
    env = environment_of(ecs, arn)
    assert (env["CONSTITUTION_STATE"], env["TASK_NAME"]) == ("texas", "hello2")


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
        base = len(json.dumps(executor.build_overrides("hello", {"p": ""}), separators=(",", ":")))
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


def test_get_task_status(ecs):
    executor = FargateExecutor()
    with state_scope("ohio"):
        arn = executor.run_task("hello")
    status = executor.get_task_status(arn)
    assert status["task_arn"] == arn
    assert isinstance(status["last_status"], str) and status["desired_status"] == "RUNNING"
    assert [c["name"] for c in status["containers"]] == ["hello"]
    assert executor.get_task_status(arn.rsplit("/", 1)[0] + "/does-not-exist") is None


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
