"""Our side (aws-helper-sync, project environment) as a benchmark worker.

    python work_ours.py            # worker loop (driven by bench_anchors.py)
    python work_ours.py --cold     # import the handler, answer one find_one, exit
    python work_ours.py --cold-trivial  # the same with one GET /ping

API: ``api_handler`` with the file routes under ``app_ours/api``. SQS:
``sqs_handler("bench-batch")``, batch mode fanning the 8 state groups out on
8 threads. SNS: ``SNSPublisher.publish(list)`` (PublishBatch, 10 per request).
The issue 15 goal rows: ``api_cpu`` (per-request CPU), ``sqs_goal`` (the
no-op and I/O-bound consumers under ``app_ours/consumer``), ``repo`` (the
Repository hit path, and its floor: a dict lookup), ``sns`` with
``max_concurrency=1`` (the sequential variant). Public API only.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ["APP_ROOT"] = str(HERE / "app_ours")


def cold(path: str) -> None:
    from common import answer_first_request

    from aws_helper_sync.api.handler import api_handler

    answer_first_request(api_handler, path)


def api(route: str, requests: int) -> dict:
    from common import time_api

    from aws_helper_sync.api.handler import api_handler

    return time_api(api_handler, route, requests)


def sqs(states: int, per_state: int, wait_ms: float, run: int) -> dict:
    from common import sqs_event

    from aws_helper_sync.sqs.handler import sqs_handler

    os.environ["BENCH_DOWNSTREAM_WAIT_MS"] = str(wait_ms)
    handler = sqs_handler("bench-batch")
    event = sqs_event(states, per_state, run)
    start = time.perf_counter()
    response = handler(event, None)
    elapsed = time.perf_counter() - start
    if response["batchItemFailures"]:
        raise RuntimeError(f"{len(response['batchItemFailures'])} records failed: {response}")
    return {"value": elapsed * 1000, "elapsed": elapsed}


def api_cpu(case: str, requests: int) -> dict:
    from common import time_api_cpu

    from aws_helper_sync.api.handler import api_handler

    return time_api_cpu(api_handler, case, requests)


SQS_CONSUMERS = {"single": "bench-noop", "batch": "bench-noop-batch", "io": "bench-io-batch"}
_sqs_handlers: dict = {}


def sqs_goal(mode: str, metric: str, records: int, states: int, invocations: int, run: int,
             wait_ms: float = 0.0) -> dict:
    """``sqs_handler`` over fresh events of ``records`` records over ``states`` states (no database)."""
    from common import sqs_goal_result, time_sqs

    from aws_helper_sync.sqs.handler import sqs_handler

    os.environ["BENCH_IO_WAIT_MS"] = str(wait_ms)
    handler = _sqs_handlers.get(mode)
    if handler is None:  # one per warm process, as a Lambda module defines it
        handler = _sqs_handlers[mode] = sqs_handler(SQS_CONSUMERS[mode])
    elapsed, responses = time_sqs(handler, records, states, invocations, run)
    for response in responses:
        if response.get("successful") != records:
            raise RuntimeError(f"expected {records} successful records: {str(response)[:300]}")
    return sqs_goal_result(metric, elapsed, records, invocations, wait_ms)


_repositories: dict = {}


def repo(variant: str, threads: int, lookups: int) -> dict:
    """ns per access, over ``threads`` threads (each in its own state) doing ``lookups`` accesses each.

    ``repository``: ``Repository.collection`` (the hit path: the first access of
    each state is made before the clock starts). ``dict``: the floor, a plain
    dict keyed by (state, collection) with the state read from a ContextVar,
    the least any per-state cache has to do. Wall time from the barrier to the
    last thread's end, so a hit path that serializes threads shows at 8.
    """
    import contextvars
    import threading

    from common import STATES

    from aws_helper_sync import state_scope
    from aws_helper_sync.repository.base import Repository

    if variant == "repository":
        repository = _repositories.get("records")
        if repository is None:
            class BenchRecords(Repository):
                collection_name = "bench_records"

            repository = _repositories["records"] = BenchRecords()
    elif variant != "dict":
        raise ValueError(f"unknown repository variant {variant!r}")
    current = contextvars.ContextVar("bench_state")
    cache = {(state, "bench_records"): object() for state in STATES}
    barrier = threading.Barrier(threads + 1)
    failures: list = []

    def worker(state: str) -> None:
        try:
            if variant == "repository":
                with state_scope(state):
                    repository.collection  # noqa: B018 - the miss, before the clock
                    barrier.wait()
                    for _ in range(lookups):
                        repository.collection  # noqa: B018 - the measured hit
                    if repository.collection.database.name != state:
                        raise RuntimeError(f"thread of {state} got {repository.collection.full_name}")
            else:
                current.set(state)
                barrier.wait()
                for _ in range(lookups):
                    cache[(current.get(), "bench_records")]
        except Exception as exc:  # noqa: BLE001 - reported to the driver
            failures.append(exc)
            barrier.abort()

    pool = [threading.Thread(target=worker, args=(STATES[n % len(STATES)],)) for n in range(threads)]
    for thread in pool:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    start = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return {"value": elapsed / (threads * lookups) * 1e9, "elapsed": elapsed}


_publishers: dict = {}


class FeatureMissing(RuntimeError):
    """This tree lacks a setting a row needs: the driver reports the row as not measurable, not failed."""


def make_publisher(topic_arn: str, max_concurrency: int | None):
    """``SNSPublisher(topic)``, or with ``max_concurrency`` (the sequential variant) where the tree has it."""
    import inspect

    from aws_helper_sync.sns.publisher import SNSPublisher

    if max_concurrency is None:
        return SNSPublisher(topic_arn)
    if "max_concurrency" not in inspect.signature(SNSPublisher).parameters:
        raise FeatureMissing("SNSPublisher has no max_concurrency keyword in this tree (the concurrent "
                           "publish(list) of issue 15 is not merged here): no sequential variant to compare")
    return SNSPublisher(topic_arn, max_concurrency=max_concurrency)


def sns(messages: int, topic_arn: str, state: str, max_concurrency: int | None = None) -> dict:
    from common import sns_messages

    from aws_helper_sync import state_scope

    batch = sns_messages(messages)
    publisher = _publishers.get((topic_arn, max_concurrency))
    if publisher is None:  # one per warm process, like a module-level publisher in a Lambda
        publisher = _publishers[topic_arn, max_concurrency] = make_publisher(topic_arn, max_concurrency)
    start = time.perf_counter()
    with state_scope(state):
        message_ids = publisher.publish(batch)
    elapsed = time.perf_counter() - start
    if len(message_ids) != messages or not all(message_ids):
        raise RuntimeError(f"expected {messages} message ids, got {len(message_ids)}")
    return {"value": messages / elapsed, "elapsed": elapsed}


if __name__ == "__main__":
    from common import cold_path, serve

    if cold_path(sys.argv):
        cold(cold_path(sys.argv))
    else:
        serve({"api": api, "sqs": sqs, "sns": sns, "api_cpu": api_cpu, "sqs_goal": sqs_goal, "repo": repo})
