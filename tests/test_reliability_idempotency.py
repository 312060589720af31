"""Exactly-once effects with ``@idempotent`` on MongoDB: duplicates and crashes.

1. 1,000 messages through SNS -> SQS -> ``SQSWorker`` (four states, four topics
   each with one queue, two raw and two with the SNS envelope) with 10%
   duplicated deliveries: 5% published twice (the same content, new SNS and
   SQS message ids) and 5% delivered again because the worker's delete of the
   first delivery is lost (dropped from DeleteMessageBatch, as after a crash
   between the write and the delete). The consumer
   ``consumer/idempotent_effects.py`` writes one side-effect document per run
   of its body; the accounting counts them: exactly one per message.
2. A process killed with SIGKILL inside the body: its in-progress claim blocks
   the key (``IdempotencyInProgressError``) until it expires, then the key runs
   again, once. Once with ``idempotent_call`` in a plain process, once with a
   worker process (``consumer/hanging_effects.py``) whose message SQS redelivers
   to a second worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from aws_helper_sync import state_scope
from aws_helper_sync.aws import aws_client
from aws_helper_sync.idempotency import IdempotencyInProgressError, idempotent_call
from aws_helper_sync.sqs.handler import load_consumer_class
from aws_helper_sync.sqs.worker import SQSWorker
from tests import sharded_pipeline as pipeline
from tests.reliability_support import (
    RELIABILITY_APP,
    report,
    use_reliability_app,
    wait_for,
)
from tests.sqs_support import create_queue, queue_depth, send

if TYPE_CHECKING:
    from typing_extensions import Self

MESSAGES = 1000


def duplicate_of(index: int) -> str | None:
    """5% published twice, 5% redelivered (disjoint), the rest once."""
    if index % 20 == 3:
        return "publish"
    if index % 20 == 13:
        return "redeliver"
    return None


class LostDeletes:
    """Drops the DeleteMessageBatch entries the consumer asked to lose (the message comes back)."""

    event = "before-parameter-build.sqs.DeleteMessageBatch"

    def __init__(self, client: Any, consumer: Any) -> None:
        self.client = client
        self.consumer = consumer
        self.dropped: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            lost = [e for e in params["Entries"] if e["ReceiptHandle"] in self.consumer.lose_delete]
            self.dropped.extend(e["ReceiptHandle"] for e in lost)
            params["Entries"][:] = [e for e in params["Entries"] if e not in lost]

    def __enter__(self) -> Self:
        self.client.meta.events.register(self.event, self, unique_id="reliability-lost-deletes")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, self, unique_id="reliability-lost-deletes")


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


def test_a_thousand_messages_with_ten_percent_duplicates_have_each_effect_exactly_once(
    reliability_app, mongo_client, boto_client, unique, make_state
):
    sns, sqs = boto_client("sns"), boto_client("sqs")
    states = [make_state(name) for name in ("connecticut", "ohio", "utah", "iowa")]
    shards = pipeline.make_shards(sns, sqs, f"{unique}-idem")
    messages = pipeline.spread(states, MESSAGES, uid=lambda index: f"{unique}-{index:04d}", dup=duplicate_of)
    consumer = load_consumer_class("idempotent_effects")()  # one instance shared by the four workers
    workers = pipeline.shard_workers(consumer, shards)
    started = time.monotonic()

    def entries(wave: list[dict[str, Any]]) -> list[dict[str, Any]]:
        batch = [{"content": {"uid": m["uid"], "dup": m["dup"]}} for m in wave]
        return batch + [entry for entry in batch if entry["content"]["dup"] == "publish"]  # twice

    with LostDeletes(aws_client("sqs", workers[0].region), consumer) as lost, pipeline.running(workers, "idem-worker"):
        published = pipeline.publish_in_waves(sqs, shards, messages, states, entries)

        def effects() -> int:
            return sum(mongo_client[state]["effects"].count_documents({}) for state in states)

        redeliveries = sum(1 for m in messages if m["dup"] == "redeliver")

        def settled() -> bool:
            return (
                len(lost.dropped) == redeliveries
                and all(queue_depth(sqs, s["url"]) == (0, 0) for s in shards)
                and sum(w.stats.deleted for w in workers) == published
            )

        wait_for(settled, 120, lambda: (
            f"effects {effects()}, lost deletes {len(lost.dropped)}/{redeliveries}, queues "
            f"{[queue_depth(sqs, s['url']) for s in shards]}, workers {[w.stats for w in workers]}"
        ))
    elapsed = time.monotonic() - started

    by_uid = {m["uid"]: m for m in messages}
    documents: dict[str, list[dict[str, Any]]] = {}
    for state in states:
        for doc in mongo_client[state]["effects"].find():
            documents.setdefault(doc["uid"], []).append({**doc, "database": state})
    stats = [w.stats for w in workers]
    received = sum(s.received for s in stats)
    duplicate_deliveries = received - MESSAGES
    report(
        "idempotency", "1,000 messages through SNS -> SQS -> SQSWorker with 10% duplicated deliveries",
        messages=MESSAGES,
        published_twice=sum(1 for m in messages if m["dup"] == "publish"),
        deletes_lost_then_redelivered=len(lost.dropped),
        queues=f"{pipeline.QUEUES}, visibility 1 s, one worker each",
        deliveries_received=received,
        duplicate_deliveries=duplicate_deliveries,
        body_runs=consumer.body_runs,
        side_effects_written=sum(len(docs) for docs in documents.values()),
        messages_with_exactly_one_effect=sum(1 for docs in documents.values() if len(docs) == 1),
        messages_with_two_or_more_effects=sum(1 for docs in documents.values() if len(docs) > 1),
        messages_without_effect=MESSAGES - len(documents),
        deliveries_failed=sum(s.failed for s in stats),
        idempotency_records=sum(mongo_client[state]["idempotency"].count_documents({}) for state in states),
        left_in_queues=sum(sum(queue_depth(sqs, s["url"])) for s in shards),
        wall_time_s=round(elapsed, 1),
    )

    assert set(documents) == set(by_uid)
    assert all(len(docs) == 1 for docs in documents.values())
    assert consumer.body_runs == MESSAGES
    assert all(docs[0]["database"] == docs[0]["state"] == by_uid[uid]["state"] for uid, docs in documents.items())
    assert duplicate_deliveries >= MESSAGES // 10  # every planned duplicate did arrive (and maybe more)
    assert len(lost.dropped) == MESSAGES // 20
    # the lost deletes' messages came back: each was deleted on a later delivery
    assert sum(s.deleted for s in stats) == published == MESSAGES + MESSAGES // 20
    assert sum(mongo_client[state]["idempotency"].count_documents({"status": "COMPLETED"}) for state in states) \
        == MESSAGES
    assert all(queue_depth(sqs, s["url"]) == (0, 0) for s in shards)


CRASHING_CHILD = textwrap.dedent("""
    import sys, time
    from aws_helper_sync import state_scope
    from aws_helper_sync.database import MongoManager
    from aws_helper_sync.idempotency import idempotent_call

    state, timeout = sys.argv[1], float(sys.argv[2])

    def body(payload):
        MongoManager.get_client()[state]["attempts"].insert_one({"who": "child", "payload": payload})
        print("IN BODY", flush=True)
        time.sleep(60)  # killed here
        MongoManager.get_client()[state]["effects"].insert_one({"who": "child"})

    with state_scope(state):
        idempotent_call(body, {"job": "nightly-export"}, name="tests.crash.job", in_progress_timeout=timeout)
