"""The long-polling worker holds what it processes: visibility heartbeat and prompt stop.

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
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from aws_helper_sync import SQSConsumer
from aws_helper_sync.sqs.worker import SQSWorker, WorkerStats
from tests.reliability_support import report
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
