"""SQS delivery at the edges (issue 10 §2, §4, §5, §8), on real SecantusDB and moto queues.

- FIFO order in batch mode: a FIFO queue on moto with message groups in two
  states, drained by ``SQSWorker`` with a batch consumer that applies each
  record inside its loop; 10% of the messages fail on their first delivery.
  Every message is applied exactly once, in its group's order.
- Poison records: a 100,000-deep body among good messages, through the worker
  with a dead-letter queue and through ``sqs_handler`` in both modes: no good
  message fails or is dead-lettered.
- Foreign events (SNS direct, Kinesis, DynamoDB, no Records, records without
  messageId): ``sqs_handler`` raises for each, runs and acknowledges nothing.
- The Lambda deadline: 1.5 s left, records of 1 s each: the handler returns
  before the deadline, the finished work is acknowledged, the rest is failed
  unprocessed.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

import pytest

from aws_helper_sync.sqs.handler import BadEventError, load_consumer_class, sqs_handler
from aws_helper_sync.sqs.worker import SQSWorker
from tests.reliability_support import report, use_reliability_app
from tests.sqs_support import (
    create_queue,
    failed_ids,
    lambda_event,
    lambda_record,
    queue_arn,
    queue_depth,
    receive_all,
    send,
)
from tests.test_sqs_handler import foreign_events

MODULE = "sqs-delivery"
DEEP_BODY = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


# --- §2 FIFO order in batch mode ------------------------------------------------

GROUPS = 3
PER_GROUP = 20


def _event_source_mapping(sqs: Any, url: str, handler: Any, deadline_s: float) -> dict[str, int]:
    """What Lambda's SQS event source mapping does, against the moto queue, until the queue is empty.

    Receive up to 10 messages (moto keeps FIFO group order and never hands out a
    group with a message in flight), invoke the handler with the Lambda-shape
    event, delete the successes and make the reported failures visible again
    at once. (Releasing them, rather than waiting out the visibility timeout,
    also steps around a moto 5.x quirk: when several in-flight messages of one
    group time out together, moto can redeliver a later one first.)
    """
    from aws_helper_sync.sqs import records as rec

    arn = queue_arn(sqs, url)
    counts = {"invocations": 0, "deliveries": 0, "reported_failed": 0}
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=30,
            MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            if queue_depth(sqs, url) == (0, 0):
                return counts
            time.sleep(0.05)
            continue
        records = [rec.record_from_message(m, arn, "us-east-2") for m in messages]
        failed = failed_ids(handler(lambda_event(*records)))
        counts["invocations"] += 1
        counts["deliveries"] += len(records)
        counts["reported_failed"] += len(failed)
        done = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(records)
                if r["messageId"] not in failed]
        again = [{"Id": str(i), "ReceiptHandle": r["receiptHandle"], "VisibilityTimeout": 0}
                 for i, r in enumerate(records) if r["messageId"] in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=url, Entries=done)
        if again:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=again)
    raise AssertionError(f"queue not drained within {deadline_s:.0f}s: {queue_depth(sqs, url)}, {counts}")


def test_fifo_batch_mode_applies_every_message_once_in_group_order(
    reliability_app, mongo_client, boto_client, unique, make_state
):
    sqs = boto_client("sqs")
    states = [make_state("connecticut"), make_state("ohio")]
    url = create_queue(sqs, f"{unique}-ledger.fifo", ContentBasedDeduplication="false")
    sent: dict[str, list[str]] = {}
    transient = set()
    for index in range(PER_GROUP):
        for group_number in range(GROUPS):
            group = f"parcel-{group_number}"
            uid = f"{group}-{index:02d}"
            fault = "transient" if (index * GROUPS + group_number) % 10 == 3 else None
            if fault:
                transient.add(uid)
            # the last group alternates between the two states: its order spans state groups
            state = states[index % 2] if group_number == GROUPS - 1 else states[group_number % 2]
            send(sqs, url, {"uid": uid, "group": group, "index": index, "fault": fault}, state=state,
                 MessageGroupId=group, MessageDeduplicationId=uid)
            sent.setdefault(group, []).append(uid)

    consumer_class = load_consumer_class("fifo_ledger")
    total = GROUPS * PER_GROUP
    started = time.monotonic()
    counts = _event_source_mapping(sqs, url, sqs_handler("fifo_ledger"), 120)
    elapsed = time.monotonic() - started

    documents = sorted((doc for state in states for doc in mongo_client[state]["fifo_ledger"].find()),
                       key=lambda doc: doc["seq"])
    by_group: dict[str, list[str]] = defaultdict(list)
    for doc in documents:
        by_group[doc["group"]].append(doc["uid"])
    applied_twice = len(documents) - len({doc["uid"] for doc in documents})
    out_of_order = sum(1 for group, uids in by_group.items() for a, b in zip(uids, uids[1:])
                       if sent[group].index(a) > sent[group].index(b))
    held_back = counts["reported_failed"] - len(transient)
    report(
        MODULE, "FIFO queue on moto, batch mode through sqs_handler: 10% fail on their first delivery",
        messages=total,
        message_groups=f"{GROUPS} in 2 states (one group alternating between them)",
        transient_faults_injected=len(transient),
        invocations=counts["invocations"],
        deliveries=counts["deliveries"],
        reported_failed=counts["reported_failed"],
        held_back_unprocessed=held_back,
        held_back_handed_to_the_consumer=consumer_class.handed - total - len(transient),
        applied_once=len({doc["uid"] for doc in documents}),
        applied_twice=applied_twice,
        applied_out_of_group_order=out_of_order,
        left_in_queue=sum(queue_depth(sqs, url)),
        wall_time_s=round(elapsed, 1),
    )

    assert applied_twice == 0
    assert out_of_order == 0, "\n".join(f"{g}: {[u[-2:] for u in uids]}" for g, uids in sorted(by_group.items()))
    assert dict(by_group) == sent
    assert {doc["uid"]: doc["receive_count"] for doc in documents if doc["uid"] in transient} == \
        dict.fromkeys(transient, 2)
    # Every delivery is handed to the consumer once, except the records held back behind a
    # failure of their group in the same call: those reached the consumer on a later delivery only.
    assert counts["deliveries"] == total + counts["reported_failed"]
    assert consumer_class.handed == total + len(transient)
    assert held_back > 0


# --- §4 poison records ------------------------------------------------------------


def test_a_poison_body_fails_alone_through_the_worker_with_a_dead_letter_queue(
    reliability_app, mongo_client, boto_client, unique, make_state
):
    sqs = boto_client("sqs")
    state = make_state("worker")
    dlq = create_queue(sqs, f"{unique}-dlq")
    url = create_queue(sqs, f"{unique}-src", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "1"}))
    good = 29
    for index in range(good):
        if index == 9:
            send(sqs, url, DEEP_BODY)  # no state anywhere: only its body could name one
        send(sqs, url, {"uid": f"u{index}", "n": index}, state=state)

    consumer = load_consumer_class("ledger")()
    SQSWorker(consumer, url, wait_time_seconds=0, until_empty=True, handle_signals=False).run()
    time.sleep(1.2)  # the poison message's visibility timeout (1 s): the next receive dead-letters it
    SQSWorker(consumer, url, wait_time_seconds=0, until_empty=True, handle_signals=False).run()

    written = mongo_client[state]["ledger"].count_documents({})
    dead = receive_all(sqs, dlq)
    report(
        MODULE, "a 100,000-deep body among 29 good messages, SQSWorker, DLQ with maxReceiveCount 1",
        good_messages=good,
        good_written=written,
        dead_lettered=len(dead),
        good_dead_lettered=sum(1 for m in dead if m["Body"] != DEEP_BODY),
        left_in_queue=sum(queue_depth(sqs, url)),
    )

    assert written == good
    assert [m["Body"] == DEEP_BODY for m in dead] == [True]
    assert queue_depth(sqs, url) == (0, 0)


@pytest.mark.parametrize("consumer", ["strict", "strict_batch"])
def test_a_poison_body_in_every_batch_fails_no_good_record(reliability_app, consumer, make_state):
    state = make_state("poison")
    handler = sqs_handler(consumer)
    batches, good, good_failed, poison_failed = 20, 0, 0, 0
    for batch in range(batches):
        records = [lambda_record({"uid": f"b{batch}-{i}", "n": i}, state=state) for i in range(9)]
        poison = lambda_record(DEEP_BODY)
        records.insert(batch % 10, poison)
        response = handler(lambda_event(*records))
        failed = failed_ids(response)
        good += len(records) - 1
        good_failed += len(failed - {poison["messageId"]})
        poison_failed += poison["messageId"] in failed
    report(
        MODULE, f"sqs_handler({consumer!r}): one 100,000-deep body (no state) in each batch of 10",
        batches=batches, good_records=good, good_records_failed=good_failed,
        poison_records_failed=f"{poison_failed} (the consumer's rule rejects {{'raw': ...}})",
        batches_aborted=0 if good_failed == 0 else "some",
    )

    assert good_failed == 0
    assert poison_failed == batches  # strict rejects content that is not its JSON object


# --- §5 events that are not SQS events ----------------------------------------------


def test_events_that_are_not_from_sqs_raise_and_nothing_is_acknowledged(reliability_app, make_state):
    handler = sqs_handler("strict")
    raised, answered = [], []
    for kind, event in sorted(foreign_events().items()):
        try:
            answered.append((kind, handler(event)))
        except BadEventError as exc:
            assert "not an SQS event" in str(exc)
            raised.append(kind)
    hand_built = handler({"Records": [{"messageId": "m-1", "body": json.dumps({"uid": "u", "n": 1}),
                                       "messageAttributes": {"constitution-state": {"stringValue": make_state("ok")}}}]})
    report(
        MODULE, "sqs_handler given events of other sources and shapes",
        event_kinds=len(foreign_events()),
        raised_so_that_lambda_retries=len(raised),
        answered=len(answered),
        kinds=", ".join(sorted(raised)),
        hand_built_sqs_event_without_eventSource=f"answered: {hand_built['batchItemFailures']}",
    )

    assert answered == []
    assert hand_built["batchItemFailures"] == []


# --- §8 the Lambda deadline ------------------------------------------------------------


class LambdaContext:
    def __init__(self, seconds_left: float) -> None:
        self.deadline = time.monotonic() + seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@pytest.mark.parametrize("mode", ["single", "batch: one state group per record", "batch: one state group"])
def test_the_handler_returns_before_the_lambda_deadline(reliability_app, make_state, mode):
    states = [make_state(f"s{i}") for i in range(4)]
    consumer_class = load_consumer_class("slow_unit")
    consumer_class.processing_mode = "single" if mode == "single" else "batch"
    same_state = mode == "batch: one state group"
    records = [lambda_record({"sleep": 1}, state=states[0] if same_state else states[i]) for i in range(4)]
    context = LambdaContext(1.5)

    started = time.monotonic()
    response = sqs_handler("slow_unit")(lambda_event(*records), context)
    elapsed = time.monotonic() - started

    left_ms = context.get_remaining_time_in_millis()
    failed = failed_ids(response)
    report(
        MODULE, f"deadline 1.5 s away, records of 1 s each ({mode}), margin "
                f"{consumer_class.deadline_margin_ms} ms",
        records=len(records),
        returned_after_s=round(elapsed, 2),
        time_left_at_return_ms=left_ms,
        acknowledged=response["successful"],
        failed_unprocessed=len(failed - set(consumer_class.started)),
        processed_but_reported_failed=len(failed & set(consumer_class.started)),
    )

    assert left_ms > 0
    assert consumer_class.started == [records[0]["messageId"]]
    assert failed == {r["messageId"] for r in records[1:]}