""")


def test_a_process_killed_inside_the_body_frees_its_key_after_the_in_progress_expiry(mongo_client, make_state):
    state, timeout = make_state("ohio"), 1.5
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_CHILD, state, str(timeout)],
        stdout=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        assert child.stdout.readline().strip() == "IN BODY"
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
    killed_at = time.monotonic()

    runs: list[str] = []

    def body(payload):
        runs.append("parent")
        mongo_client[state]["effects"].insert_one({"who": "parent"})
        return "exported"

    blocked, outcome = 0, None
    with state_scope(state):
        while outcome is None:
            try:
                outcome = idempotent_call(body, {"job": "nightly-export"}, name="tests.crash.job",
                                          in_progress_timeout=timeout)
            except IdempotencyInProgressError:
                blocked += 1
                assert time.monotonic() - killed_at < timeout + 5, "the crashed claim never expired"
                time.sleep(0.1)
        freed_after = time.monotonic() - killed_at
        repeat = idempotent_call(body, {"job": "nightly-export"}, name="tests.crash.job", in_progress_timeout=timeout)
    (record,) = mongo_client[state]["idempotency"].find()
    report(
        "idempotency", "a process killed with SIGKILL inside the idempotent body",
        in_progress_timeout_s=timeout,
        child_exit=f"SIGKILL while in the body (exit {child.returncode})",
        retries_refused_as_in_progress=blocked,
        key_free_again_after_kill_s=round(freed_after, 2),
        runs_after_the_expiry=len(runs),
        repeat_after_completion="stored result, not run" if repeat == "exported" and len(runs) == 1 else repeat,
        completed_effects=mongo_client[state]["effects"].count_documents({}),
        record_status=record["status"],
    )
    assert blocked >= 1  # the claim of the killed attempt held while it was live
    assert freed_after < timeout + 5
    assert outcome == repeat == "exported" and runs == ["parent"]
    assert mongo_client[state]["attempts"].count_documents({"who": "child"}) == 1
    assert mongo_client[state]["effects"].count_documents({}) == 1
    assert record["status"] == "COMPLETED"


WORKER_CHILD = textwrap.dedent("""
    import sys
    from aws_helper_sync.sqs.worker import run_worker

    run_worker("hanging_effects", sys.argv[1], wait_time_seconds=1, handle_signals=False)
