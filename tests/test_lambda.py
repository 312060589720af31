"""Standalone Lambdas: ``lambda_handler(name)(event, context)`` on the sample app (SPEC §6)."""

from __future__ import annotations

import logging

import pytest

from aws_helper_sync import (
    Lambda,
    StateLogFilter,
    get_state,
    lambda_handler,
    state_scope,
)
from tests.test_context import INVALID_STATES


def test_success_serializes_object_ids_and_datetimes(app_root, make_state):
    state = make_state("connecticut")
    result = lambda_handler("echo")({"constitution-state": state, "data": {"parcel": 7}}, None)
    assert result == {
        "success": True,
        "data": {
            "data": {"parcel": 7},
            "state": state,
            "oid": "65a1b2c3d4e5f6a7b8c9d0e1",
            "at": "2024-01-02T03:04:05+00:00",  # naive datetimes are UTC, written with the offset
        },
    }


def test_data_is_the_event_itself_without_a_data_key(app_root, make_state):
    state = make_state("ohio")
    event = {"constitution-state": state, "parcel": 9}
    assert lambda_handler("echo")(event, None)["data"]["data"] == event


def test_writes_to_the_state_database_and_returns_the_stored_document(app_root, mongo_client, make_state):
    handler = lambda_handler("land_records")
    connecticut, new_jersey = make_state("connecticut"), make_state("new_jersey")
    first = handler({"constitution-state": connecticut, "data": {"parcel_id": 1}}, None)
    second = handler({"constitution-state": new_jersey, "data": {"parcel_id": 2}}, None)
    assert first["success"] and second["success"]
    assert first["data"]["recorded_at"] == "2024-05-06T07:08:09+00:00"  # read back tz-aware (UTC)
    assert isinstance(first["data"]["_id"], str) and len(first["data"]["_id"]) == 24
    assert mongo_client[connecticut].land_records.count_documents({"parcel_id": 1}) == 1
    assert mongo_client[new_jersey].land_records.count_documents({"parcel_id": 2}) == 1
    assert mongo_client[new_jersey].land_records.count_documents({"parcel_id": 1}) == 0


@pytest.mark.parametrize("event", [{"data": {"parcel_id": 1}}, {"constitution-state": "", "data": {}},
                                   {"constitution-state": None}])
def test_missing_state_is_a_failure_with_error_type(app_root, event):
    result = lambda_handler("echo")(event, None)
    assert result["success"] is False
    assert result["error_type"] == "MissingStateError"
    assert "constitution-state" in result["error"]


@pytest.mark.parametrize("bad", INVALID_STATES + [7, ["ohio"], {"$ne": None}])
def test_invalid_state_is_a_failure_and_creates_no_database(app_root, mongo_client, bad):
    before = set(mongo_client.list_database_names())
    result = lambda_handler("land_records")({"constitution-state": bad, "data": {"parcel_id": 1}}, None)
    assert result["success"] is False
    assert result["error_type"] == ("MissingStateError" if bad == "" else "InvalidStateError")
    assert set(mongo_client.list_database_names()) == before


def test_validate_failure_is_reported_and_process_does_not_run(app_root, mongo_client, make_state):
    state = make_state("connecticut")
    result = lambda_handler("land_records")({"constitution-state": state, "data": {}}, None)
    assert result == {"success": False, "error": "parcel_id is required", "error_type": "ValueError"}
    assert state not in mongo_client.list_database_names()


def test_exception_in_process_is_reported_and_logged_with_the_state(app_root, make_state, caplog):
    caplog.set_level(logging.ERROR)
    caplog.handler.addFilter(StateLogFilter())
    state = make_state("ohio")
    result = lambda_handler("failing")({"constitution-state": state}, None)
    assert result == {"success": False, "error": "recorder offline", "error_type": "RuntimeError"}
    (record,) = [r for r in caplog.records if "failed" in r.getMessage()]
    assert record.exc_info[1].args == ("recorder offline",)
    assert record.constitution_state == state


def test_unknown_lambda_is_a_failure_naming_the_file_relative_to_the_app_root(app_root, make_state):
    result = lambda_handler("nope")({"constitution-state": make_state("ohio")}, None)
    assert result["success"] is False and result["error_type"] == "EntryPointNotFoundError"
    assert "lambda/nope/main.py" in result["error"] and str(app_root) not in result["error"]


@pytest.mark.parametrize("event", [None, [], "text", 5])
def test_event_that_is_not_an_object_is_a_failure(app_root, event):
    result = lambda_handler("echo")(event, None)
    assert result["success"] is False and result["error_type"] == "TypeError"


@pytest.mark.parametrize("name", ["../api", "a/b", "", ".hidden", None])
def test_unsafe_names_are_refused_at_definition(name):
    with pytest.raises(ValueError, match="invalid lambda name"):
        lambda_handler(name)


def test_state_does_not_leak_into_or_out_of_the_handler(app_root, make_state):
    outer, inner = make_state("ohio"), make_state("texas")
    with state_scope(outer):
        result = lambda_handler("echo")({"constitution-state": inner}, None)
        assert get_state() == outer
    assert result["data"]["state"] == inner


def test_result_that_is_not_json_is_a_failure(app_root, make_state, tmp_path, monkeypatch):
    folder = tmp_path / "lambda" / "odd"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(
        "from aws_helper_sync import Lambda\n\n\n"
        "class OddLambda(Lambda):\n"
        "    def process(self):\n"
        "        return {'value': object()}\n"
    )
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    result = lambda_handler("odd")({"constitution-state": make_state("ohio")}, None)
    assert result["success"] is False and result["error_type"] == "TypeError"


def test_lambda_class_can_be_used_directly():
    class Direct(Lambda):
        def process(self):
            return self.data["x"] * 2

    assert Direct({"data": {"x": 21}}).process() == 42
