"""``FargateExecutor``: launch ECS Fargate tasks that carry the constitution-state.

    executor = FargateExecutor()                        # ECS_CLUSTER, ECS_SUBNETS, AWS_REGION
    with state_scope("connecticut"):
        arn = executor.run_task("reindex", {"collection": "land_records"})
    # the container sees CONSTITUTION_STATE=connecticut, TASK_NAME=reindex, COLLECTION=land_records
# (and SESSION={"state":"connecticut"} with PROPAGATE_SESSION=true, for the async framework's tasks)

The task definition family and its container are both named after the task
unless told otherwise; the container runs ``fargate_handler`` (or
``python -m aws_helper_sync.fargate``), which picks the class from TASK_NAME.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from .. import settings
from ..aws import aws_client
from ..context.sources import (
    SESSION_ENV,
    check_given_session,
    session_env,
    session_state_from_json,
    session_to_write,
)
from ..context.state import get_state
from ..context.threads import ContextThreadPoolExecutor
from ..entrypoint import require_state
from ..errors import ConfigurationError
from ..utils.serializer import serialize_mongo_types

logger = logging.getLogger(__name__)

ECS_OVERRIDES_LIMIT = 8192  # characters of the JSON overrides, per ECS RunTask
ECS_MAX_COUNT = 10  # tasks per RunTask call
STATE_ENV = "CONSTITUTION_STATE"
TASK_NAME_ENV = "TASK_NAME"


class TaskLaunchError(RuntimeError):
    """ECS started no task; ``failures`` holds ECS's own reasons."""

    def __init__(self, message: str, failures: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])


