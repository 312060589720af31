"""The long-polling worker holds what it processes (visibility heartbeat) and stops when asked.

Two workers share one queue whose visibility timeout is shorter than a batch.
Without the heartbeat, messages still being processed by one worker become
visible and are handed to the other: processed twice, while both workers
report clean stats. With the heartbeat (the default) each message is handed
to a consumer exactly once. Processing is counted per message id in memory,
at the moment the consumer is handed the record.

The second worker starts while the first is (batch - visibility) / 2 into its
first batch: workers never run in lockstep in production, and two workers that
receive at the same instant and delete before their next receive would hide
the problem.

Stopping: the real ``consume`` command in a subprocess against moto. An idle
worker exits within 2 s of SIGTERM/SIGINT with the default 20 s long-poll
setting; a batch in flight is finished and deleted first; ``--until-empty``
ends after one short receive.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from aws_helper_sync import SQSConsumer
from aws_helper_sync.sqs.worker import SQSWorker, WorkerStats
from tests.reliability_support import report, wait_for
from tests.sqs_support import create_queue, queue_depth, send


class CountingConsumer(SQSConsumer):
    """Batch consumer taking ``seconds`` per batch; counts how often each message is handed to it."""

    processing_mode = "batch"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.handed: Counter[str] = Counter()
        self.first_batch = threading.Event()
        self._lock = threading.Lock()

    def process_batch(self, records):
        with self._lock:
            self.handed.update(record["messageId"] for record in records)
        self.first_batch.set()
        time.sleep(self.seconds)


def sqs_visibility(sqs, url: str) -> int:
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
               ["Attributes"]["VisibilityTimeout"])


def two_workers(sqs, url: str, *, messages: int, batch_seconds: float, batch_size: int,
                **options) -> tuple[list[str], Counter[str], list[WorkerStats], float]:
    """Send ``messages``, drain them with two workers (one consumer instance); what was handed out."""
    ids = [send(sqs, url, {"n": n}) for n in range(messages)]
    consumer = CountingConsumer(batch_seconds)
    stagger = max(0.0, (batch_seconds - sqs_visibility(sqs, url)) / 2)
    workers = [SQSWorker(consumer, url, wait_time_seconds=0, until_empty=True, max_messages=batch_size,
                         handle_signals=False, **options) for _ in range(2)]
    threads = [threading.Thread(target=worker.run, name=f"worker-{n}") for n, worker in enumerate(workers)]
    started = time.monotonic()
    threads[0].start()
    consumer.first_batch.wait(30)
    time.sleep(stagger)
    threads[1].start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), "a worker did not stop"
    return ids, consumer.handed, [worker.stats for worker in workers], time.monotonic() - started


def run_scenario(boto_client, unique, *, heartbeat: bool, visibility: int, messages: int,
                 batch_seconds: float, batch_size: int, scenario: str) -> None:
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-shared", VisibilityTimeout=visibility)
    options = {} if heartbeat else {"heartbeat": False}  # heartbeat on: the default
    ids, handed, stats, elapsed = two_workers(sqs, url, messages=messages, batch_seconds=batch_seconds,
                                              batch_size=batch_size, **options)
    twice = sum(1 for n in handed.values() if n > 1)
    report(
        "worker", f"{scenario}, heartbeat {'on (the default)' if heartbeat else 'off (control)'}",
        setup=f"2 workers, one queue, visibility {visibility} s, batches of {batch_size} taking "
              f"{batch_seconds:g} s, {messages} messages, second worker started "
              f"{(batch_seconds - visibility) / 2:g} s into the first one's batch",
        messages_processed_twice_or_more=twice,
        handed_to_a_consumer=sum(handed.values()),
        failed_in_worker_stats=sum(s.failed for s in stats),
        visibility_extensions=sum(s.extended for s in stats),
        failed_extensions=sum(s.extend_failed for s in stats),
        seconds=round(elapsed, 1),
    )
    assert set(handed) == set(ids), "a message was never processed"
    assert queue_depth(sqs, url) == (0, 0)
    assert sum(s.failed for s in stats) == 0  # duplicates or not, both workers report clean stats
    if not heartbeat:
        assert twice > 0, "the control run shows no duplicates: the scenario does not bite"
        return
    assert twice == 0
    assert sum(handed.values()) == messages
    assert sum(s.extended for s in stats) > 0
    assert sum(s.extend_failed for s in stats) == 0


HEARTBEAT = pytest.mark.parametrize("heartbeat", [True, False], ids=["heartbeat", "no-heartbeat"])


@HEARTBEAT
def test_two_workers_with_a_short_visibility_process_each_message_once(aws, boto_client, unique, heartbeat):
    """The CI variant: visibility 1 s, 1.5 s batches of 5, 10 messages (one batch per worker)."""
    run_scenario(boto_client, unique, heartbeat=heartbeat, visibility=1, messages=10, batch_seconds=1.5,
                 batch_size=5, scenario="2 workers, batches longer than the visibility timeout (CI variant)")


@pytest.mark.slow
@HEARTBEAT
def test_two_workers_issue_figure_visibility_2s_batches_5s_40_messages(aws, boto_client, unique, heartbeat):
    """The figure of issue 10 §6: visibility 2 s, 5 s batches of 10, 40 messages."""
    run_scenario(boto_client, unique, heartbeat=heartbeat, visibility=2, messages=40, batch_seconds=5.0,
                 batch_size=10, scenario="2 workers, visibility 2 s, 5 s batches, 40 messages (issue 10 figure)")


# --- stopping when asked (issue 10 §7): the real command, in a subprocess ---

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_APP = REPO_ROOT / "tests" / "app"
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*?: (worker started|worker stopped)",
                      re.MULTILINE)


class Consume:
    """``python -m aws_helper_sync.cli consume ...`` with stderr in a file that can be read meanwhile."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.stderr_path = tmp_path / "stderr.log"
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SLOW_BATCH_DIR": str(tmp_path)}
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aws_helper_sync.cli", "consume", *args, "--app-root", str(TEST_APP)],
                env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        wait_for(lambda: text in self.stderr or self.process.poll() is not None, timeout,
                 lambda: f"no {text!r} in the log: {self.stderr}")
        assert text in self.stderr, self.stderr

    def finish(self, timeout: float = 30) -> dict:
        stdout, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, self.stderr
        return json.loads(stdout.strip().splitlines()[-1])

    def logged_run_seconds(self) -> float:
        """From "worker started" to "worker stopped", by the worker's own log timestamps."""
        times = {event: dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
                 for stamp, event in LOG_TIME.findall(self.stderr)}
        return (times["worker stopped"] - times["worker started"]).total_seconds()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def consume(tmp_path):
    started: list[Consume] = []

    def start(*args: str) -> Consume:
        started.append(Consume(tmp_path, *args))
        return started[-1]

    yield start
    for command in started:
        command.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_worker_exits_within_2_seconds_of_a_signal(aws, boto_client, unique, consume, signum):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-idle")
    command = consume("state_recorder", "--queue-url", url)  # the default 20 s long poll
    command.wait_for_log("worker started on")
    time.sleep(1.5)  # idle, inside a receive

    sent = time.monotonic()
    command.process.send_signal(signum)
    stats = command.finish()
    exit_seconds = time.monotonic() - sent

    report("worker", f"idle consume (default --wait-time 20), {signal.Signals(signum).name}",
           seconds_from_signal_to_exit=round(exit_seconds, 2), receives_made=stats["receives"],
           bound_seconds=2)
    assert exit_seconds < 2.0, command.stderr
    assert stats["received"] == 0 and stats["receives"] >= 1


