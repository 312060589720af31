"""The long-polling worker against moto queues and SecantusDB.

Queues have a 1 s visibility timeout; loops that wait for a redelivery poll
until a condition holds (bounded by a deadline), never on a fixed sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from aws_helper_sync import SNSPublisher, SQSConsumer, state_scope
from aws_helper_sync.aws import aws_client
from aws_helper_sync.sqs.worker import SQSWorker, WorkerStats, run_worker
from tests.reliability_support import HttpFault
from tests.sqs_support import (
    create_queue,
    queue_arn,
    queue_depth,
    receive_all,
    send,
    subscribe_queue,
)

if TYPE_CHECKING:
    from typing_extensions import Self

REPO_ROOT = Path(__file__).resolve().parents[1]


def poll_until(worker: SQSWorker, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met in {timeout}s; stats: {worker.stats}"
        worker.poll_once()


def land_records(mongo_client, state: str) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc for doc in mongo_client[state]["land_records"].find()}


@pytest.fixture
def queue(boto_client, unique):
    sqs = boto_client("sqs")
    return sqs, create_queue(sqs, f"{unique}-jobs")


def test_worker_drains_the_queue_and_stops_when_empty(app_root, mongo_client, queue, make_state):
    sqs, url = queue
    states = [make_state(f"w{i}") for i in range(3)]
    sent = {state: [send(sqs, url, {"n": n}, state=state) for n in range(5)] for state in states}

    stats = run_worker("land_records", url, until_empty=True, wait_time_seconds=0)

    assert (stats.received, stats.succeeded, stats.failed, stats.deleted) == (15, 15, 0, 15)
    for state in states:
        assert set(land_records(mongo_client, state)) == set(sent[state])
    assert queue_depth(sqs, url) == (0, 0)


def test_failed_messages_are_not_deleted_and_come_back(app_root, mongo_client, queue, make_state):
    sqs, url = queue
    state = make_state("ohio")
    good = send(sqs, url, {"n": 1}, state=state)
    flaky = send(sqs, url, {"n": 2, "fail_until_receive": 1}, state=state)
    worker = SQSWorker("land_records", url, wait_time_seconds=1)

    worker.poll_once()

    assert (worker.stats.received, worker.stats.failed, worker.stats.deleted) == (2, 1, 1)
    assert sum(queue_depth(sqs, url)) == 1  # not deleted: it waits for its redelivery
    assert set(land_records(mongo_client, state)) == {good}

    poll_until(worker, lambda: flaky in land_records(mongo_client, state))

    assert worker.stats.deleted == 2
    assert land_records(mongo_client, state)[flaky]["writes"] == 1
    assert queue_depth(sqs, url) == (0, 0)


def test_poison_message_goes_to_the_dead_letter_queue(app_root, mongo_client, boto_client, unique, make_state):
    sqs = boto_client("sqs")
    dlq = create_queue(sqs, f"{unique}-dlq")
    url = create_queue(sqs, f"{unique}-main", RedrivePolicy=json.dumps(
        {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": "2"}
    ))
    state = make_state("utah")
    poison = send(sqs, url, {"fail": True}, state=state)
    good = send(sqs, url, {"n": 1}, state=state)
    worker = SQSWorker("land_records", url, wait_time_seconds=1)

    poll_until(worker, lambda: queue_depth(sqs, dlq) != (0, 0))

    [dead] = receive_all(sqs, dlq)
    assert dead["MessageId"] == poison
    assert json.loads(dead["Body"]) == {"fail": True}
    assert worker.stats.failed == 2  # processed maxReceiveCount times, never deleted
    assert set(land_records(mongo_client, state)) == {good}
    assert queue_depth(sqs, url) == (0, 0)


class DeleteFailure:
    """Answers DeleteMessageBatch with every entry failed (nothing is deleted on moto)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        client.meta.events.register("before-call.sqs.DeleteMessageBatch", self, unique_id="delete-failure")

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        entries = json.loads(params["body"])["Entries"]

        class Http:
            status_code = 200
            headers: dict[str, str] = {}  # noqa: RUF012 - a stand-in
            content = b""

        failed = [{"Id": e["Id"], "Code": "InternalError", "Message": "injected", "SenderFault": False}
                  for e in entries]
        return Http(), {"Successful": [], "Failed": failed}

    def close(self) -> None:
        self.client.meta.events.unregister("before-call.sqs.DeleteMessageBatch", self, unique_id="delete-failure")


