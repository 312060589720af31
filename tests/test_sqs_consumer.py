"""SQSConsumer through sqs_handler: single mode, batch fan-out, FIFO, state per unit.

Consumers live in tests/app/consumer; events are Lambda-shape SQS events.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from aws_helper_sync import SQSConsumer, get_state, state_scope
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
from tests.sqs_support import FIFO_QUEUE_ARN, failed_ids, lambda_event, lambda_record

# --- single mode ---


def test_single_mode_record_without_state_does_not_inherit(app_root, make_state):
    ct, other = make_state("connecticut"), make_state("other")
    first = lambda_record({"set_state": other}, state=ct)
    second = lambda_record({"n": 2})
    third = lambda_record({"n": 3}, state=make_state("ohio"))

    response = sqs_handler("state_recorder")(lambda_event(first, second, third), None)

    seen = load_consumer_class("state_recorder").seen
    assert response["batchItemFailures"] == []
    assert [(mid, state) for mid, state, _ in seen] == [
        (first["messageId"], ct), (second["messageId"], None), (third["messageId"], make_state("ohio")),
    ]
    assert get_state() is None


def test_single_mode_runs_records_outside_the_callers_state(app_root, make_state):
    caller = make_state("caller")
    record = lambda_record({"n": 1})

    with state_scope(caller):
        sqs_handler("state_recorder")(lambda_event(record), None)
        assert get_state() == caller

    assert load_consumer_class("state_recorder").seen[0][1] is None


def test_single_mode_exception_fails_only_that_record(app_root):
    records = [lambda_record({"n": 1}), lambda_record({"fail": True}), lambda_record({"n": 3})]

    response = sqs_handler("state_recorder")(lambda_event(*records), None)

    assert failed_ids(response) == {records[1]["messageId"]}
    assert len(load_consumer_class("state_recorder").seen) == 3
    assert (response["processed"], response["successful"], response["failed"]) == (3, 2, 1)


def test_single_mode_add_message_failed_fails_the_record(app_root):
    records = [lambda_record({"mark_failed": True}), lambda_record({"n": 2})]

    response = sqs_handler("state_recorder")(lambda_event(*records), None)

    assert failed_ids(response) == {records[0]["messageId"]}


@pytest.mark.parametrize("bad_state", ["Connecticut", "admin", "a-b", "x" * 64, ""])
def test_invalid_state_fails_that_record_unprocessed(app_root, make_state, bad_state):
    bad = lambda_record({"n": 1}, state=bad_state)
    good = lambda_record({"n": 2}, state=make_state("ohio"))

    response = sqs_handler("state_recorder")(lambda_event(bad, good), None)

    assert failed_ids(response) == {bad["messageId"]}
    assert [mid for mid, _, _ in load_consumer_class("state_recorder").seen] == [good["messageId"]]


def test_state_outside_the_allow_list_fails_the_record(app_root, monkeypatch, make_state):
    allowed, refused = make_state("connecticut"), make_state("texas")
    monkeypatch.setenv("ALLOWED_STATES", f"{allowed},other")
    records = [lambda_record({}, state=allowed), lambda_record({"constitution_state": refused})]

    response = sqs_handler("state_recorder")(lambda_event(*records), None)

    assert failed_ids(response) == {records[1]["messageId"]}


def test_add_message_failed_outside_processing_is_an_error(app_root):
    consumer = load_consumer_class("state_recorder")()
    with pytest.raises(RuntimeError, match="process_batch"):
        consumer.add_message_failed("some-id", "nope")


# --- batch mode ---


def _batch_event(states: list[str], per_state: int = 3) -> tuple[dict, dict[str, list[str]]]:
    records, ids = [], {s: [] for s in states}
    for i in range(per_state):
        for state in states:  # interleaved, as SQS delivers them
            record = lambda_record({"i": i}, state=state)
            records.append(record)
            ids[state].append(record["messageId"])
    return lambda_event(*records), ids


def test_batch_mode_runs_state_groups_concurrently(app_root, make_state):
    states = [make_state(f"s{i}") for i in range(4)]
    consumer_class = load_consumer_class("batch_recorder")
    consumer_class.max_workers = 4
    consumer_class.barrier = threading.Barrier(4, timeout=10)  # breaks if groups run one by one
    event, ids = _batch_event(states)

    response = sqs_handler("batch_recorder")(event, None)

    assert response["batchItemFailures"] == []
    calls = {state: call_ids for state, call_ids, _ in consumer_class.calls}
    assert calls == ids  # one call per state, with exactly that state's records, in order
    assert len({thread for _, _, thread in consumer_class.calls}) == 4


def test_batch_mode_default_workers_one_per_group(app_root, make_state):
    states = [make_state(f"s{i}") for i in range(8)]
    consumer_class = load_consumer_class("batch_recorder")
    consumer_class.barrier = threading.Barrier(8, timeout=10)
    event, _ = _batch_event(states, per_state=1)

    response = sqs_handler("batch_recorder")(event, None)

    assert response["batchItemFailures"] == []
    assert len(consumer_class.calls) == 8


@pytest.mark.parametrize(("max_workers", "groups", "expected"), [
    (None, 1, 1), (None, 3, 3), (None, 8, 8), (None, 20, 8), (2, 5, 2), (16, 3, 3), (16, 20, 16),
])
def test_resolve_max_workers(app_root, max_workers, groups, expected):
    consumer_class = load_consumer_class("batch_recorder")
    consumer_class.max_workers = max_workers
    assert consumer_class().resolve_max_workers(groups) == expected


def test_batch_mode_bad_max_workers_fails_every_record(app_root, make_state):
    consumer_class = load_consumer_class("batch_recorder")
    consumer_class.max_workers = 0
    event, _ = _batch_event([make_state("a"), make_state("b")], per_state=1)

    response = sqs_handler("batch_recorder")(event, None)

    assert response["failed"] == 2
    assert "max_workers" in response["error"]
    assert consumer_class.calls == []


def test_batch_failures_of_concurrent_groups_stay_with_their_records(app_root, make_state):
    states = [make_state(f"s{i}") for i in range(4)]
    consumer_class = load_consumer_class("batch_recorder")
    consumer_class.barrier = threading.Barrier(4, timeout=10)  # all groups mark failures at once
    records, expected_failed = [], set()
    for i in range(5):
        for n, state in enumerate(states):
            fail = (i + n) % 2 == 0
            record = lambda_record({"i": i, "fail": fail}, state=state)
            records.append(record)
            if fail:
                expected_failed.add(record["messageId"])

    response = sqs_handler("batch_recorder")(lambda_event(*records), None)

    assert failed_ids(response) == expected_failed


def test_batch_exception_fails_exactly_that_group(app_root, make_state):
    ok_state, bad_state, third = make_state("ok"), make_state("bad"), make_state("third")
    records = [
        lambda_record({"i": 0}, state=ok_state),
        lambda_record({"i": 1}, state=bad_state),
        lambda_record({"fail": True}, state=third),
        lambda_record({"raise": True}, state=bad_state),
        lambda_record({"i": 4}, state=third),
    ]
    consumer_class = load_consumer_class("batch_recorder")
    consumer_class.barrier = threading.Barrier(3, timeout=10)

    response = sqs_handler("batch_recorder")(lambda_event(*records), None)

    assert failed_ids(response) == {records[1]["messageId"], records[3]["messageId"], records[2]["messageId"]}


def test_batch_marking_another_groups_record_fails_own_group_only(app_root, make_state):
    a, b = make_state("a"), make_state("b")
    record_a, record_b = lambda_record({}, state=a), lambda_record({}, state=b)

    class Meddler(load_consumer_class("batch_recorder")):
        def process_batch(self, records):
            if get_state() == a:
                self.add_message_failed(record_b["messageId"], "not mine")

    result = Meddler().run_records([record_a, record_b])

    assert set(result.failures) == {record_a["messageId"]}
    assert "not one of the records" in result.failures[record_a["messageId"]]


def test_batch_groups_write_to_their_state_databases(app_root, mongo_client, make_state):
    states = [make_state(f"st{i}") for i in range(3)]
    records = [lambda_record({"i": i, "state": s}, state=s) for i in range(4) for s in states]
    records.append(lambda_record({"fail": True}, state=states[0]))

    response = sqs_handler("land_records")(lambda_event(*records), None)

    assert failed_ids(response) == {records[-1]["messageId"]}
    for state in states:
        docs = list(mongo_client[state]["land_records"].find())
        assert len(docs) == 4
        assert {d["state"] for d in docs} == {state}
        assert {d["content"]["state"] for d in docs} == {state}


# --- FIFO ---


def test_fifo_single_mode_failure_fails_later_records_of_its_group_unprocessed(app_root):
    a = [lambda_record({"a": i, "fail": i == 1}, group="A", source_arn=FIFO_QUEUE_ARN) for i in range(4)]
    b = [lambda_record({"b": i}, group="B", source_arn=FIFO_QUEUE_ARN) for i in range(3)]
    records = [a[0], b[0], a[1], b[1], a[2], a[3], b[2]]

    response = sqs_handler("state_recorder")(lambda_event(*records), None)

    seen = [mid for mid, _, _ in load_consumer_class("state_recorder").seen]
    assert failed_ids(response) == {a[1]["messageId"], a[2]["messageId"], a[3]["messageId"]}
    assert seen == [a[0]["messageId"], b[0]["messageId"], a[1]["messageId"], b[1]["messageId"], b[2]["messageId"]]


def test_fifo_invalid_state_mid_group_fails_the_rest_of_the_group(app_root, make_state):
    s = make_state("ok")
    a = [lambda_record({"a": 0}, state=s, group="A"),
         lambda_record({"a": 1}, state="Bad", group="A"),
         lambda_record({"a": 2}, state=s, group="A")]
    b = lambda_record({"b": 0}, state=s, group="B")

    response = sqs_handler("state_recorder")(lambda_event(a[0], a[1], b, a[2]), None)

    seen = [mid for mid, _, _ in load_consumer_class("state_recorder").seen]
    assert failed_ids(response) == {a[1]["messageId"], a[2]["messageId"]}
    assert seen == [a[0]["messageId"], b["messageId"]]


def test_fifo_queue_without_group_ids_keeps_order_for_all(app_root):
    records = [lambda_record({"n": i, "fail": i == 1}, source_arn=FIFO_QUEUE_ARN) for i in range(3)]

    response = sqs_handler("state_recorder")(lambda_event(*records), None)

    assert failed_ids(response) == {records[1]["messageId"], records[2]["messageId"]}
    assert len(load_consumer_class("state_recorder").seen) == 2


def test_fifo_batch_mode_failure_reports_later_records_of_the_group(app_root, make_state):
    s1, s2 = make_state("one"), make_state("two")
    a = [lambda_record({"a": i, "fail": i == 1}, state=s1, group="A") for i in range(3)]
    b = [lambda_record({"b": i}, state=s2, group="B") for i in range(2)]

    response = sqs_handler("batch_recorder")(lambda_event(a[0], b[0], a[1], b[1], a[2]), None)

    assert failed_ids(response) == {a[1]["messageId"], a[2]["messageId"]}


def test_fifo_batch_mode_group_spanning_states_keeps_order(app_root, make_state):
    s1, s2 = make_state("one"), make_state("two")
    a = [lambda_record({"a": 0}, state=s1, group="A"),
         lambda_record({"a": 1, "fail": True}, state=s2, group="A"),
         lambda_record({"a": 2}, state=s1, group="A")]

    response = sqs_handler("batch_recorder")(lambda_event(*a), None)

    calls = [(state, ids) for state, ids, _ in load_consumer_class("batch_recorder").calls]
    assert calls == [(s1, [a[0]["messageId"]]), (s2, [a[1]["messageId"]])]  # a[2] never ran
    assert failed_ids(response) == {a[1]["messageId"], a[2]["messageId"]}


# --- thread safety: one handler, one loader cache, many threads ---


def test_handler_and_loader_hammered_from_many_threads(app_root, make_state):
    handler = sqs_handler("state_recorder")
    errors: list[BaseException] = []
    results: dict[str, tuple[dict, list[str]]] = {}
    start = threading.Barrier(16)

    def invoke(n: int) -> None:
        try:
            state = make_state(f"h{n}")
            records = [lambda_record({"n": n, "fail": i == 0}, state=state) for i in range(5)]
            start.wait()
            results[state] = (handler(lambda_event(*records), None), [r["messageId"] for r in records])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=invoke, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    seen = load_consumer_class("state_recorder").seen
    assert len(seen) == 80  # one class object: every thread recorded into the same list
    state_of = {mid: state for mid, state, _ in seen}
    for state, (response, ids) in results.items():
        assert failed_ids(response) == {ids[0]}
        assert {state_of[mid] for mid in ids} == {state}


def test_add_message_failed_from_threads_started_by_process_batch(app_root, make_state):
    from aws_helper_sync import ContextThreadPoolExecutor

    state = make_state("pool")
    records = [lambda_record({"n": n}, state=state) for n in range(6)]

    class Fanning(load_consumer_class("batch_recorder")):
        def process_batch(self, records):
            with ContextThreadPoolExecutor(3) as pool:
                list(pool.map(lambda r: self.add_message_failed(r["messageId"], "odd")
                              if self.parse_body(r)["n"] % 2 else None, records))

    result = Fanning().run_records(records)

    assert set(result.failures) == {r["messageId"] for r in records[1::2]}


def test_failure_logs_carry_the_records_state(app_root, make_state, caplog):
    from aws_helper_sync import StateLogFilter

    state = make_state("logged")
    record = lambda_record({"fail": True}, state=state)
    caplog.handler.addFilter(StateLogFilter())

    sqs_handler("state_recorder")(lambda_event(record), None)

    [failure] = [r for r in caplog.records if record["messageId"] in r.getMessage() and r.levelname == "ERROR"]
    assert failure.constitution_state == state
    assert "asked to fail" in failure.exc_text


# --- FIFO order in batch mode (issue 10 §2): a group's records stop at its first failure ---


def _fifo(uid: str, group: str, state: str, fail_until_receive: int = 0, receive_count: int = 1) -> dict:
    record = lambda_record({"uid": uid, "fail_until_receive": fail_until_receive}, message_id=f"id-{uid}",
                           state=state, group=group, source_arn=FIFO_QUEUE_ARN, receive_count=receive_count)
    return record


def _redelivered(record: dict) -> dict:
    """The same message delivered again (ApproximateReceiveCount + 1), as SQS does after a failure."""
    attributes = dict(record["attributes"])
    attributes["ApproximateReceiveCount"] = str(int(attributes["ApproximateReceiveCount"]) + 1)
    return {**record, "attributes": attributes}


def _applied(mongo_client, state: str, collection: str = "fifo_applied") -> list[str]:
    return [doc["uid"] for doc in mongo_client[state][collection].find().sort("seq", 1)]


def test_fifo_batch_loop_never_sees_a_groups_records_after_its_failure(app_root, mongo_client, make_state):
    """m1 fails, so m2 and m3 (same group) are held back unprocessed; group n goes on; redelivery applies each once."""
    state = make_state("fifo")
    m = [_fifo("m1", "g-m", state, fail_until_receive=1), _fifo("m2", "g-m", state), _fifo("m3", "g-m", state)]
    n = [_fifo("n1", "g-n", state), _fifo("n2", "g-n", state)]
    handler = sqs_handler("fifo_writer")
    consumer_class = load_consumer_class("fifo_writer")

    response = handler(lambda_event(m[0], n[0], m[1], n[1], m[2]), None)

    assert failed_ids(response) == {"id-m1", "id-m2", "id-m3"}
    assert consumer_class.handed == ["id-m1", "id-n1", "id-n2"]  # m2, m3 never reached the consumer
    assert _applied(mongo_client, state) == ["n1", "n2"]

    # SQS redelivers the group from m1 on: each message is applied once, in order.
    response = handler(lambda_event(*[_redelivered(r) for r in m]), None)

    assert response["batchItemFailures"] == []
    assert _applied(mongo_client, state) == ["n1", "n2", "m1", "m2", "m3"]


def test_fifo_batch_held_back_records_are_logged_once_as_not_processed(app_root, mongo_client, make_state, caplog):
    state = make_state("fifo")
    records = [_fifo("m1", "g", state, fail_until_receive=1), _fifo("m2", "g", state)]

    sqs_handler("fifo_writer")(lambda_event(*records), None)

    [line] = [r.getMessage() for r in caplog.records if "id-m2" in r.getMessage()]
    assert line == "message id-m2 not processed: an earlier message (id-m1) of FIFO message group 'g' failed"


def test_fifo_batch_second_pass_over_records_stops_at_the_failure(app_root, make_state):
    state = make_state("fifo")
    records = [_fifo(f"a{i}", "A", state) for i in range(4)]
    second_pass: list[str] = []

    class TwoPasses(load_consumer_class("batch_recorder")):
        def process_batch(self, records):
            collected = list(records)  # first pass: every record handed out, none failed yet
            self.add_message_failed(collected[1]["messageId"], "bad")
            second_pass.extend(r["messageId"] for r in records)  # second pass: apply

    result = TwoPasses().run_records(records)

    assert second_pass == ["id-a0"]  # the records before the failure still come, the failed one and later not
    assert set(result.failures) == {"id-a1", "id-a2", "id-a3"}
    assert "handed to process_batch" in result.failures["id-a2"]  # seen in pass one: may have been applied


def test_fifo_batch_first_failure_is_the_earliest_marked(app_root, make_state):
    state = make_state("fifo")
    records = [_fifo(f"a{i}", "A", state) for i in range(4)]
    applied: list[str] = []

    class LateMarks(load_consumer_class("batch_recorder")):
        def process_batch(self, records):
            collected = list(records)
            self.add_message_failed(collected[3]["messageId"], "bad")
            self.add_message_failed(collected[1]["messageId"], "bad too")
            applied.extend(r["messageId"] for r in records)

    result = LateMarks().run_records(records)

    assert applied == ["id-a0"]
    assert set(result.failures) == {"id-a1", "id-a2", "id-a3"}


def test_fifo_batch_group_spanning_batches_of_states(app_root, mongo_client, make_state):
    """Group A in two states: its failure in the first state keeps its later records in the second unprocessed."""
    s1, s2 = make_state("one"), make_state("two")
    records = [_fifo("a0", "A", s1, fail_until_receive=1), _fifo("a1", "A", s2), _fifo("b0", "B", s2)]

    response = sqs_handler("fifo_writer")(lambda_event(*records), None)

    assert failed_ids(response) == {"id-a0", "id-a1"}
    assert sorted(load_consumer_class("fifo_writer").handed) == ["id-a0", "id-b0"]
    assert _applied(mongo_client, s2) == ["b0"]


def test_fifo_bulk_consumer_with_an_ordered_write_keeps_the_order(app_root, mongo_client, make_state):
    """The README recipe: one ordered bulk_write, every record from the first error on marked failed."""
    state = make_state("bulk")
    mongo_client[state]["fifo_bulk"].insert_one({"_id": "m1"})  # m1's write will fail (duplicate key)
    records = [_fifo("m1", "g-m", state), _fifo("m2", "g-m", state), _fifo("m3", "g-m", state)]

    response = sqs_handler("fifo_bulk")(lambda_event(*records), None)

    assert failed_ids(response) == {"id-m1", "id-m2", "id-m3"}
    assert sorted(d["_id"] for d in mongo_client[state]["fifo_bulk"].find()) == ["m1"]  # m2, m3 not applied

    mongo_client[state]["fifo_bulk"].delete_one({"_id": "m1"})  # the fault is gone: redelivery succeeds
    response = sqs_handler("fifo_bulk")(lambda_event(*[_redelivered(r) for r in records]), None)

    assert response["batchItemFailures"] == []
    assert sorted(d["_id"] for d in mongo_client[state]["fifo_bulk"].find()) == ["m1", "m2", "m3"]


def test_fifo_bulk_consumer_without_ordered_write_gets_the_followers_reported(app_root, mongo_client, make_state,
                                                                            caplog):
    """With ordered=False m2 and m3 are applied before m1: still reported failed (group redelivered in order)."""
    state = make_state("bulk")
    mongo_client[state]["fifo_bulk"].insert_one({"_id": "m1"})
    records = [_fifo("m1", "g-m", state), _fifo("m2", "g-m", state), _fifo("m3", "g-m", state)]
    load_consumer_class("fifo_bulk").ordered = False

    response = sqs_handler("fifo_bulk")(lambda_event(*records), None)

    assert failed_ids(response) == {"id-m1", "id-m2", "id-m3"}
    assert "handed to process_batch" in caplog.text


def test_batch_records_is_a_list_of_every_record(app_root, make_state):
    """len(), indexing and json see the whole group: only iteration is guarded."""
    import json

    state = make_state("list")
    records = [_fifo(f"a{i}", "A", state) for i in range(3)]
    seen: dict = {}

    class Inspector(load_consumer_class("batch_recorder")):
        def process_batch(self, records):
            seen.update(is_list=isinstance(records, list), length=len(records), first=records[0]["messageId"],
                        dumped=len(json.loads(json.dumps(records))))

    assert Inspector().run_records(records).failures == {}
    assert seen == {"is_list": True, "length": 3, "first": "id-a0", "dumped": 3}


# --- one poison record fails (at most) itself (issue 10 §4) ---

DEEP_BODY = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("consumer", ["state_recorder", "batch_recorder"])
def test_a_100000_deep_body_without_state_does_not_break_the_batch(app_root, make_state, consumer):
    """The body is read as non-JSON ({"raw": ...}): every other record runs and succeeds."""
    states = [make_state("a"), make_state("b")]
    good = [lambda_record({"n": i}, state=states[i % 2]) for i in range(6)]
    poison = lambda_record(DEEP_BODY)

    response = sqs_handler(consumer)(lambda_event(*good[:3], poison, *good[3:]), None)

    assert response["batchItemFailures"] == []
    assert response["successful"] == 7
    if consumer == "state_recorder":
        contents = {mid: content for mid, _, content in load_consumer_class(consumer).seen}
        assert contents[poison["messageId"]] == {"raw": DEEP_BODY}


@pytest.mark.parametrize("mode", ["single", "batch"])
@pytest.mark.parametrize("error", [RecursionError("maximum recursion depth exceeded"), KeyError("body"),
                                   TypeError("unhashable"), MemoryError()])
def test_any_failure_reading_a_record_fails_that_record_only(app_root, make_state, mode, error):
    state = make_state("ok")
    records = [lambda_record({"n": i}, state=state) for i in range(4)]
    poison_id = records[1]["messageId"]
    handled: list[str] = []

    class Reader(SQSConsumer):
        processing_mode = mode

        def extract_state(self, record):
            if record["messageId"] == poison_id:
                raise error
            return super().extract_state(record)

        def process_record(self, record):
            handled.append(record["messageId"])

        def process_batch(self, records):
            handled.extend(r["messageId"] for r in records)

    result = Reader().run_records(records)

    assert set(result.failures) == {poison_id}
    assert result.failures[poison_id].startswith(f"not processed: record could not be read: {type(error).__name__}")
    assert result.error is None
    assert handled == [r["messageId"] for r in records if r["messageId"] != poison_id]


def test_an_unreadable_fifo_record_holds_back_the_rest_of_its_group(app_root, make_state):
    state = make_state("ok")
    a = [_fifo(f"a{i}", "A", state) for i in range(3)]
    b = _fifo("b0", "B", state)
    a[1] = {**a[1], "messageAttributes": {"constitution-state": {"stringValue": "ohio"},
                                          "Constitution-State": {"stringValue": "utah"}}}

    response = sqs_handler("batch_recorder")(lambda_event(a[0], a[1], b, a[2]), None)

    assert failed_ids(response) == {"id-a1", "id-a2"}
    assert [ids for _, ids, _ in load_consumer_class("batch_recorder").calls] == [["id-a0", "id-b0"]]


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_state_attribute_spellings_that_disagree_fail_the_record(app_root, make_state, mode):
    ohio, utah = make_state("ohio"), make_state("utah")
    conflicting = lambda_record({"n": 1})
    conflicting["messageAttributes"] = {
        "constitution-state": {"stringValue": ohio, "dataType": "String"},
        "Constitution-State": {"stringValue": utah, "dataType": "String"},
    }
    capitalised = lambda_record({"n": 2})
    capitalised["messageAttributes"] = {"Constitution-State": {"stringValue": utah, "dataType": "String"}}
    ran: list[tuple[str, str | None]] = []

    class Recorder(SQSConsumer):
        processing_mode = mode

        def process_record(self, record):
            ran.append((record["messageId"], get_state()))

        def process_batch(self, records):
            ran.extend((r["messageId"], get_state()) for r in records)

    result = Recorder().run_records([conflicting, capitalised])

    assert set(result.failures) == {conflicting["messageId"]}
    assert "name different states" in result.failures[conflicting["messageId"]]
    assert ran == [(capitalised["messageId"], utah)]  # Constitution-State is the state, not ignored


def test_poison_message_through_the_worker_fails_alone(app_root, mongo_client, boto_client, unique, make_state):
    """29 good messages and one 100,000-deep body in one queue with a DLQ: every good one is written and deleted."""
    from aws_helper_sync.sqs.worker import SQSWorker
    from tests.sqs_support import create_queue, queue_arn, queue_depth, send

    sqs = boto_client("sqs")
    state = make_state("worker")
    dlq = create_queue(sqs, f"{unique}-dlq")
    url = create_queue(sqs, f"{unique}-src", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "1"}))
    for i in range(15):
        send(sqs, url, {"n": i}, state=state)
    send(sqs, url, DEEP_BODY)  # no state: its group (state None) fails in the consumer, alone
    for i in range(15, 29):
        send(sqs, url, {"n": i}, state=state)

    stats = SQSWorker("land_records", url, wait_time_seconds=0, until_empty=True, handle_signals=False).run()

    assert mongo_client[state]["land_records"].count_documents({}) == 29
    assert (stats.received, stats.succeeded, stats.failed, stats.deleted) == (30, 29, 1, 29)
    assert sum(queue_depth(sqs, url)) == 1  # only the poison message is left (then dead-lettered)
    assert queue_depth(sqs, dlq) == (0, 0)


# --- the Lambda deadline (issue 10 §8) ---


class LambdaContext:
    """The part of the Lambda context object the handler reads: the time left before the timeout."""

    def __init__(self, seconds_left: float) -> None:
        self.deadline = time.monotonic() + seconds_left
        self.function_name = "tests"
        self.aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


def test_single_mode_stops_starting_records_before_the_deadline(app_root):
    records = [lambda_record({"sleep": 1}) for _ in range(3)]
    context = LambdaContext(1.5)

    response = sqs_handler("slow_records")(lambda_event(*records), context)

    assert context.get_remaining_time_in_millis() > 0  # returned before the deadline
    assert load_consumer_class("slow_records").started == [records[0]["messageId"]]
    assert failed_ids(response) == {records[1]["messageId"], records[2]["messageId"]}
    assert response["successful"] == 1


def test_batch_mode_stops_starting_groups_before_the_deadline(app_root, make_state):
    states = [make_state(f"s{i}") for i in range(3)]
    records = [lambda_record({"sleep": 1}, state=state) for state in states]
    context = LambdaContext(1.5)

    response = sqs_handler("slow_groups")(lambda_event(*records), context)

    assert context.get_remaining_time_in_millis() > 0
    assert load_consumer_class("slow_groups").groups == [states[0]]
    assert failed_ids(response) == {records[1]["messageId"], records[2]["messageId"]}


def test_batch_mode_stops_handing_out_records_of_a_group_before_the_deadline(app_root, make_state):
    state = make_state("one")
    records = [lambda_record({"sleep": 1}, state=state) for _ in range(3)]
    context = LambdaContext(1.5)

    response = sqs_handler("slow_groups")(lambda_event(*records), context)

    assert context.get_remaining_time_in_millis() > 0
    assert load_consumer_class("slow_groups").handled == [records[0]["messageId"]]
    assert failed_ids(response) == {records[1]["messageId"], records[2]["messageId"]}


def test_the_deadline_margin_is_configurable(app_root):
    records = [lambda_record({"sleep": 0}) for _ in range(2)]
    consumer_class = load_consumer_class("slow_records")

    consumer_class.deadline_margin_ms = 2000  # more than the 1.5 s left: nothing may start
    response = sqs_handler("slow_records")(lambda_event(*records), LambdaContext(1.5))
    assert failed_ids(response) == {r["messageId"] for r in records}
    assert consumer_class.started == []
    assert "deadline" in consumer_class().run_records(records, LambdaContext(1.5)).failures[records[0]["messageId"]]

    consumer_class.deadline_margin_ms = None  # off
    response = sqs_handler("slow_records")(lambda_event(*records), LambdaContext(0.1))
    assert response["batchItemFailures"] == []


@pytest.mark.parametrize("margin", [-1, "500", float("nan"), float("inf"), True])
def test_an_invalid_deadline_margin_fails_every_record(app_root, margin):
    records = [lambda_record({}), lambda_record({})]
    consumer_class = load_consumer_class("slow_records")
    consumer_class.deadline_margin_ms = margin

    result = consumer_class().run_records(records, LambdaContext(10))

    assert set(result.failures) == {r["messageId"] for r in records}
    assert "deadline_margin_ms" in result.error
    assert consumer_class.started == []


@pytest.mark.parametrize("context", [None, object(), "not a context"])
def test_without_a_lambda_context_there_is_no_deadline(app_root, context):
    records = [lambda_record({}) for _ in range(3)]
    assert sqs_handler("slow_records")(lambda_event(*records), context)["batchItemFailures"] == []


def test_a_context_whose_clock_fails_does_not_fail_records(app_root, caplog):
    class Broken:
        def get_remaining_time_in_millis(self):
            raise RuntimeError("no clock")

    records = [lambda_record({}) for _ in range(3)]
    assert sqs_handler("slow_records")(lambda_event(*records), Broken())["batchItemFailures"] == []
    assert "deadline is not watched" in caplog.text


# --- hooks that would silently not run (issue 10 §9) ---


def test_a_generator_hook_is_refused_and_every_record_reported(app_root):
    from aws_helper_sync.loading import GeneratorHookError

    records = [lambda_record({}), lambda_record({})]

    response = sqs_handler("generator_hook")(lambda_event(*records), None)

    assert failed_ids(response) == {r["messageId"] for r in records}
    assert "generator" in response["error"]
    with pytest.raises(GeneratorHookError, match="GeneratorHookConsumer.process_batch is a generator"):
        load_consumer_class("generator_hook")


def test_a_generator_hook_on_a_class_given_directly_fails_every_record():
    """The worker takes classes and instances (not loaded by name): run_records checks them too."""

    class Stray(SQSConsumer):
        def process_record(self, record):
            yield record

    records = [lambda_record({})]
    result = Stray().run_records(records)

    assert set(result.failures) == {records[0]["messageId"]}
    assert "GeneratorHookError" in result.error


def test_deadline_with_concurrent_groups_never_acknowledges_unprocessed_work(app_root, make_state):
    """8 state groups on 4 threads hit the deadline together: what is acknowledged was done, nothing done is failed."""
    states = [make_state(f"c{i}") for i in range(8)]
    records = [lambda_record({"sleep": 0.3}, state=state) for state in states for _ in range(3)]
    consumer_class = load_consumer_class("slow_groups")
    consumer_class.max_workers = 4
    context = LambdaContext(1.2)

    response = sqs_handler("slow_groups")(lambda_event(*records), context)

    done = set(consumer_class.handled)
    failed = failed_ids(response)
    acknowledged = {r["messageId"] for r in records} - failed
    assert context.get_remaining_time_in_millis() > 0
    assert acknowledged == done  # acknowledged exactly the records that were processed to the end
    assert 0 < len(done) < len(records)
    assert len(consumer_class.groups) < len(states)  # the groups waiting for a thread never started


# --- the serial part of a batch (issue 15): one pass, a short lane for the usual record ---


def _session_attribute(state: str) -> dict:
    import base64

    return {"dataType": "String", "stringValue": base64.b64encode(json.dumps({"state": state}).encode()).decode()}


def _adversarial_batch(a: str, b: str) -> list[dict]:
    """Usual records of two states interleaved, and between them every record the short lane must not settle."""
    def usual(n: int, state: str) -> dict:
        return lambda_record({"n": n}, message_id=f"u{n}", state=state)

    odd = [
        lambda_record({"n": 100}, message_id="bad-spelling", state="Connecticut"),
        lambda_record({"n": 101}, message_id="outside-allow-list", state="nowhere"),
        lambda_record({"n": 102, "constitution_state": b}, message_id="body-only"),
        lambda_record({"n": 103}, message_id="no-state"),
        {**lambda_record({"n": 104}, message_id="session-disagrees", state=a),
         "messageAttributes": {"constitution-state": {"stringValue": a, "dataType": "String"},
                               "session": _session_attribute(b)}},
        {**lambda_record({"n": 105}, message_id="session-binary", state=a),
         "messageAttributes": {"constitution-state": {"stringValue": a, "dataType": "String"},
                               "session": {"dataType": "Binary", "binaryValue": "e30="}}},
        {**lambda_record({"n": 106}, message_id="spellings-disagree", state=a),
         "messageAttributes": {"constitution-state": {"stringValue": a}, "Constitution-State": {"stringValue": b}}},
        {**lambda_record({"n": 107}, message_id="a-list", state=a),
         "messageAttributes": {"constitution-state": {"stringValue": [a]}}},
        lambda_record({"Type": "Notification", "Message": json.dumps({"n": 108}), "MessageAttributes": {
            "constitution-state": {"Type": "String", "Value": b}}}, message_id="envelope", state=a),
    ]
    batch = []
    for n in range(12):
        batch.append(usual(n, (a, b)[n % 2]))
        if n < len(odd):
            batch.append(odd[n])
    return batch


class _Recorder(SQSConsumer):
    """Records what each unit received and under which state; fails u5 by marking it."""

    processing_mode = "batch"

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, list[str]]] = []
        self.lock = threading.Lock()

    def _seen(self, records) -> None:
        ids = [r["messageId"] for r in records]
        with self.lock:
            self.calls.append((get_state(), ids))
        if "u5" in ids:
            self.add_message_failed("u5", "marked")

    def process_batch(self, records):
        self._seen(list(records))

    def process_record(self, record):
        self._seen([record])


class _LongWayRecorder(_Recorder):
    """The same consumer with extract_state overridden: every record is read the long way."""

    def extract_state(self, record):
        from aws_helper_sync.sqs import records as rec

        return rec.extract_state(record)


class _TenantContext:
    def __init__(self, tenant: str) -> None:
        self.tenant_id = tenant


@pytest.mark.parametrize("mode", ["single", "batch"])
@pytest.mark.parametrize("with_tenant", [False, True])
def test_the_short_lane_gives_every_record_the_outcome_of_the_long_way(make_state, monkeypatch, mode, with_tenant):
    a, b = make_state("lane_a"), make_state("lane_b")
    monkeypatch.setenv("ALLOWED_STATES", f"{a},{b}")
    batch = _adversarial_batch(a, b)
    context = _TenantContext(a) if with_tenant else None
    outcomes = []
    for cls in (_Recorder, _LongWayRecorder):
        consumer = type(cls.__name__, (cls,), {"processing_mode": mode})()
        result = consumer.run_records(json.loads(json.dumps(batch)), context)
        # (the long way names its source "..extract_state()" where the record's own source is named)
        failures = {mid: re.sub(r"disagree: .*? is ('[^']*'|\[.*?\]) but", r"disagree: <source> is \1 but", why)
                    for mid, why in result.failures.items()}
        outcomes.append((failures, sorted(consumer.calls, key=lambda call: (str(call[0]), call[1]))))

    assert outcomes[0] == outcomes[1]
    failures, calls = outcomes[0]
    assert "u5" in failures
    ran = {mid for _, ids in calls for mid in ids}
    assert not ran & (set(failures) - {"u5"})  # nothing reported failed unprocessed was handed to the consumer
    assert all(state == (a if int(mid[1:]) % 2 == 0 else b) for state, ids in calls for mid in ids if mid[0] == "u")
    if with_tenant:  # the tenant is a source of every record: b's records are refused, not run under a
        assert all(f"u{n}" in failures for n in range(1, 12, 2))
    else:
        assert {mid for mid in ran if mid[0] == "u"} == {f"u{n}" for n in range(12)}
    if mode == "batch":  # one call per state group, records in their order
        assert [mid for mid in next(ids for state, ids in calls if state == a) if mid[0] == "u"][:3] == ["u0", "u2", "u4"]


def test_the_short_lane_keeps_fifo_groups_to_the_long_way(make_state):
    # On a FIFO queue every record has a group: none takes the short lane, and a failure holds back the rest.
    a = make_state("lane_fifo")
    records = [lambda_record({"n": n}, message_id=f"u{n}", state=a, group=f"g{n % 2}", source_arn=FIFO_QUEUE_ARN)
               for n in range(10)]

    class Looping(_Recorder):
        def process_batch(self, records):
            for record in records:  # handles each record in turn: the followers of u5 are never handed out
                self._seen([record])

    consumer = Looping()
    result = consumer.run_records(records)

    assert set(result.failures) == {"u5", "u7", "u9"}
    assert result.failures["u7"].startswith("not processed: an earlier message (u5)")
    assert [ids[0] for _, ids in consumer.calls] == ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u8"]


@pytest.mark.parametrize("fail", [None, "f1"])
def test_standard_records_before_the_first_fifo_record_still_run_in_the_first_round(make_state, fail):
    # Batch mode keeps the records in order (for _fifo_rounds) only once a FIFO record shows: the records
    # of a standard queue read before it must still all run, in the first round, each state in order.
    a, b = make_state("mixed_a"), make_state("mixed_b")

    def standard(mid: str, state: str) -> dict:
        return lambda_record({"n": mid}, message_id=mid, state=state)

    def fifo(mid: str, state: str) -> dict:
        return lambda_record({"n": mid}, message_id=mid, state=state, group="g", source_arn=FIFO_QUEUE_ARN)

    batch = [standard("s1", a), standard("s2", b), standard("s3", a),
             fifo("f1", a), fifo("f2", b), fifo("f3", a), standard("s4", a), standard("s5", b)]

    class Rounds(_Recorder):
        def process_batch(self, records):
            for record in records:  # one at a time, so that a FIFO group's followers are held back
                self._seen([record])
                if record["messageId"] == fail:
                    self.add_message_failed(fail, "marked")

        def _seen(self, records) -> None:
            with self.lock:
                self.calls.append((get_state(), [r["messageId"] for r in records]))

    consumer = Rounds()
    result = consumer.run_records(batch)

    by_state: dict = {}
    for state, ids in consumer.calls:
        by_state.setdefault(state, []).extend(ids)
    if fail is None:
        assert not result.failures
        # round 1: every standard record and f1; round 2: f2 (its group moved to b); round 3: f3 (back to a)
        assert by_state == {a: ["s1", "s3", "f1", "s4", "f3"], b: ["s2", "s5", "f2"]}
        order = [ids[0] for _, ids in consumer.calls]
        assert order.index("f2") > max(order.index(mid) for mid in ("s1", "s2", "s3", "s4", "s5", "f1"))
        assert order.index("f3") > order.index("f2")
    else:  # f1 failed: its group's later records are reported failed, never run; the rest all ran
        assert set(result.failures) == {"f1", "f2", "f3"}
        assert result.failures["f2"].startswith("not processed: an earlier message (f1)")
        assert by_state == {a: ["s1", "s3", "f1", "s4"], b: ["s2", "s5"]}


def test_batch_records_hand_out_what_was_read_whatever_the_consumer_does_to_the_list(make_state):
    # The list is the consumer's: reordering or emptying it changes neither the order records are
    # handed out in when iterated nor which ones a FIFO failure holds back and reports.
    a = make_state("mutated")
    records = [lambda_record({"n": n}, message_id=f"u{n}", state=a, group="g", source_arn=FIFO_QUEUE_ARN)
               for n in range(5)]
    handed: list[str] = []

    class Mutating(SQSConsumer):
        processing_mode = "batch"

        def process_batch(self, records):
            assert len(records) == 5 and records[0]["messageId"] == "u0"
            records.reverse()
            assert records[0]["messageId"] == "u4"  # (indexing sees the list as the consumer left it)
            for record in records:
                handed.append(record["messageId"])
                if record["messageId"] == "u1":
                    self.add_message_failed("u1", "marked")
            records.clear()

    result = Mutating().run_records(records)

    assert handed == ["u0", "u1"]  # in the order read; u2.. held back after u1 failed
    assert set(result.failures) == {"u1", "u2", "u3", "u4"}
    assert result.failures["u2"].startswith("not processed: an earlier message (u1)")