def test_signal_during_a_batch_finishes_and_deletes_it_first(aws, boto_client, unique, consume, tmp_path):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-busy")  # visibility 1 s: the batch outlasts it, the heartbeat holds it
    ids = [send(sqs, url, {"n": n}) for n in range(3)]
    command = consume("slow_batch", "--queue-url", url)
    wait_for(lambda: (tmp_path / "ready").exists(), 30, lambda: f"no batch started: {command.stderr}")
    in_flight = (tmp_path / "ready").read_text().split(",")

    command.process.send_signal(signal.SIGTERM)
    command.wait_for_log("SIGTERM received")
    time.sleep(1.5)  # the batch outlasts its 1 s visibility timeout after the signal
    assert queue_depth(sqs, url)[0] == 0  # still held: the heartbeat runs on after the stop request
    released = time.monotonic()
    (tmp_path / "go").write_text("")
    stats = command.finish()
    exit_seconds = time.monotonic() - released

    report("worker", "consume stopped by SIGTERM during a batch",
           batch_messages=len(in_flight), deleted=stats["deleted"], extensions=stats["extended"],
           seconds_from_batch_end_to_exit=round(exit_seconds, 2), left_in_queue=sum(queue_depth(sqs, url)))
    assert (tmp_path / "processed.txt").read_text().split() == in_flight
    assert sorted(in_flight) == sorted(ids)
    assert (stats["received"], stats["deleted"], stats["failed"]) == (3, 3, 0)
    assert stats["extended"] >= 3 and stats["extend_failed"] == 0
    assert queue_depth(sqs, url) == (0, 0)
    assert exit_seconds < 2.0, command.stderr


def test_until_empty_on_an_empty_queue_exits_after_one_short_poll(aws, boto_client, unique, consume):
    sqs = boto_client("sqs")
    url = create_queue(sqs, f"{unique}-empty")

    started = time.monotonic()
    command = consume("state_recorder", "--queue-url", url, "--until-empty")  # default --wait-time 20
    stats = command.finish()
    wall_seconds = time.monotonic() - started
    run_seconds = command.logged_run_seconds()

    report("worker", "consume --until-empty on an empty queue (default --wait-time 20)",
           seconds_from_worker_start_to_stop=round(run_seconds, 2),
           wall_seconds_with_interpreter_start=round(wall_seconds, 2), receives_made=stats["receives"])
    assert stats["receives"] == 1
    assert run_seconds < 2.0, command.stderr
