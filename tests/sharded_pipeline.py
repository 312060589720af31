"""The SNS -> SQS -> ``SQSWorker`` pipeline of the 1,000-message reliability tests (no loss, idempotency).

Four shards, each a topic with one queue (two with raw delivery, two with the SNS
envelope) and a worker thread on it; messages go out in waves, one
``publish(list)`` per state, and every queue is kept shallow between waves, so
that a 1 s visibility timeout is never outlived by a backlog.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from aws_helper_sync import SNSPublisher, state_scope
from aws_helper_sync.sqs.worker import SQSWorker
from tests.reliability_support import wait_for
from tests.sqs_support import create_queue, queue_arn, queue_depth, subscribe_queue

SHARDS = 4
WAVE = 50  # messages per shard per wave
MAX_VISIBLE_BEFORE_NEXT_WAVE = 20
QUEUES = f"{SHARDS} (2 raw delivery, 2 SNS envelope)"


def make_shards(sns: Any, sqs: Any, prefix: str, *, max_receive_count: int | None = None) -> list[dict[str, Any]]:
    """``SHARDS`` topics, each with its queue (``url``) and a ``publisher``; with ``max_receive_count``, a ``dlq``."""
    shards = []
    for shard in range(SHARDS):
        entry: dict[str, Any] = {}
        attributes = {}
        if max_receive_count is not None:
            entry["dlq"] = dlq = create_queue(sqs, f"{prefix}-dlq-{shard}")
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": str(max_receive_count)})
        url = create_queue(sqs, f"{prefix}-src-{shard}", **attributes)
        topic = sns.create_topic(Name=f"{prefix}-topic-{shard}")["TopicArn"]
        subscribe_queue(sns, sqs, topic, url, raw=shard % 2 == 0)
        shards.append({"url": url, "publisher": SNSPublisher(topic), **entry})
    return shards


def spread(states: list[str], count: int, **fields: Callable[[int], Any]) -> list[dict[str, Any]]:
    """``count`` messages, round robin over the states and the shards; each field computed from the index."""
    return [{"state": states[index % len(states)], "shard": index % SHARDS,
             **{name: field(index) for name, field in fields.items()}} for index in range(count)]


def shard_workers(consumer: Any, shards: list[dict[str, Any]]) -> list[SQSWorker]:
    """One worker per shard's queue, all sharing ``consumer``."""
    return [SQSWorker(consumer, shard["url"], wait_time_seconds=1, handle_signals=False) for shard in shards]


@contextmanager
def running(workers: list[SQSWorker], name: str) -> Iterator[None]:
    """Each worker on its own thread for the block; stopped and joined after it."""
    threads = [threading.Thread(target=worker.run, name=f"{name}-{n}") for n, worker in enumerate(workers)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(30)


def publish_in_waves(sqs: Any, shards: list[dict[str, Any]], messages: list[dict[str, Any]], states: list[str],
                     entries: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> int:
    """Publish each shard's messages wave by wave, ``entries(messages of one state)`` per ``publish``.

    Between waves, waits until every queue holds at most ``MAX_VISIBLE_BEFORE_NEXT_WAVE``
    visible messages. Returns how many entries were published.
    """
    published = 0
    for wave_start in range(0, len(messages) // SHARDS, WAVE):
        for number, shard in enumerate(shards):
            wave = [m for m in messages if m["shard"] == number][wave_start:wave_start + WAVE]
            for state in states:
                batch = entries([m for m in wave if m["state"] == state])
                with state_scope(state):
                    shard["publisher"].publish(batch)
                published += len(batch)
        for shard in shards:  # backpressure: keep every queue shallow
            wait_for(lambda s=shard: queue_depth(sqs, s["url"])[0] <= MAX_VISIBLE_BEFORE_NEXT_WAVE,
                     60, lambda s=shard: f"queue depth {queue_depth(sqs, s['url'])}")
    return published