def test_failed_deletes_are_counted_and_the_messages_come_back(app_root, mongo_client, queue, make_state, caplog):
    sqs, url = queue
    state = make_state("iowa")
    ids = [send(sqs, url, {"n": n}, state=state) for n in range(2)]
    worker = SQSWorker("land_records", url, wait_time_seconds=1)
    injector = DeleteFailure(aws_client("sqs", worker.region))
    try:
        worker.poll_once()
    finally:
        injector.close()

    assert (worker.stats.succeeded, worker.stats.deleted, worker.stats.delete_failed) == (2, 0, 2)
    assert "was not deleted" in caplog.text
    poll_until(worker, lambda: worker.stats.deleted == 2)
    assert {doc["writes"] for doc in land_records(mongo_client, state).values()} == {2}  # redelivered once
    assert set(land_records(mongo_client, state)) == set(ids)


def test_end_to_end_sns_to_sqs_to_state_database(app_root, mongo_client, boto_client, unique, make_state):
    """A script publishes in a state; envelope and raw subscribers; the worker writes per state."""
    sns, sqs = boto_client("sns"), boto_client("sqs")
    topic = sns.create_topic(Name=f"{unique}-titles")["TopicArn"]
    queues = {raw: create_queue(sqs, f"{unique}-{'raw' if raw else 'envelope'}") for raw in (False, True)}
    for raw, url in queues.items():
        subscribe_queue(sns, sqs, topic, url, raw=raw)
    connecticut, ohio = make_state("connecticut"), make_state("ohio")
    publisher = SNSPublisher(topic)

    with state_scope(connecticut):
        publisher.publish([{"content": {"parcel": n}} for n in range(12)])
    with state_scope(ohio):
        publisher.publish({"content": {"parcel": 100}})

    for url in queues.values():
        stats = run_worker("land_records", url, until_empty=True, wait_time_seconds=0)
        assert (stats.received, stats.failed, stats.deleted) == (13, 0, 13)
        assert queue_depth(sqs, url) == (0, 0)
    ct_docs, ohio_docs = land_records(mongo_client, connecticut), land_records(mongo_client, ohio)
    assert len(ct_docs) == 24 and len(ohio_docs) == 2  # one document per SQS message, both queues
    assert sorted(d["content"]["parcel"] for d in ct_docs.values()) == sorted(list(range(12)) * 2)
    assert [d["content"] for d in ohio_docs.values()] == [{"parcel": 100}] * 2
    assert {d["state"] for d in ct_docs.values()} == {connecticut}


def test_worker_accepts_a_class_or_an_instance(app_root, queue):
    from aws_helper_sync.sqs.handler import load_consumer_class

    sqs, url = queue
    send(sqs, url, {"n": 1})
    consumer_class = load_consumer_class("state_recorder")
    assert run_worker(consumer_class, url, until_empty=True, wait_time_seconds=0).succeeded == 1
    instance = consumer_class()
    send(sqs, url, {"n": 2})
    assert run_worker(instance, url, until_empty=True, wait_time_seconds=0).succeeded == 1
    assert [content for _, _, content in consumer_class.seen] == [{"n": 1}, {"n": 2}]
    with pytest.raises(TypeError):
        SQSWorker(object(), url)


def test_worker_queue_url_defaults_to_get_queue_url(app_root, monkeypatch, boto_client, unique):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}svc-jobs-dev")
    for name, value in {"AWS_ACCOUNT_ID": "123456789012", "SERVICE_NAME": f"{unique}svc",
                        "QUEUE_NAME": "-jobs", "ENV": "dev"}.items():
        monkeypatch.setenv(name, value)
    send(sqs, url, {"n": 1})

    worker = SQSWorker("state_recorder", until_empty=True, wait_time_seconds=0)
    stats = worker.run()

    assert worker.queue_url == f"https://sqs.us-east-2.amazonaws.com/123456789012/{unique}svc-jobs-dev"
    assert (stats.received, stats.deleted) == (1, 1)


def test_missing_queue_is_raised_not_retried(app_root, boto_client, unique):
    boto_client("sqs")  # moto reset; no queue created
    worker = SQSWorker("state_recorder", f"https://sqs.us-east-2.amazonaws.com/123456789012/{unique}-none",
                       until_empty=True, wait_time_seconds=0)
    with pytest.raises(Exception, match="NonExistentQueue|QueueDoesNotExist"):
        worker.run()


