"""The land-records example (examples/land_records) through the real handlers.

What users copy must work: each entry point runs through ``api_handler``,
``sqs_handler`` / the worker, ``lambda_handler`` and ``fargate_handler``
against SecantusDB and moto.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest

from aws_helper_sync import (
    api_handler,
    fargate_handler,
    lambda_handler,
    sqs_handler,
    state_scope,
)
from aws_helper_sync.sqs.worker import run_worker
from tests.api_events import json_body, v2_event
from tests.conftest import EXAMPLE_ROOT, REPORTS_DATABASE
from tests.example_support import parcel, parcel_events_queue
from tests.sqs_support import failed_ids, lambda_event, lambda_record, receive_all


def post(state: str | None, body) -> dict:
    headers = {"constitution-state": state} if state else {}
    return api_handler(v2_event("POST", "/parcels", headers=headers, body=body))


def get(state: str, path: str, **query) -> dict:
    return api_handler(v2_event("GET", path, headers={"constitution-state": state}, query=query or None))


def recorded(state: str, parcel_id: str, county: str = "Hartford") -> dict:
    """A parcel.recorded event as the API publishes it (content of the SNS message)."""
    return {
        "event_id": f"{parcel_id}:recorded", "type": "parcel.recorded", "parcel_id": parcel_id,
        "occurred_at": "2024-05-06T07:08:09+00:00", "parcel": parcel(parcel_id, county),
    }


@pytest.fixture
def topic(example_app, mongo_client, boto_client, unique, monkeypatch):
    """The parcel-events topic and its queue; returns the queue URL."""
    return parcel_events_queue(boto_client, unique, monkeypatch)[1]


# --- API ---

def test_post_records_the_parcel_and_publishes_its_event_in_the_state(topic, make_state, boto_client, mongo_client):
    state = make_state("connecticut")

    response = post(state, parcel("HFD-0001", owner=" Avery Holdings LLC ", acres=2))

    assert response["statusCode"] == 201
    assert response["headers"]["Location"] == "/parcels/HFD-0001"
    stored = mongo_client[state]["parcels"].find_one({}, {"_id": 0})
    assert stored["owner"] == "Avery Holdings LLC" and stored["acres"] == 2.0
    (message,) = receive_all(boto_client("sqs"), topic)
    assert message["MessageAttributes"]["constitution-state"]["StringValue"] == state
    assert message["MessageAttributes"]["event_type"]["StringValue"] == "parcel.recorded"
    event = json.loads(message["Body"])
    assert (event["event_id"], event["parcel"]["parcel_id"]) == ("HFD-0001:recorded", "HFD-0001")


@pytest.mark.parametrize(("body", "message"), [
    ({"county": "Hartford", "owner": "A", "acres": 1}, "missing fields: parcel_id"),
    ({**parcel("HFD-0001"), "zoning": "R1"}, "unknown fields: zoning"),
    (parcel("hfd 1"), "parcel_id must be 3-40 upper-case letters, digits or '-'"),
    (parcel("HFD-0001", owner="  "), "owner must be a non-empty string"),
    (parcel("HFD-0001", acres=0), "acres must be a positive number"),
    ({**parcel("HFD-0001"), "acres": True}, "acres must be a positive number"),
])
def test_post_validation(topic, make_state, body, message, mongo_client):
    state = make_state("ohio")
    response = post(state, body)
    assert (response["statusCode"], json_body(response)["message"]) == (400, message)
    assert mongo_client[state]["parcels"].count_documents({}) == 0


def test_a_parcel_is_recorded_once_per_state(topic, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")
    assert post(ohio, parcel("P-001"))["statusCode"] == 201
    duplicate = post(ohio, parcel("P-001"))
    assert (duplicate["statusCode"], json_body(duplicate)["message"]) == (409, "parcel P-001 is already recorded")
    assert post(texas, parcel("P-001"))["statusCode"] == 201  # another state, another database


def test_without_the_topic_the_parcel_is_kept_and_the_failure_reported(example_app, mongo_client, make_state, caplog):
    state = make_state("ohio")
    response = post(state, parcel("P-001"))
    assert (response["statusCode"], json_body(response)["event_published"]) == (201, False)
    assert mongo_client[state]["parcels"].count_documents({"parcel_id": "P-001"}) == 1
    assert "PARCEL_EVENTS_TOPIC_ARN" in caplog.text


def test_list_pages_by_parcel_id_and_filters_by_county(topic, make_state):
    state = make_state("ohio")
    for n in range(5):
        post(state, parcel(f"P-{n:03d}", county="Franklin" if n % 2 else "Hamilton"))

    first = json_body(get(state, "/parcels", limit="2"))
    second = json_body(get(state, "/parcels", limit="2", after=first["next"]))
    last = json_body(get(state, "/parcels", limit="2", after=second["next"]))
    assert [[p["parcel_id"] for p in page["items"]] for page in (first, second, last)] == [
        ["P-000", "P-001"], ["P-002", "P-003"], ["P-004"]]
    assert last["next"] is None
    franklin = json_body(get(state, "/parcels", county="Franklin"))
    assert [p["parcel_id"] for p in franklin["items"]] == ["P-001", "P-003"]
    assert "_id" not in franklin["items"][0]
    assert get(state, "/parcels", limit="101")["statusCode"] == 400


def test_get_sees_only_the_callers_state(topic, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")
    post(ohio, parcel("P-001"))
    assert json_body(get(ohio, "/parcels/P-001"))["parcel_id"] == "P-001"
    missing = get(texas, "/parcels/P-001")
    assert (missing["statusCode"], json_body(missing)["message"]) == (404, "parcel P-001 not found")


# --- consumer ---

def test_consumer_writes_each_state_group_to_its_own_database(example_app, mongo_client, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")
    records = [lambda_record(recorded(ohio, "P-001"), state=ohio),
               lambda_record(recorded(texas, "P-002"), state=texas),
               lambda_record(recorded(ohio, "P-003"), state=ohio)]

    response = sqs_handler("parcel_events")(lambda_event(*records))

    assert response["batchItemFailures"] == []
    history = {s: sorted(d["parcel_id"] for d in mongo_client[s]["parcel_history"].find()) for s in (ohio, texas)}
    assert history == {ohio: ["P-001", "P-003"], texas: ["P-002"]}
    entry = mongo_client[ohio]["parcel_history"].find_one({"parcel_id": "P-001"})
    # stored as a date, not text; read back tz-aware (UTC)
    assert entry["occurred_at"] == datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)


def test_consumer_is_idempotent_and_fails_only_malformed_records(example_app, mongo_client, make_state):
    state = make_state("ohio")
    handler = sqs_handler("parcel_events")
    event = recorded(state, "P-001")
    handler(lambda_event(lambda_record(event, state=state)))

    bad = lambda_record({"parcel_id": "P-002"}, state=state)
    response = handler(lambda_event(lambda_record(event, state=state), bad))  # a redelivery and a bad one

    assert failed_ids(response) == {bad["messageId"]}
    assert mongo_client[state]["parcel_history"].count_documents({}) == 1


def test_api_to_sns_to_sqs_to_worker(topic, make_state, mongo_client):
    ct, nj = make_state("connecticut"), make_state("new_jersey")
    for state, ids in ((ct, ["HFD-0001", "HFD-0002"]), (nj, ["MER-0001"])):
        for parcel_id in ids:
            assert post(state, parcel(parcel_id))["statusCode"] == 201

    stats = run_worker("parcel_events", topic, until_empty=True, wait_time_seconds=0, handle_signals=False)

    assert (stats.received, stats.succeeded, stats.failed) == (3, 3, 0)
    assert mongo_client[ct]["parcel_history"].count_documents({}) == 2
    assert mongo_client[nj]["parcel_history"].count_documents({}) == 1


# --- standalone Lambda ---

def seed_parcels(mongo_client, state: str, *parcels: tuple[str, str, float]) -> None:
    mongo_client[state]["parcels"].insert_many([
        {"parcel_id": pid, "county": county, "owner": "X", "acres": acres,
         "recorded_at": datetime.datetime(2024, 1, 1)} for pid, county, acres in parcels
    ])


def test_parcel_report_per_county_stored_in_core(example_app, mongo_client, make_state):
    state = make_state("connecticut")
    seed_parcels(mongo_client, state, ("A-001", "Hartford", 2.5), ("A-002", "Hartford", 0.5),
                 ("B-001", "New Haven", 12.25))
    handler = lambda_handler("parcel_report")

    result = handler({"constitution-state": state, "data": {}})
    by_county = handler({"constitution-state": state, "data": {"county": "New Haven"}})

    assert result["success"] is True
    report = result["data"]
    assert report["counties"] == [{"county": "Hartford", "parcels": 2, "acres": 3.0},
                                  {"county": "New Haven", "parcels": 1, "acres": 12.25}]
    assert (report["total_parcels"], report["total_acres"], report["state"]) == (3, 15.25, state)
    assert isinstance(report["_id"], str)  # ObjectId serialized
    assert by_county["data"]["counties"] == [{"county": "New Haven", "parcels": 1, "acres": 12.25}]
    assert mongo_client[REPORTS_DATABASE]["parcel_reports"].count_documents({"state": state}) == 2


def test_parcel_report_refuses_bad_data(example_app, mongo_client, make_state):
    state = make_state("ohio")
    handler = lambda_handler("parcel_report")
    assert handler({"constitution-state": state, "data": [1]})["error_type"] == "TypeError"
    assert handler({"constitution-state": state, "data": {"county": ""}})["error"] == (
        "county must be a non-empty string")
    assert handler({"data": {}})["error"].startswith("constitution-state in the event is required")


# --- Fargate task ---

def test_reindex_repairs_missing_history_in_batches(example_app, mongo_client, make_state, monkeypatch):
    state = make_state("ohio")
    seed_parcels(mongo_client, state, *[(f"P-{n:03d}", "Franklin", 1.0) for n in range(5)])
    mongo_client[state]["parcel_history"].insert_one(
        {"event_id": "P-001:recorded", "type": "parcel.recorded", "parcel_id": "P-001"})
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    monkeypatch.setenv("BATCH_SIZE", "2")

    assert fargate_handler("reindex") == 0
    assert fargate_handler("reindex") == 0  # a second run finds nothing to repair

    history = mongo_client[state]["parcel_history"]
    assert sorted(d["parcel_id"] for d in history.find()) == [f"P-{n:03d}" for n in range(5)]
    indexes = set(history.index_information()) | set(mongo_client[state]["parcels"].index_information())
    assert {"event_id_unique", "parcel_id_occurred_at", "parcel_id_unique", "county_parcel_id"} <= indexes


def test_reindex_returns_what_it_did(example_app, mongo_client, make_state):
    from aws_helper_sync.fargate.task_base import FargateTask
    from aws_helper_sync.loading import load_class

    state = make_state("ohio")
    seed_parcels(mongo_client, state, ("P-001", "Franklin", 1.0), ("P-002", "Franklin", 1.0))
    task_class = load_class(EXAMPLE_ROOT / "task" / "reindex" / "task.py", FargateTask)

    result = task_class({"constitution_state": state, "batch_size": "1"}).run()

    assert (result["checked"], result["repaired"]) == (2, 2)


@pytest.mark.parametrize("env", [{"BATCH_SIZE": "zero"}, {"CONSTITUTION_STATE": ""}])
def test_reindex_failures_exit_1(example_app, mongo_client, make_state, monkeypatch, env):
    monkeypatch.setenv("CONSTITUTION_STATE", make_state("ohio"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert fargate_handler("reindex") == 1


# --- repositories ---

def test_repositories_database_and_indexes(example_app, mongo_client, make_state):
    from pymongo.errors import DuplicateKeyError
    from repositories import ParcelReportRepository, ParcelRepository

    state = make_state("ohio")
    with state_scope(state):
        ParcelRepository().record(parcel("P-001"))
        with pytest.raises(DuplicateKeyError):
            ParcelRepository().record(parcel("P-001"))
        assert ParcelReportRepository().database_name == REPORTS_DATABASE
        ParcelReportRepository().collection.insert_one({"state": state, "generated_at": 1})
    assert ParcelReportRepository().latest(state)["generated_at"] == 1  # fixed database: no state needed
    # (ensured once per process: another test may have dropped the database since, so ask explicitly)
    assert ParcelReportRepository().ensure_indexes() == ["state_generated_at"]
    assert "state_generated_at" in mongo_client[REPORTS_DATABASE]["parcel_reports"].index_information()


def test_example_is_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", str(EXAMPLE_ROOT)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
