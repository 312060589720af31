"""``FargateTask`` and ``fargate_handler`` on the sample app (tests/app/task) and SecantusDB (SPEC §9)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aws_helper_sync import (
    FargateTask,
    StateLogFilter,
    fargate_handler,
    get_state,
    state_scope,
)
from aws_helper_sync.entrypoint import MissingStateError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def state(make_state):
    return make_state("connecticut")


@pytest.fixture
def task_env(app_root, mongo_client, state, monkeypatch):
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    monkeypatch.setenv("RUN_ID", "run-1")
    monkeypatch.delenv("TASK_NAME", raising=False)
    monkeypatch.delenv("GREETING", raising=False)
    return mongo_client[state]


def test_success_is_exit_code_0_and_runs_in_the_state(task_env, state, monkeypatch):
    monkeypatch.setenv("greeting", "hello")  # lower-case variables are found too
    assert fargate_handler("hello") == 0
    run = task_env.task_runs.find_one({"run_id": "run-1"})
    assert (run["state"], run["greeting"]) == (state, "hello")


def test_task_name_from_the_environment(task_env, monkeypatch):
    monkeypatch.setenv("TASK_NAME", "hello")
    assert fargate_handler() == 0
    assert task_env.task_runs.count_documents({}) == 1


def test_failing_task_is_exit_code_1_and_logged_with_its_state(task_env, state, caplog):
    caplog.set_level(logging.ERROR)
    caplog.handler.addFilter(StateLogFilter())
    assert fargate_handler("failing") == 1
    (record,) = caplog.records
    assert record.exc_info[1].args == ("index build failed",)
    assert record.constitution_state == state


@pytest.mark.parametrize("value", [None, "", "Connecticut", "admin", "../x"])
def test_missing_or_invalid_state_is_exit_code_1_and_nothing_written(task_env, mongo_client, monkeypatch,
                                                                     caplog, value):
    before = set(mongo_client.list_database_names())
    if value is None:
        monkeypatch.delenv("CONSTITUTION_STATE")
    else:
        monkeypatch.setenv("CONSTITUTION_STATE", value)
    assert fargate_handler("hello") == 1
    assert "CONSTITUTION_STATE" in caplog.text
    assert set(mongo_client.list_database_names()) == before


@pytest.mark.parametrize(("name", "logged"), [
    ("nope", "task/nope/task.py not found"),
    ("../lambda/echo", "invalid task name"),
    ("", "no task name"),
    (None, "no task name"),
])
def test_unknown_or_missing_task_name_is_exit_code_1(task_env, caplog, name, logged):
    assert fargate_handler(name) == 1
    assert logged in caplog.text


def test_get_env_order_explicit_then_environment_upper_then_lower(monkeypatch):
    monkeypatch.setenv("ALPHA", "env-upper")
    monkeypatch.setenv("alpha", "env-lower")
    monkeypatch.setenv("beta", "env-lower")
    task = FargateTask(envs={"gamma": "explicit", "DELTA": 0})
    assert task.get_env("alpha") == "env-upper"
    assert task.get_env("BETA") == "env-lower"
    assert task.get_env("gamma") == "explicit" and task.get_env("GAMMA") == "explicit"
    assert task.get_env("delta") == 0
    assert task.get_env("missing", "fallback") == "fallback"
    assert FargateTask(envs={"alpha": "explicit"}).get_env("ALPHA") == "explicit"


def test_require_env_names_the_missing_variable(monkeypatch):
    monkeypatch.delenv("BUCKET", raising=False)
    with pytest.raises(ValueError, match="BUCKET"):
        FargateTask().require_env("bucket")


def test_run_sets_the_state_from_explicit_envs_and_restores_the_caller(make_state):
    class Probe(FargateTask):
        def execute(self):
            return get_state()

    outer, inner = make_state("ohio"), make_state("texas")
    with state_scope(outer):
        assert Probe(envs={"CONSTITUTION_STATE": inner}).run() == inner
        assert get_state() == outer


def test_run_without_state_raises_a_clear_error(monkeypatch):
    monkeypatch.delenv("CONSTITUTION_STATE", raising=False)

    class Probe(FargateTask):
        def execute(self):
            raise AssertionError("must not run")

    with state_scope("ohio"), pytest.raises(MissingStateError, match="CONSTITUTION_STATE"):
        Probe().run()  # the caller's state is not a substitute: the task needs its own


def test_python_dash_m_runs_the_task_and_returns_its_exit_code(task_env, mongo_uri, state, app_root):
    env = {**os.environ, "APP_ROOT": str(app_root), "MONGODB_URI": mongo_uri,
           "CONSTITUTION_STATE": state, "RUN_ID": "run-m", "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "aws_helper_sync.fargate", "hello"],
                        env=env, capture_output=True, text=True, timeout=60, check=False)
    failed = subprocess.run([sys.executable, "-m", "aws_helper_sync.fargate", "failing"],
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    assert task_env.task_runs.count_documents({"run_id": "run-m"}) == 1
    assert failed.returncode == 1 and "index build failed" in failed.stderr
    assert f"[{state}]" in failed.stderr  # the state is on every log line of the task