def test_throttled_receive_is_retried(app_root, queue):
    sqs, url = queue
    send(sqs, url, {"n": 1})
    worker = SQSWorker("state_recorder", url, until_empty=True, wait_time_seconds=0)
    calls = {"n": 0}

    def throttle_once(**_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 1:
            return None

        class Http:
            status_code = 400
            headers: dict[str, str] = {}  # noqa: RUF012 - a stand-in
            content = b""

        return Http(), {"Error": {"Code": "ThrottlingException", "Message": "slow down"},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}

    client = aws_client("sqs", worker.region)
    client.meta.events.register("before-call.sqs.ReceiveMessage", throttle_once, unique_id="throttle-once")
    try:
        stats = worker.run()
    finally:
        client.meta.events.unregister("before-call.sqs.ReceiveMessage", throttle_once, unique_id="throttle-once")

    assert (stats.receive_errors, stats.received, stats.deleted) == (1, 1, 1)


def test_stop_from_another_thread_and_no_signal_handlers_off_the_main_thread(app_root, queue):
    _, url = queue
    before = signal.getsignal(signal.SIGTERM)
    worker = SQSWorker("state_recorder", url, wait_time_seconds=1)
    result: list[WorkerStats] = []
    thread = threading.Thread(target=lambda: result.append(worker.run()))
    thread.start()
    deadline = time.monotonic() + 10
    while worker.stats.receives == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert signal.getsignal(signal.SIGTERM) is before
    worker.stop()
    thread.join(10)

    assert not thread.is_alive()
    assert result and result[0].receives >= 1


WORKER_SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from aws_helper_sync.sqs.worker import SQSWorker
stats = SQSWorker("slow_batch", sys.argv[1], wait_time_seconds=1, max_messages=2).run()
print(json.dumps(stats.__dict__))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_a_batch_finishes_it_and_exits_without_receiving_again(
    app_root, queue, tmp_path, signum
):
    sqs, url = queue
    ids = [send(sqs, url, {"n": n}) for n in range(4)]
    stderr_path = tmp_path / "stderr.log"
    env = {**os.environ, "APP_ROOT": str(app_root), "SLOW_BATCH_DIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, url], env=env, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    try:
        ready = tmp_path / "ready"
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert process.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "the worker never started a batch"
            time.sleep(0.02)
        in_flight = ready.read_text().split(",")

        process.send_signal(signum)
        while f"{signal.Signals(signum).name} received" not in stderr_path.read_text():
            assert time.monotonic() < deadline, stderr_path.read_text()
            time.sleep(0.02)
        (tmp_path / "go").write_text("")
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr_path.read_text()
    stats = json.loads(stdout.strip().splitlines()[-1])
    assert (stats["receives"], stats["received"], stats["deleted"]) == (1, 2, 2)
    assert (tmp_path / "processed.txt").read_text().split() == in_flight  # the batch was finished
    left = receive_all(sqs, url)
    assert sorted(m["MessageId"] for m in left) == sorted(set(ids) - set(in_flight))
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in left} == {"1"}  # never received before


# --- visibility: heartbeat and release (issue 10 §6) ---

class SlowConsumer(SQSConsumer):
    """Batch consumer that takes ``seconds`` per batch and counts each message it is handed."""

    processing_mode = "batch"

    def __init__(self, seconds: float = 0.0, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.handed: Counter[str] = Counter()
        self.started = threading.Event()
        self._lock = threading.Lock()

    def process_batch(self, records):
        with self._lock:
            self.handed.update(record["messageId"] for record in records)
        self.started.set()
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("this batch fails")


def poll_while_another_consumer_receives(sqs, url: str, worker: SQSWorker) -> list[str]:
    """One ``poll_once``; from the moment the batch starts, a second consumer keeps receiving.

    Returns what the second consumer got (it holds each for 30 s).
    """
    stolen: list[str] = []
    done = threading.Event()

    def other_consumer() -> None:
        worker.consumer.started.wait(30)
        while not done.is_set():
            batch = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0, VisibilityTimeout=30)
            stolen.extend(m["MessageId"] for m in batch.get("Messages", []))
            done.wait(0.1)

    thread = threading.Thread(target=other_consumer)
    thread.start()
    try:
        assert worker.poll_once() == 1
    finally:
        done.set()
        thread.join(30)
    return stolen


@pytest.mark.parametrize("heartbeat", [True, False], ids=["heartbeat", "no-heartbeat"])
def test_heartbeat_keeps_a_slow_batch_invisible_to_other_consumers(app_root, queue, heartbeat):
    sqs, url = queue  # visibility timeout 1 s, read by the worker with GetQueueAttributes
    message = send(sqs, url, {"n": 1})
    worker = SQSWorker(SlowConsumer(2.5), url, wait_time_seconds=1, heartbeat=heartbeat)

    stolen = poll_while_another_consumer_receives(sqs, url, worker)

    if not heartbeat:  # the control: without it the batch outlasts its visibility
        assert stolen == [message]
        assert worker.stats.extended == 0
        return
    assert stolen == []
    assert (worker.stats.deleted, worker.stats.extend_failed) == (1, 0)
    assert worker.stats.extended >= 3  # 2.5 s at one extension per 0.5 s
    assert queue_depth(sqs, url) == (0, 0)


def test_failed_extensions_are_logged_and_counted(app_root, queue, caplog):
    sqs, url = queue
    send(sqs, url, {"n": 1})
    worker = SQSWorker(SlowConsumer(1.2), url, wait_time_seconds=1)

    with HttpFault(aws_client("sqs", worker.region), "ChangeMessageVisibilityBatch", lambda *_: True,
                   status=403, code="AccessDenied", message="not allowed"), caplog.at_level("WARNING"):
        worker.poll_once()

    assert worker.stats.extended == 0
    assert worker.stats.extend_failed >= 2
    assert worker.stats.deleted == 1  # processed all the same
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "could not extend" in r.getMessage()]
    assert len(warnings) == worker.stats.extend_failed
    assert "AccessDenied" in warnings[0].getMessage()


