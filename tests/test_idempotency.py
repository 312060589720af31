"""Idempotency on MongoDB per state (SPEC §12), against SecantusDB and real entry points.

The figures of the exactly-once SNS -> SQS run and of the SIGKILL crash are in
tests/test_reliability_idempotency.py.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from bson import ObjectId
from pymongo.errors import WriteError

from aws_helper_sync import (
    FargateTask,
    SQSConsumer,
    api_handler,
    get_state,
    lambda_handler,
    loading,
    state_scope,
)
from aws_helper_sync.idempotency import (
    IdempotencyConfig,
    IdempotencyConfigError,
    IdempotencyInProgressError,
    IdempotencyKeyError,
    IdempotencyKeyMismatchError,
    IdempotencyResultUnavailableError,
    IdempotencyStateError,
    idempotent,
    idempotent_call,
)
from aws_helper_sync.idempotency import store as store_module
from aws_helper_sync.idempotency.keys import canonical_json, digest, resolve_path
from tests.sqs_support import lambda_record


class Calls:
    """A thread-safe counter of how often a body ran, and with what."""

    def __init__(self) -> None:
        self.seen: list = []
        self._lock = threading.Lock()

    def __call__(self, payload):
        with self._lock:
            self.seen.append(payload)
        return {"n": len(self.seen)}

    @property
    def count(self) -> int:
        return len(self.seen)


@pytest.fixture
def state(make_state, mongo_client):
    return make_state("connecticut")


def records(mongo_client, state, collection="idempotency"):
    return list(mongo_client[state][collection].find())


# --- keys (no server) ---

def test_keys_hash_canonically_and_tell_mongo_types_from_their_text():
    oid = ObjectId()
    assert digest({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == digest({"a": [1, {"x": 1, "y": 2}], "b": 1})
    assert digest({"id": oid}) != digest({"id": str(oid)})
    at = dt.datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=dt.timezone.utc)
    assert digest(at) == digest(at.replace(tzinfo=None, microsecond=123000))  # as MongoDB keeps it
    assert digest(at) != digest(at.isoformat())
    assert digest({1, 2, 3}) == digest({3, 2, 1})
    assert digest(decimal.Decimal("1.5")) != digest(1.5)
    assert canonical_json({"b": None, "a": True}) == '{"a":true,"b":null}'
    assert resolve_path({"items": [{"sku": "A"}]}, "items.0.sku") == "A"
    with pytest.raises(IdempotencyKeyError, match="cannot use a object"):
        digest(object())


def test_bad_options_are_refused_when_declared():
    with pytest.raises(IdempotencyConfigError, match="dotted names"):
        IdempotencyConfig(key="order..id")
    with pytest.raises(IdempotencyConfigError, match="expires_after must be positive"):
        IdempotencyConfig(expires_after=0)
    with pytest.raises(IdempotencyConfigError, match="unknown idempotency option"):
        idempotent(keys="order_id")
    with pytest.raises(IdempotencyConfigError, match="collection must be"):
        IdempotencyConfig(collection="system.users")
    with pytest.raises(IdempotencyConfigError, match="no stable name"), state_scope("ohio"):
        idempotent_call(lambda payload: payload, {"a": 1})
    with pytest.raises(IdempotencyConfigError, match="synchronous"):
        class AsyncConsumer(SQSConsumer):
            @idempotent
            async def process_record(self, record):
                pass
    with pytest.raises(IdempotencyConfigError, match="generator"):
        class GeneratorConsumer(SQSConsumer):
            @idempotent
            def process_record(self, record):
                yield record


# --- the semantics, on SecantusDB ---

def test_first_call_runs_and_a_repeat_returns_the_stored_result_with_mongo_types(mongo_client, state):
    oid, at = ObjectId(), dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)
    calls = Calls()

    def charge(payload):
        calls(payload)
        return {"_id": oid, "at": at, "amount": payload["amount"], "tags": ("a", "b")}

    with state_scope(state):
        first = idempotent_call(charge, {"order_id": "A-1", "amount": 5}, key="order_id")
        again = idempotent_call(charge, {"order_id": "A-1", "amount": 5}, key="order_id")
    assert calls.count == 1
    assert first["_id"] == again["_id"] == oid and again["at"].replace(tzinfo=dt.timezone.utc) == at
    assert again["tags"] == ["a", "b"]  # BSON has arrays, not tuples
    (record,) = records(mongo_client, state)
    assert record["status"] == "COMPLETED" and record["result_stored"] is True
    assert record["_id"].startswith("tests.test_idempotency.test_first_call_runs")
    assert "in_progress_until" not in record


def test_results_bson_cannot_hold_are_stored_json_ready(state):
    def total(payload):
        return {"total": decimal.Decimal("12.50"), "ids": {7}}

    with state_scope(state):
        assert idempotent_call(total, {"n": 1})["total"] == decimal.Decimal("12.50")
        assert idempotent_call(total, {"n": 1}) == {"total": 12.5, "ids": [7]}


def test_a_raising_body_releases_the_claim_so_a_retry_runs(mongo_client, state):
    attempts = []

    def flaky(payload):
        attempts.append(payload)
        if len(attempts) == 1:
            raise RuntimeError("downstream timeout")
        return "done"

    with state_scope(state):
        with pytest.raises(RuntimeError, match="downstream timeout"):
            idempotent_call(flaky, {"job": 1})
        assert records(mongo_client, state) == []
        assert idempotent_call(flaky, {"job": 1}) == "done"
        assert idempotent_call(flaky, {"job": 1}) == "done"
    assert len(attempts) == 2


def test_same_key_with_a_different_payload_is_a_mismatch_when_validation_is_on(state):
    calls = Calls()
    with state_scope(state):
        idempotent_call(calls, {"order_id": "A-1", "amount": 5}, key="order_id", validate="amount")
        assert idempotent_call(calls, {"order_id": "A-1", "amount": 5, "note": "x"}, key="order_id",
                               validate="amount") == {"n": 1}
        with pytest.raises(IdempotencyKeyMismatchError, match="different payload"):
            idempotent_call(calls, {"order_id": "A-1", "amount": 6}, key="order_id", validate="amount")
        # without validation the same key is simply a repeat
        assert idempotent_call(calls, {"order_id": "A-1", "amount": 6}, key="order_id") == {"n": 1}
    assert calls.count == 1


def test_a_repeat_while_the_first_runs_is_in_progress_then_gets_the_result(state):
    entered, release = threading.Event(), threading.Event()

    def slow(payload):
        entered.set()
        assert release.wait(10)
        return "slow result"

    def first():
        with state_scope(state):
            return idempotent_call(slow, {"k": 1})

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(first)
        assert entered.wait(10)
        with state_scope(state), pytest.raises(IdempotencyInProgressError, match="in progress") as caught:
            idempotent_call(slow, {"k": 1})
        assert caught.value.status_code == 409 and caught.value.in_progress_until is not None
        release.set()
        assert running.result(10) == "slow result"
    with state_scope(state):
        assert idempotent_call(slow, {"k": 1}) == "slow result"


def test_sixteen_threads_with_one_key_run_the_body_once(state):
    calls, barrier = Calls(), threading.Barrier(16)

    def body(payload):
        time.sleep(0.2)  # long enough for every thread to arrive while it runs
        return calls(payload)

    def attempt(_):
        with state_scope(state):
            barrier.wait(10)
            try:
                return idempotent_call(body, {"uid": "one"})
            except IdempotencyInProgressError:
                return "in progress"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(attempt, range(16)))
    assert calls.count == 1
    assert all(outcome in ("in progress", {"n": 1}) for outcome in outcomes)
    assert outcomes.count({"n": 1}) >= 1
    with state_scope(state):
        assert idempotent_call(body, {"uid": "one"}) == {"n": 1}
    assert calls.count == 1


@pytest.mark.parametrize("crashed", ["INPROGRESS", "COMPLETED"])
def test_sixteen_threads_taking_over_one_expired_record_run_the_body_once(mongo_client, state, crashed):
    """Five rounds: the race between finding the expired record and replacing it is narrow."""
    past = store_module.utcnow() - dt.timedelta(seconds=5)
    for round_number in range(5):
        calls, barrier = Calls(), threading.Barrier(16)
        name = f"tests.crashed_job_{round_number}"
        mongo_client[state]["idempotency"].insert_one({  # a crashed claim, or a result past expires_after
            "_id": f"{name}#{digest({'uid': 'x'})}", "status": crashed, "claim": "crashed-attempt",
            "in_progress_until": past, "expires_at": past + dt.timedelta(hours=1 if crashed == "INPROGRESS" else 0),
            "validation": None, "result": {"v": "stale"}, "result_stored": True,
        })

        def attempt(_, name=name, calls=calls, barrier=barrier):
            with state_scope(state):
                barrier.wait(10)
                try:
                    return idempotent_call(lambda p: (time.sleep(0.05), calls(p))[1], {"uid": "x"}, name=name)
                except IdempotencyInProgressError:
                    return "in progress"

        with ThreadPoolExecutor(16) as pool:
            outcomes = list(pool.map(attempt, range(16)))
        assert calls.count == 1, f"round {round_number}: {calls.count} takers ran the body"
        assert {json.dumps(o) for o in outcomes} <= {'"in progress"', '{"n": 1}'}
        record = mongo_client[state]["idempotency"].find_one({"_id": {"$regex": f"^{name}#"}})
        assert record["status"] == "COMPLETED" and record["claim"] != "crashed-attempt"


def test_a_slow_attempt_that_raises_after_its_claim_was_taken_over_keeps_the_new_claim(state):
    class NoTimeLeft:
        def get_remaining_time_in_millis(self):
            return 0  # the claim expires at once, as at a Lambda timeout

    a_inside, b_inside, a_go, b_go = (threading.Event() for _ in range(4))

    def slow_then_fail(payload):
        a_inside.set()
        assert a_go.wait(10)
        raise RuntimeError("attempt A failed late")

    def slow_then_succeed(payload):
        b_inside.set()
        assert b_go.wait(10)
        return "B"

    def call(fn, context=None):
        with state_scope(state):
            return idempotent_call(fn, {"k": 1}, name="tests.slow_job", context=context)

    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(call, slow_then_fail, NoTimeLeft())
        assert a_inside.wait(10)
        b = pool.submit(call, slow_then_succeed)  # takes over A's expired claim
        assert b_inside.wait(10)
        a_go.set()
        with pytest.raises(RuntimeError, match="failed late"):
            a.result(10)
        with pytest.raises(IdempotencyInProgressError):  # A's release did not free B's claim
            call(lambda p: "C", None)
        b_go.set()
        assert b.result(10) == "B"
    assert call(lambda p: "C") == "B"


def test_an_in_progress_claim_expires_with_the_lambda_remaining_time(mongo_client, state):
    class Context:
        def get_remaining_time_in_millis(self):
            return 1000

    seen = {}

    def body(payload):
        (record,) = records(mongo_client, state)
        seen.update(record)
        with state_scope(state), pytest.raises(IdempotencyInProgressError):
            idempotent_call(body, payload, context=Context())  # the claim holds while time remains
        until = record["in_progress_until"].replace(tzinfo=dt.timezone.utc)
        time.sleep(max(0.0, (until - store_module.utcnow()).total_seconds()) + 0.05)  # the Lambda's time is up
        with state_scope(state):
            assert idempotent_call(lambda p: "second attempt", payload, name=name) == "second attempt"
        return "first attempt"

    name = f"{body.__module__}.{body.__qualname__}"
    started = store_module.utcnow()
    with state_scope(state):
        assert idempotent_call(body, {"k": 1}, context=Context()) == "first attempt"
    until = seen["in_progress_until"].replace(tzinfo=dt.timezone.utc)
    assert 0.999 <= (until - started).total_seconds() < 5  # the context's 1 s, not the 300 s default
    # the first attempt outran its claim: its late result does not overwrite the second one's
    with state_scope(state):
        assert idempotent_call(body, {"k": 1}) == "second attempt"


def test_a_completed_record_past_expires_after_runs_again_before_the_ttl_monitor(mongo_client, state):
    calls = Calls()
    with state_scope(state):
        idempotent_call(calls, {"k": 1})
        idempotent_call(calls, {"k": 1})
        assert calls.count == 1
        (record,) = records(mongo_client, state)
        left = record["expires_at"].replace(tzinfo=dt.timezone.utc) - store_module.utcnow()
        assert 3500 < left.total_seconds() <= 3600  # expires_after: 1 hour by default
        mongo_client[state]["idempotency"].update_one(  # an hour later: expired, not yet deleted by TTL
            {}, {"$set": {"expires_at": store_module.utcnow() - dt.timedelta(seconds=1)}},
        )
        assert idempotent_call(calls, {"k": 1}) == {"n": 2}
    indexes = mongo_client[state]["idempotency"].index_information()
    assert indexes["idempotency_expires_at_ttl"]["expireAfterSeconds"] == 0


def test_the_same_key_in_two_states_runs_once_per_state(mongo_client, make_state):
    calls, states = Calls(), [make_state("ohio"), make_state("utah")]

    def tagged(payload):
        calls(payload)
        return get_state()

    for _ in range(2):
        for state in states:
            with state_scope(state):
                assert idempotent_call(tagged, {"uid": "same"}) == state
    assert calls.count == 2
    assert [len(records(mongo_client, s)) for s in states] == [1, 1]


def test_without_a_state_there_is_no_database_and_a_clear_error(mongo_client):
    calls = Calls()
    with pytest.raises(IdempotencyStateError, match="needs a constitution-state"):
        idempotent_call(calls, {"k": 1})
    assert calls.count == 0


def test_a_missing_key_is_an_error_or_runs_without_idempotency_when_asked(state):
    calls = Calls()
    with state_scope(state):
        with pytest.raises(IdempotencyKeyError, match="no idempotency key") as caught:
            idempotent_call(calls, {"other": 1}, key="order_id")
        assert caught.value.status_code == 400
        idempotent_call(calls, {"other": 1}, key="order_id", raise_on_missing_key=False)
        idempotent_call(calls, {"other": 1}, key="order_id", raise_on_missing_key=False)
    assert calls.count == 2


def test_a_result_over_the_size_limit_is_returned_once_and_refused_clearly_after(mongo_client, state):
    calls = Calls()

    def big(payload):
        calls(payload)
        return "x" * 5000

    with state_scope(state):
        assert idempotent_call(big, {"k": 1}, max_result_bytes=1000) == "x" * 5000
        with pytest.raises(IdempotencyResultUnavailableError, match="over the limit of 1,000"):
            idempotent_call(big, {"k": 1}, max_result_bytes=1000)
    assert calls.count == 1
    (record,) = records(mongo_client, state)
    assert record["status"] == "COMPLETED" and record["result_stored"] is False and "result" not in record


def test_a_result_over_the_bson_limit_is_refused_before_it_reaches_the_server(state):
    with state_scope(state):
        result = idempotent_call(lambda p: "y" * (17 * 1024 * 1024), {"k": 2}, name="tests.huge")
        assert len(result) == 17 * 1024 * 1024
        with pytest.raises(IdempotencyResultUnavailableError, match="bytes of BSON"):
            idempotent_call(lambda p: "never", {"k": 2}, name="tests.huge")


def test_a_claim_that_cannot_be_written_never_runs_the_body(mongo_client, state):
    mongo_client[state].create_collection(
        "idempotency", validator={"$jsonSchema": {"bsonType": "object", "required": ["never_there"]}},
    )
    calls = Calls()
    with state_scope(state), pytest.raises(WriteError, match="failed validation"):
        idempotent_call(calls, {"k": 1})
    assert calls.count == 0


def test_a_result_that_cannot_be_saved_keeps_the_key_claimed_not_run_twice(mongo_client, state, caplog):
    mongo_client[state].create_collection(  # claims are accepted, completions refused
        "idempotency", validator={"status": "INPROGRESS"},
    )
    calls = Calls()
    with state_scope(state):
        assert idempotent_call(calls, {"k": 1}) == {"n": 1}  # the work is done: the caller is told so
        with pytest.raises(IdempotencyInProgressError):
            idempotent_call(calls, {"k": 1})
    assert calls.count == 1
    assert "its record could not be saved" in caplog.text


def test_a_custom_collection_and_the_repository_cache_under_sixteen_threads(mongo_client, state):
    names = [f"idem_{n % 4}" for n in range(64)]
    with ThreadPoolExecutor(16) as pool:
        repos = list(pool.map(store_module.records_repository, names))
    for name, repo in zip(names, repos):
        assert repo is store_module.records_repository(name) and repo.collection_name == name
    with state_scope(state):
        idempotent_call(Calls(), {"k": 1}, collection="idem_2")
    assert len(records(mongo_client, state, "idem_2")) == 1
    assert "idempotency_expires_at_ttl" in mongo_client[state]["idem_2"].index_information()


# --- entry points ---

class PaymentsConsumer(SQSConsumer):
    def __init__(self):
        self.calls = Calls()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    @idempotent
    def process_record(self, record):
        content = self.parse_body(record)
        if content.get("slow"):
            self.entered.set()
            assert self.release.wait(10)
        self.calls(content)


def sns_envelope(message: dict, state: str) -> dict:
    return {
        "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": "arn:aws:sns:us-east-2:1:t",
        "Message": json.dumps(message), "Timestamp": "2026-12-01T09:00:00.000Z",
        "MessageAttributes": {"constitution-state": {"Type": "String", "Value": state}},
    }


def test_sqs_an_sns_duplicate_with_a_new_message_id_is_processed_once(state):
    consumer = PaymentsConsumer()
    first = lambda_record(sns_envelope({"payment": 1}, state))
    duplicate = lambda_record(sns_envelope({"payment": 1}, state))  # new SNS and SQS message ids
    other = lambda_record(sns_envelope({"payment": 2}, state))
    result = consumer.run_records([first, duplicate, other])
    assert result.failures == {}
    assert consumer.calls.seen == [{"payment": 1}, {"payment": 2}]
    assert consumer.run_records([lambda_record({"payment": 2}, state=state)]).failures == {}  # raw delivery
    assert consumer.calls.count == 2


def test_sqs_an_in_progress_duplicate_fails_only_that_record(state):
    consumer = PaymentsConsumer()
    consumer.release.clear()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(consumer.run_records, [lambda_record({"payment": 9, "slow": True}, state=state)])
        assert consumer.entered.wait(10)
        duplicate = lambda_record({"payment": 9, "slow": True}, state=state)
        others = [lambda_record({"payment": n}, state=state) for n in (10, 11)]
        result = consumer.run_records([others[0], duplicate, others[1]])
        consumer.release.set()
        assert running.result(10).failures == {}
    assert set(result.failures) == {duplicate["messageId"]}
    assert "IdempotencyInProgressError" in result.failures[duplicate["messageId"]]
    assert consumer.calls.count == 3


def test_two_consumers_sharing_a_decorated_base_keep_their_own_keys(state):
    calls = Calls()

    class Base(SQSConsumer):
        @idempotent(IdempotencyConfig(key="uid"))  # a config given positionally
        def process_record(self, record):
            calls((type(self).__name__, self.parse_body(record)["uid"]))

    class Billing(Base):
        pass

    class Audit(Base):
        pass

    for consumer in (Billing(), Audit(), Billing()):  # the same message fanned out to two queues
        assert consumer.run_records([lambda_record({"uid": "u-1"}, state=state)]).failures == {}
    assert calls.seen == [("Billing", "u-1"), ("Audit", "u-1")]


def test_sqs_a_dollar_path_keys_on_the_record_itself(state):
    calls = Calls()

    class RedeliveryOnlyConsumer(SQSConsumer):
        @idempotent(key="$record.messageId")  # redeliveries only: a second publish runs again
        def process_record(self, record):
            calls(record["messageId"])

    first = lambda_record({"uid": 1}, state=state)
    redelivered = {**first, "receiptHandle": "AQEB-second-receipt"}
    republished = lambda_record({"uid": 1}, state=state)
    assert RedeliveryOnlyConsumer().run_records([first, redelivered, republished]).failures == {}
    assert calls.seen == [first["messageId"], republished["messageId"]]

    class WrongPrefixConsumer(SQSConsumer):
        @idempotent(key="$headers.Idempotency-Key")
        def process_record(self, record):
            calls("never")

    (reason,) = WrongPrefixConsumer().run_records([lambda_record({"uid": 2}, state=state)]).failures.values()
    assert "$headers is not part of this hook's input (available here: $record)" in reason


def test_sqs_decorating_process_batch_is_refused_with_the_alternative(state):
    class BatchConsumer(SQSConsumer):
        processing_mode = "batch"

        @idempotent
        def process_batch(self, records):
            pass

    result = BatchConsumer().run_records([lambda_record({"a": 1}, state=state)])
    assert "idempotent_call(fn, record)" in next(iter(result.failures.values()))


def test_sqs_batch_mode_uses_the_function_form_per_record(state):
    calls = Calls()

    class IndexConsumer(SQSConsumer):
        processing_mode = "batch"

        def index_one(self, record):
            calls(self.parse_body(record))

        def process_batch(self, records):
            for record in records:
                idempotent_call(self.index_one, record, key="uid")

    batch = [lambda_record({"uid": n % 3, "receipt": n}, state=state) for n in range(6)]
    assert IndexConsumer().run_records(batch).failures == {}
    assert sorted(c["uid"] for c in calls.seen) == [0, 1, 2]


@pytest.fixture
def idem_app(tmp_path, monkeypatch, mongo_client):
    """An app root with an idempotent API route and standalone Lambda."""
    (tmp_path / "api" / "payments").mkdir(parents=True)
    (tmp_path / "api" / "payments" / "post.py").write_text(textwrap.dedent("""
        from aws_helper_sync import API, Repository
        from aws_helper_sync.idempotency import idempotent

        class Effects(Repository):
            collection_name = "effects"

        class PaymentsPost(API):
            @idempotent(key=lambda api: api.headers.get("Idempotency-Key"), validate=True)
            def process(self):
                Effects().collection.insert_one({"payment": self.data["amount"]})
                self.set_code(201)
                self.set_header("Location", "/payments/1")
                self.set_body({"charged": self.data["amount"]})
    """))
    (tmp_path / "lambda" / "charge").mkdir(parents=True)
    (tmp_path / "lambda" / "charge" / "main.py").write_text(textwrap.dedent("""
        from aws_helper_sync import Lambda, Repository
        from aws_helper_sync.idempotency import idempotent

        class Effects(Repository):
            collection_name = "effects"

        class ChargeLambda(Lambda):
            @idempotent(key="charge_id")
            def process(self):
                inserted = Effects().collection.insert_one({"charge": self.data["charge_id"]}).inserted_id
                return {"effect": inserted}
    """))
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    loading.clear_cache()
    yield tmp_path
    loading.clear_cache()


def test_api_a_retried_post_replays_status_headers_and_body_without_running(idem_app, mongo_client, state):
    def post(key, amount):
        headers = {"constitution-state": state, **({"Idempotency-Key": key} if key else {})}
        return api_handler({"httpMethod": "POST", "path": "/payments", "headers": headers,
                            "body": json.dumps({"amount": amount})}, None)

    first, again = post("k-1", 10), post("k-1", 10)
    assert first["statusCode"] == again["statusCode"] == 201
    assert json.loads(again["body"]) == json.loads(first["body"]) == {"charged": 10}
    assert again["headers"]["Location"] == "/payments/1"
    assert mongo_client[state]["effects"].count_documents({}) == 1
    assert post("k-1", 99)["statusCode"] == 422  # same key, other payload
    missing = post(None, 10)
    assert missing["statusCode"] == 400
    assert json.loads(missing["body"])["message"] == "no idempotency key: the key function found none"
    assert mongo_client[state]["effects"].count_documents({}) == 1


def test_lambda_a_repeat_invocation_returns_the_stored_data(idem_app, mongo_client, state):
    handler = lambda_handler("charge")
    event = {"constitution-state": state, "data": {"charge_id": "c-1"}}
    first, again = handler(event, None), handler(event, None)
    assert first["success"] and again == first
    assert mongo_client[state]["effects"].count_documents({}) == 1
    missing = handler({"constitution-state": state, "data": {}}, None)
    assert missing["success"] is False and missing["error_type"] == "IdempotencyKeyError"


def test_api_an_idempotency_key_header_in_any_letter_case(mongo_client, state):
    from aws_helper_sync import API
    from aws_helper_sync.entrypoint import run_lifecycle

    calls = Calls()

    class OrdersPost(API):
        @idempotent(key="$headers.Idempotency-Key")
        def process(self):
            self.set_code(201)
            return calls(self.data)

    def post(header_name, body):
        api = OrdersPost(method="POST", headers={header_name: "order-77"}, body=body)
        returned = run_lifecycle(api, state)
        return api.status_code, returned

    assert post("Idempotency-Key", {"qty": 1}) == (201, {"n": 1})
    assert post("idempotency-key", {"qty": 1, "retry": True}) == (201, {"n": 1})  # the key, not the body
    assert calls.count == 1


def test_lambda_the_entry_context_bounds_the_claim(mongo_client, state):
    from aws_helper_sync import Lambda
    from aws_helper_sync.entrypoint import run_lifecycle

    class Context:
        def get_remaining_time_in_millis(self):
            return 42_000

    class ReportLambda(Lambda):
        @idempotent(key="report_id")
        def process(self):
            (record,) = records(mongo_client, state)
            return (record["in_progress_until"].replace(tzinfo=dt.timezone.utc) - store_module.utcnow()).total_seconds()

    left = run_lifecycle(ReportLambda({"data": {"report_id": "r-1"}}, Context()), state)
    assert 30 < left <= 42  # the Lambda's remaining time, not in_progress_timeout (300 s)
    assert run_lifecycle(ReportLambda({"data": {"report_id": "r-1"}}, Context()), state) == left


def test_fargate_execute_keyed_by_an_env_runs_once(mongo_client, state, monkeypatch):
    calls = Calls()

    class ReindexTask(FargateTask):
        @idempotent(key="job_id")
        def execute(self):
            return calls(self.get_env("job_id"))

    monkeypatch.setenv("JOB_ID", "job-7")
    assert ReindexTask({"CONSTITUTION_STATE": state}).run() == {"n": 1}
    assert ReindexTask({"CONSTITUTION_STATE": state}).run() == {"n": 1}
    assert ReindexTask({"CONSTITUTION_STATE": state, "job_id": "job-8"}).run() == {"n": 2}

    class UnkeyedTask(FargateTask):
        @idempotent
        def execute(self):
            return calls("unkeyed")

    with pytest.raises(IdempotencyKeyError, match="the payload is empty"):
        UnkeyedTask({"CONSTITUTION_STATE": state, "TASK_NAME": "unkeyed"}).run()
    assert calls.count == 2


def test_sqs_the_lambda_context_of_sqs_handler_bounds_the_claim(mongo_client, state):
    """sqs_handler's context reaches @idempotent on process_record (self.context), not the 300 s default."""
    from aws_helper_sync import SQSConsumer

    class Context:
        def get_remaining_time_in_millis(self):
            return 42_000

    seen: list[float] = []

    class ClaimsConsumer(SQSConsumer):
        @idempotent(key="claim_id")
        def process_record(self, record):
            (claim,) = records(mongo_client, state)
            seen.append((claim["in_progress_until"].replace(tzinfo=dt.timezone.utc) - store_module.utcnow())
                        .total_seconds())

    result = ClaimsConsumer().run_records([lambda_record({"claim_id": "c-1"}, state=state)], Context())
    assert result.failures == {}
    assert len(seen) == 1 and 30 < seen[0] <= 42
    assert ClaimsConsumer().context is None  # a fresh consumer (the worker's case) has none
