"""No message is lost and none is processed twice: SNS -> SQS -> worker -> MongoDB.

1,000 messages with unique ids are published with ``SNSPublisher`` (in four
states) to four topics, each with one subscribed queue (two with raw delivery,
two with the SNS envelope), a redrive policy (maxReceiveCount 2) and a dead-
letter queue. One ``SQSWorker`` per queue drains it with the batch consumer
``consumer/ledger.py``, which fails 10% of the messages on their first
delivery only and 1% on every delivery. Messages go out in waves while the
workers drain, so no moto queue ever gets deep (TESTING.md).

The accounting at the end: every message is either written exactly once in
its own state's database or sits in the dead-letter queue, never both, never
neither; the source queues are empty; and every delete the worker made
belongs to a record that the consumer processed successfully.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from aws_helper_sync.aws import aws_client
from aws_helper_sync.sqs.handler import load_consumer_class
from tests import sharded_pipeline as pipeline
from tests.reliability_support import report, use_reliability_app, wait_for
from tests.sqs_support import queue_depth, receive_all

if TYPE_CHECKING:
    from typing_extensions import Self

MESSAGES = 1000
MAX_RECEIVE_COUNT = 2


def fault_of(index: int) -> str | None:
    """1% permanent, 10% transient (disjoint), the rest clean."""
    if index % 100 == 7:
        return "permanent"
    if index % 10 == 3:
        return "transient"
    return None


class DeleteLedger:
    """Observes (never alters) every DeleteMessageBatch the library's SQS client sends."""

    event = "before-parameter-build.sqs.DeleteMessageBatch"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.receipts: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.receipts.extend(entry["ReceiptHandle"] for entry in params["Entries"])

    def __enter__(self) -> Self:
        self.client.meta.events.register(self.event, self, unique_id="reliability-delete-ledger")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, self, unique_id="reliability-delete-ledger")


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


def uid_of(message: dict[str, Any]) -> str:
    body = json.loads(message["Body"])
    if body.get("Type") == "Notification":
        body = json.loads(body["Message"])
    return body["uid"]


def test_a_thousand_messages_with_faults_are_each_written_once_or_dead_lettered(
    reliability_app, mongo_client, boto_client, unique, make_state
):
    sns, sqs = boto_client("sns"), boto_client("sqs")
    states = [make_state(name) for name in ("connecticut", "ohio", "utah", "iowa")]
    shards = pipeline.make_shards(sns, sqs, unique, max_receive_count=MAX_RECEIVE_COUNT)
    messages = pipeline.spread(states, MESSAGES, uid=lambda index: f"{unique}-{index:04d}", fault=fault_of)
    consumer = load_consumer_class("ledger")()  # one instance shared by the four workers
    workers = pipeline.shard_workers(consumer, shards)
    started = time.monotonic()

    with DeleteLedger(aws_client("sqs", workers[0].region)) as deletes, pipeline.running(workers, "worker"):
        pipeline.publish_in_waves(sqs, shards, messages, states,
                         lambda wave: [{"content": {"uid": m["uid"], "fault": m["fault"]}} for m in wave])
        expected_written = sum(1 for m in messages if m["fault"] != "permanent")
        expected_dead = MESSAGES - expected_written

        def written() -> int:
            return sum(mongo_client[state]["ledger"].count_documents({}) for state in states)

        def settled() -> bool:
            return (
                written() == expected_written
                and sum(queue_depth(sqs, s["dlq"])[0] for s in shards) == expected_dead
                and all(queue_depth(sqs, s["url"]) == (0, 0) for s in shards)
            )

        wait_for(settled, 120, lambda: (
            f"written {written()}/{expected_written}, dead letters "
            f"{[queue_depth(sqs, s['dlq']) for s in shards]}, sources "
            f"{[queue_depth(sqs, s['url']) for s in shards]}, workers {[w.stats for w in workers]}"
        ))
    elapsed = time.monotonic() - started

    by_uid = {m["uid"]: m for m in messages}
    documents = {}
    for state in states:
        for doc in mongo_client[state]["ledger"].find():
            assert doc["_id"] not in documents, f"{doc['_id']} written in two databases"
            documents[doc["_id"]] = {**doc, "database": state}
    dead = [uid_of(m) for s in shards for m in receive_all(sqs, s["dlq"])]
    stats = [worker.stats for worker in workers]
    transient = {m["uid"] for m in messages if m["fault"] == "transient"}
    permanent = {m["uid"] for m in messages if m["fault"] == "permanent"}
    report(
        "no-loss", "1,000 messages through SNS -> SQS -> SQSWorker (batch consumer)",
        messages_published=MESSAGES,
        queues=f"{pipeline.QUEUES}, maxReceiveCount {MAX_RECEIVE_COUNT}, visibility 1 s",
        transient_faults_injected=len(transient),
        permanent_faults_injected=len(permanent),
        deliveries_received=sum(s.received for s in stats),
        deliveries_failed=sum(s.failed for s in stats),
        written_once_in_mongodb=sum(1 for d in documents.values() if d["writes"] == 1),
        transient_written_on_second_delivery=sum(
            1 for uid in transient if documents.get(uid, {}).get("receive_count") == 2),
        dead_lettered=len(dead),
        deleted=sum(s.deleted for s in stats),
        delete_failures=sum(s.delete_failed for s in stats),
        left_in_source_queues=sum(sum(queue_depth(sqs, s["url"])) for s in shards),
        lost=MESSAGES - len(documents) - len(set(dead)),
        wall_time_s=round(elapsed, 1),
    )

    # Every message is written once, or dead-lettered: none lost, none doubled.
    assert set(documents) | set(dead) == set(by_uid)
    assert sorted(dead) == sorted(permanent)
    assert set(documents) == set(by_uid) - permanent
    assert all(doc["writes"] == 1 for doc in documents.values())
    assert all(doc["database"] == doc["state"] == by_uid[uid]["state"] for uid, doc in documents.items())
    assert {uid: doc["receive_count"] for uid, doc in documents.items() if uid in transient} == \
        dict.fromkeys(transient, 2)
    assert {doc["receive_count"] for uid, doc in documents.items() if uid not in transient} == {1}
    # Failed deliveries: each transient once, each permanent maxReceiveCount times; never deleted.
    assert sum(s.failed for s in stats) == len(transient) + MAX_RECEIVE_COUNT * len(permanent)
    assert sum(s.received for s in stats) == consumer.attempts
    # Nothing deleted that was not processed, and everything processed was deleted.
    assert len(deletes.receipts) == len(set(deletes.receipts)) == len(documents)
    assert set(deletes.receipts) == consumer.succeeded_receipts
    assert sum(s.delete_failed for s in stats) == 0
    assert all(queue_depth(sqs, s["url"]) == (0, 0) for s in shards)
