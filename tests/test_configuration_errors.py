"""The library's own configuration faults are server errors (issue 11 §4).

Each fault is really raised inside ``process()`` (or ``process_record``,
``execute``) by the library's own setting checks: ``AUTO_CREATE_INDEXES=enabled``,
a broken ``EXTERNAL_MONGODB_CONNECTIONS``, a missing ``ECS_CLUSTER``. None is
the caller's fault, so none may become a 400 that echoes the setting: an API
answers the generic 500 (and logs it), SQS fails the record, Lambda returns
``success: false`` with the type, Fargate exits 1; the message names the variable.
"""

from __future__ import annotations

import logging

import pytest

from aws_helper_sync import (
    ConfigurationError,
    fargate_handler,
    lambda_handler,
    settings,
)
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.database import ExternalClusterConfigError
from aws_helper_sync.database.mongo_manager import resolve_connection_string
from aws_helper_sync.sqs.handler import sqs_handler
from tests.api_events import json_body, v1_event, v2_event
from tests.registry_support import FAULTS
from tests.sqs_support import failed_ids, lambda_event, lambda_record


@pytest.fixture(params=sorted(FAULTS))
def fault(request, monkeypatch, app_root):
    """The fault's kind, with its environment in place; yields the variable it must name."""
    env, removed, variable = FAULTS[request.param]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in removed:
        monkeypatch.delenv(name, raising=False)
    return request.param, variable


@pytest.mark.parametrize("build", [v1_event, v2_event], ids=["v1", "v2"])
def test_api_answers_the_generic_500_and_logs_the_variable(fault, build, make_state, caplog):
    kind, variable = fault
    response = api_handler(build("GET", "/configfault", headers={"constitution-state": make_state("ohio")},
                                 query={"fault": kind}))
    assert response["statusCode"] == 500, response
    body = json_body(response)
    assert body["message"] == "Internal server error" and body["request_id"]
    assert variable not in response["body"]  # the setting is the operator's business
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert any(variable in str(r.exc_info[1]) for r in logged), caplog.text


def test_sqs_fails_the_record(fault, make_state):
    kind, _ = fault
    bad = lambda_record({"fault": kind}, state=make_state("ohio"))
    response = sqs_handler("config_fault")(lambda_event(bad))
    assert failed_ids(response) == {bad["messageId"]}


def test_lambda_returns_success_false_with_the_type_and_the_variable(fault, make_state):
    kind, variable = fault
    result = lambda_handler("configfault")({"constitution-state": make_state("ohio"), "data": {"fault": kind}})
    assert result["success"] is False
    expected = "ExternalClusterConfigError" if kind == "external" else "ConfigurationError"
    assert result["error_type"] == expected
    assert variable in result["error"]


def test_fargate_exits_1_and_logs_the_variable(fault, make_state, monkeypatch, caplog):
    kind, variable = fault
    monkeypatch.setenv("CONSTITUTION_STATE", make_state("ohio"))
    monkeypatch.setenv("FAULT", kind)
    assert fargate_handler("configfault") == 1
    assert variable in caplog.text


def test_configuration_errors_are_not_value_errors(monkeypatch):
    assert issubclass(ExternalClusterConfigError, ConfigurationError)
    assert not issubclass(ConfigurationError, ValueError)
    monkeypatch.setenv("REQUIRE_AUTH", "maybe")
    with pytest.raises(ConfigurationError, match="REQUIRE_AUTH='maybe'"):
        settings.require_auth()
    for name in ("MONGODB_URI", "MONGO_DB_URI", "MONGO_DB_HOST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="MONGODB_URI"):
        resolve_connection_string()


def test_a_malformed_require_auth_is_a_500_not_a_400(app_root, monkeypatch, make_state):
    monkeypatch.setenv("REQUIRE_AUTH", "enabled")
    response = api_handler(v1_event("GET", "/users", headers={"constitution-state": make_state("ohio")}))
    assert response["statusCode"] == 500
    assert "REQUIRE_AUTH" not in response["body"]


def test_a_malformed_allowed_states_refuses_every_entry_point_as_a_server_fault(app_root, monkeypatch, caplog):
    """ "ohio, Texas" is a ConfigurationError naming the entry, never a narrower list (issue 11 §9)."""
    monkeypatch.setenv("ALLOWED_STATES", "ohio, Texas")
    response = api_handler(v1_event("GET", "/users", headers={"constitution-state": "ohio"}))
    assert response["statusCode"] == 500
    assert "Texas" not in response["body"]
    assert "ALLOWED_STATES has a bad entry 'Texas'" in caplog.text
    result = lambda_handler("echo")({"constitution-state": "ohio"})
    assert (result["success"], result["error_type"]) == (False, "ConfigurationError")
    record = lambda_record({}, state="ohio")
    assert failed_ids(sqs_handler("state_recorder")(lambda_event(record))) == {record["messageId"]}
    monkeypatch.setenv("CONSTITUTION_STATE", "ohio")
    assert fargate_handler("hello") == 1