def _as_list(value: str | Iterable[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if isinstance(item, str) and item.strip()]


def _env_value(value: Any) -> str:
    """A container environment value: text as is, booleans lower-case, the rest JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    converted = serialize_mongo_types(value)
    return converted if isinstance(converted, str) else json.dumps(converted)


def build_environment(task_name: str, envs: Mapping[str, Any] | None) -> dict[str, str]:
    """The container environment: names upper-cased, values as text, state and task name added.

    ``None`` values are left out. Two names that become the same variable
    (``"a"``/``"A"``, ``"ß"``/``"SS"``, ``"a "``/``"a"``) with different values are
    a ValueError naming both, never a silent pick. ``TASK_NAME`` is always
    ``task_name`` (the class the container loads): envs cannot change it.
    ``CONSTITUTION_STATE`` comes from ``envs`` when given (validated as every
    entry point validates a state), else from the current state; with neither the
    task could not run, so that is an error here rather than in the container
    minutes later. ``SESSION`` is added with that state when
    ``PROPAGATE_SESSION=true``; one given in envs must name the same state.
    """
    environment: dict[str, str] = {}
    given_as: dict[str, Any] = {}  # normalised name -> the caller's key
    given: dict[str, Any] = {}  # normalised name -> the caller's value, None included
    for key, value in (envs or {}).items():
        if not isinstance(key, str) or not key.strip() or "=" in key or "\x00" in key:
            raise ValueError(f"invalid environment variable name {key!r} for task {task_name!r}")
        name = key.strip().upper()
        text = None if value is None else _env_value(value)
        if name in given_as and given[name] != text:
            raise ValueError(
                f"envs {given_as[name]!r} and {key!r} are both the variable {name!r} for task "
                f"{task_name!r}, with different values: give it once"
            )
        given_as[name], given[name] = key, text
        if text is not None:
            environment[name] = text
    if STATE_ENV in environment:  # once every name is known to mean one thing
        key = given_as[STATE_ENV]
        environment[STATE_ENV] = require_state(envs[key], f"{STATE_ENV} in envs (key {key!r})")  # type: ignore[index]
    if environment.get(TASK_NAME_ENV, task_name) != task_name:
        raise ValueError(
            f"{TASK_NAME_ENV} is the launched task ({task_name!r}); envs key "
            f"{given_as[TASK_NAME_ENV]!r} cannot change it: launch that task by its own name"
        )
    if STATE_ENV not in environment:
        state = get_state()
        if state is None:
            raise ValueError(
                f"no constitution-state for task {task_name!r}: run inside state_scope(...) "
                f"or pass {STATE_ENV} in envs"
            )
        environment[STATE_ENV] = state
    _add_session(environment, given_as.get(SESSION_ENV))
    environment[TASK_NAME_ENV] = task_name
    return environment


def _add_session(environment: dict[str, str], key: Any) -> None:
    """``SESSION`` (the async framework's JSON ``{"state": ...}``) with the task's state, when propagated.

    ``PROPAGATE_SESSION=true`` adds it; a ``SESSION`` given in envs is kept as
    given (a ``user`` in it included), but it must be readable JSON naming the
    task's ``CONSTITUTION_STATE`` or none: a different one is a ValueError, as the
    task would refuse it (exit 1) minutes later, and a consumer of the async
    framework, reading only ``SESSION``, would run in the other state.
    """
    state = environment[STATE_ENV]
    if SESSION_ENV in environment:
        source = f"{SESSION_ENV} in envs (key {key!r})"
        check_given_session(session_state_from_json(environment[SESSION_ENV], source), source, state, STATE_ENV)
        return
    session_state = session_to_write(state)
    if session_state is not None:
        environment[SESSION_ENV] = session_env(session_state)


def overrides_size(overrides: Mapping[str, Any]) -> int:
    """The size ECS gives ``overrides``: characters of its JSON, formatting included.

    The JSON is written as botocore writes the request (``", "`` and ``": "``
    separators); a non-ASCII character counts once, as ECS counts it, not as the
    six characters of the ``\\uXXXX`` escape botocore puts on the wire.
    """
    return len(json.dumps(overrides, ensure_ascii=False))


class FargateExecutor:
    """Starts ECS tasks on Fargate in one cluster and network; safe to share between threads."""

    def __init__(
        self,
        cluster: str | None = None,
        subnets: str | Iterable[str] | None = None,
        region: str | None = None,
        security_groups: str | Iterable[str] | None = None,
    ) -> None:
        self.cluster = cluster or settings.ecs_cluster()
        if not self.cluster:
            raise ConfigurationError("no ECS cluster: pass cluster= or set ECS_CLUSTER")
        self.subnets = _as_list(subnets) if subnets is not None else settings.ecs_subnets()
        if not self.subnets:
            raise ConfigurationError("no subnets: pass subnets= or set ECS_SUBNETS (comma separated)")
        self.region = region or settings.aws_region()
        if not self.region:
            raise ConfigurationError("no AWS region: pass region= or set AWS_REGION")
        self.security_groups = (
            _as_list(security_groups) if security_groups is not None else settings.ecs_security_groups()
        )

    @property
    def client(self) -> Any:
        """The process-wide cached boto3 ECS client of ``region`` (thread-safe)."""
        return aws_client("ecs", self.region)

    @property
    def ecs_client(self) -> Any:
        """The async framework's name for ``client`` (same object)."""
        return self.client

    def build_overrides(
        self, task_name: str, envs: Mapping[str, Any] | None = None, container_name: str | None = None
    ) -> dict[str, Any]:
        """The ``overrides`` of RunTask; refused when over ECS's 8192-character limit."""
        environment = build_environment(task_name, envs)
        overrides = {
            "containerOverrides": [{
                "name": container_name or task_name,
                "environment": [{"name": k, "value": v} for k, v in environment.items()],
            }]
        }
        size = overrides_size(overrides)
        if size > ECS_OVERRIDES_LIMIT:
            raise ValueError(
                f"overrides for task {task_name!r} are {size} characters; ECS accepts at most "
                f"{ECS_OVERRIDES_LIMIT}: store large inputs (MongoDB, S3) and pass their key instead"
            )
        return overrides

    def run_task(
        self,
        task_name: str,
        envs: Mapping[str, Any] | None = None,
        container_name: str | None = None,
        task_definition_revision: int | str | None = None,
        count: int = 1,
        launch_type: str | None = "FARGATE",
        assign_public_ip: str = "ENABLED",
    ) -> str:
        """Start ``count`` tasks of the definition ``task_name`` and return the first task's ARN.

        Raises TaskLaunchError (with ECS's ``failures``) when ECS starts none.
        """
        if not isinstance(task_name, str) or not task_name.strip():
            raise ValueError("task_name must be a non-empty string (the task definition family)")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= ECS_MAX_COUNT:
            raise ValueError(f"count must be an int from 1 to {ECS_MAX_COUNT}, got {count!r}")
        definition = task_name if task_definition_revision is None else f"{task_name}:{task_definition_revision}"
        network: dict[str, Any] = {"subnets": list(self.subnets), "assignPublicIp": assign_public_ip}
        if self.security_groups:
            network["securityGroups"] = list(self.security_groups)
        params: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": definition,
            "count": count,
            "overrides": self.build_overrides(task_name, envs, container_name),
            "networkConfiguration": {"awsvpcConfiguration": network},
        }
        if launch_type:
            params["launchType"] = launch_type
        response = self.client.run_task(**params)
        tasks = response.get("tasks") or []
        failures = response.get("failures") or []
        if not tasks:
            reasons = "; ".join(
                f"{f.get('arn', definition)}: {f.get('reason', 'unknown')}"
                + (f" ({f['detail']})" if f.get("detail") else "")
                for f in failures
            ) or "no reason given"
            raise TaskLaunchError(f"ECS started no task for {definition}: {reasons}", failures)
        if failures:
            logger.warning("ECS started %d of %d tasks for %s; failures: %s",
                           len(tasks), count, definition, failures)
        arn: str = tasks[0]["taskArn"]
        logger.info("started task %s (%s)", arn, definition)
        return arn

    def run_task_batch(
        self,
        task_name: str,
        envs_list: Iterable[Mapping[str, Any] | None],
        max_workers: int | None = None,
        **kwargs: Any,
    ) -> list[str | None]:
        """Start one task per ``envs`` concurrently; ARNs in input order, None where it failed.

        Each launch runs in a copy of the caller's context, so every task gets the
        caller's state unless its envs name another. Failures are logged, not raised.
        """
        batch = list(envs_list)
        if not batch:
            return []
        workers = max_workers or min(len(batch), 10)
        with ContextThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self.run_task, task_name, envs, **kwargs) for envs in batch]
        results: list[str | None] = []
        for index, future in enumerate(futures):
            try:
                results.append(future.result())
            except Exception:
                logger.exception("task %d of %d for %s was not started", index + 1, len(batch), task_name)
                results.append(None)
        return results

    def get_task_status(self, task_arn: str) -> dict[str, Any]:
        """The task's status: ``status`` (ECS ``lastStatus``), ``stop_reason`` and more.

        The keys of the async framework come first (``status``, ``desired_status``,
        ``started_at``, ``stopped_at``, ``stop_reason``, ``task_arn``); the longer
        names (``last_status``, ``stopped_reason``, ``stop_code``, ``created_at``,
        ``containers``) stay for code written against them. A task ECS does not
        know (never started, or stopped long ago) is ``{"status": "NOT_FOUND",
        "task_arn": ...}``. Unlike the async framework, a failed ECS call raises
        (a throttled or unauthorised call is not a task status).
        """
        response = self.client.describe_tasks(cluster=self.cluster, tasks=[task_arn])
        tasks = response.get("tasks") or []
        if not tasks:
            return {"status": "NOT_FOUND", "task_arn": task_arn}
        task = tasks[0]
        return {
            "status": task.get("lastStatus"),
            "desired_status": task.get("desiredStatus"),
            "started_at": task.get("startedAt"),
            "stopped_at": task.get("stoppedAt"),
            "stop_reason": task.get("stoppedReason"),
            "task_arn": task.get("taskArn") or task_arn,
            "last_status": task.get("lastStatus"),
            "stopped_reason": task.get("stoppedReason"),
            "stop_code": task.get("stopCode"),
            "created_at": task.get("createdAt"),
            "containers": [
                {
                    "name": c.get("name"),
                    "last_status": c.get("lastStatus"),
                    "exit_code": c.get("exitCode"),
                    "reason": c.get("reason"),
                }
                for c in task.get("containers") or []
            ],
        }