""")


def test_a_worker_killed_inside_the_body_has_its_message_processed_once_after_the_claim_expires(
    reliability_app, mongo_client, boto_client, unique, make_state
):
    in_progress_timeout = load_consumer_class("hanging_effects").process_record.idempotency_config.in_progress_timeout
    sqs, state = boto_client("sqs"), make_state("iowa")
    url = create_queue(sqs, f"{unique}-crash")
    send(sqs, url, {"uid": "export-1"}, state=state)
    child = subprocess.Popen(
        [sys.executable, "-c", WORKER_CHILD, url],
        env={**os.environ, "APP_ROOT": str(RELIABILITY_APP)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: mongo_client[state]["attempts"].count_documents({}) == 1, 30,
                 lambda: f"the worker child never entered the body (exit {child.poll()})")
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()
    killed_at = time.monotonic()

    worker = SQSWorker("hanging_effects", url, wait_time_seconds=1, handle_signals=False)
    thread = threading.Thread(target=worker.run, name="idem-crash-worker")
    thread.start()
    try:
        wait_for(lambda: mongo_client[state]["effects"].count_documents({}) == 1 and queue_depth(sqs, url) == (0, 0),
                 in_progress_timeout + 30, lambda: f"effects {mongo_client[state]['effects'].count_documents({})}, "
                 f"queue {queue_depth(sqs, url)}, worker {worker.stats}")
        processed_after = time.monotonic() - killed_at
    finally:
        worker.stop()
        thread.join(30)
    (effect,) = mongo_client[state]["effects"].find()
    (record,) = mongo_client[state]["idempotency"].find()
    report(
        "idempotency", "a worker process killed with SIGKILL inside the body; SQS redelivers to a second worker",
        in_progress_timeout_s=in_progress_timeout,
        visibility_timeout_s=1,
        attempts_entered=mongo_client[state]["attempts"].count_documents({}),
        redeliveries_refused_as_in_progress=worker.stats.failed,
        processed_on_delivery=effect["receive_count"],
        processed_after_kill_s=round(processed_after, 1),
        side_effects_written=mongo_client[state]["effects"].count_documents({}),
        record_status=record["status"],
        left_in_queue=sum(queue_depth(sqs, url)),
    )
    assert mongo_client[state]["effects"].count_documents({}) == 1
    assert mongo_client[state]["attempts"].count_documents({"receive_count": 1}) == 1
    assert worker.stats.failed >= 1  # the claim of the killed worker held while it was live
    assert effect["receive_count"] >= 3 and record["status"] == "COMPLETED"
    assert worker.stats.deleted == 1 and queue_depth(sqs, url) == (0, 0)