def test_failed_messages_are_released_for_redelivery_right_away(app_root, mongo_client, boto_client, unique,
                                                                make_state):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-slow", VisibilityTimeout=30)
    state = make_state("ohio")
    failing = send(sqs, url, {"fail": True}, state=state)
    good = send(sqs, url, {"n": 1}, state=state)
    worker = SQSWorker("land_records", url, wait_time_seconds=1)

    worker.poll_once()

    assert (worker.stats.failed, worker.stats.deleted, worker.stats.released) == (1, 1, 1)
    assert queue_depth(sqs, url) == (1, 0)  # visible again now, not in 30 s
    [again] = receive_all(sqs, url)
    assert (again["MessageId"], again["Attributes"]["ApproximateReceiveCount"]) == (failing, "2")
    assert set(land_records(mongo_client, state)) == {good}


def test_retry_delay_is_a_backoff_on_the_receive_count(app_root, queue):
    sqs, url = queue  # 1 s visibility: without the delay the message is back within a second
    failing = send(sqs, url, {"n": 1})
    asked: list[int] = []

    def backoff(receives: int) -> int:
        asked.append(receives)
        return 30

    worker = SQSWorker(SlowConsumer(fail=True), url, wait_time_seconds=0, retry_delay=backoff)
    worker.poll_once()
    time.sleep(1.5)

    assert asked == [1]
    assert (worker.stats.failed, worker.stats.released) == (1, 1)
    assert queue_depth(sqs, url) == (0, 1)  # held back for 30 s
    assert failing in worker.consumer.handed


def test_until_empty_leaves_failures_to_their_timeout_instead_of_taking_them_back(app_root, boto_client, unique):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-cron", VisibilityTimeout=30)
    send(sqs, url, {"n": 1})
    consumer = SlowConsumer(fail=True)

    stats = run_worker(consumer, url, until_empty=True, wait_time_seconds=0)

    assert (stats.received, stats.failed, stats.released) == (1, 1, 0)
    assert sum(consumer.handed.values()) == 1  # one attempt per drain, not a loop
    assert queue_depth(sqs, url) == (0, 1)


class ReceiveParams:
    """Records the parameters of the client's ReceiveMessage calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[dict[str, Any]] = []

    def __enter__(self) -> Self:
        self.client.meta.events.register("provide-client-params.sqs.ReceiveMessage", self, unique_id="rp")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister("provide-client-params.sqs.ReceiveMessage", self, unique_id="rp")

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))


def test_without_permission_to_read_the_timeout_the_worker_sets_one(app_root, queue, caplog):
    sqs, url = queue
    send(sqs, url, {"n": 1})
    worker = SQSWorker(SlowConsumer(), url, until_empty=True, wait_time_seconds=1)
    client = aws_client("sqs", worker.region)

    with HttpFault(client, "GetQueueAttributes", lambda *_: True, status=403, code="AccessDenied"), \
            ReceiveParams(client) as receives:
        stats = worker.run()

    assert stats.deleted == 1
    assert {call.get("VisibilityTimeout") for call in receives.calls} == {30}
    assert "cannot read the visibility timeout" in caplog.text


def test_visibility_option_is_kept_up_and_no_queue_attributes_are_read(app_root, queue):
    sqs, url = queue
    send(sqs, url, {"n": 1})
    worker = SQSWorker(SlowConsumer(1.2), url, until_empty=True, wait_time_seconds=0, visibility_timeout=2)
    client = aws_client("sqs", worker.region)

    with HttpFault(client, "GetQueueAttributes", lambda *_: True, status=403, code="AccessDenied") as reads, \
            ReceiveParams(client) as receives:
        stats = worker.run()

    assert reads.calls == 0
    assert {call["VisibilityTimeout"] for call in receives.calls} == {2}
    assert (stats.deleted, stats.extended, stats.extend_failed) == (1, 1, 0)  # one beat at 1 s of 1.2 s


@pytest.mark.parametrize(("options", "message"), [
    ({"visibility_timeout": 50000}, "visibility_timeout must be a whole number of seconds from 0 to 43200"),
    ({"retry_delay": -1}, "retry_delay must be"),
    ({"stop_check_seconds": 0}, "stop_check_seconds must be"),
])
def test_bad_visibility_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        SQSWorker(SlowConsumer(), "https://sqs.us-east-2.amazonaws.com/123456789012/q", **options)
