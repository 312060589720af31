"""Our side (aws-helper-sync, project environment) as a benchmark worker.

    python work_ours.py            # worker loop (driven by bench_anchors.py)
    python work_ours.py --cold     # import the handler, answer one find_one, exit

API: ``api_handler`` with the file routes under ``app_ours/api``. SQS:
``sqs_handler("bench-batch")``, batch mode fanning the 8 state groups out on
8 threads. SNS: ``SNSPublisher.publish(list)`` (PublishBatch, 10 per request).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ["APP_ROOT"] = str(HERE / "app_ours")


def cold() -> None:
    from common import answer_first_request

    from aws_helper_sync.api.handler import api_handler

    answer_first_request(api_handler)


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


_publishers: dict = {}


def sns(messages: int, topic_arn: str, state: str) -> dict:
    from common import sns_messages

    from aws_helper_sync import state_scope
    from aws_helper_sync.sns.publisher import SNSPublisher

    batch = sns_messages(messages)
    publisher = _publishers.get(topic_arn)
    if publisher is None:  # one per warm process, like a module-level publisher in a Lambda
        publisher = _publishers[topic_arn] = SNSPublisher(topic_arn)
    start = time.perf_counter()
    with state_scope(state):
        message_ids = publisher.publish(batch)
    elapsed = time.perf_counter() - start
    if len(message_ids) != messages or not all(message_ids):
        raise RuntimeError(f"expected {messages} message ids, got {len(message_ids)}")
    return {"value": messages / elapsed, "elapsed": elapsed}


if __name__ == "__main__":
    if "--cold" in sys.argv:
        cold()
    else:
        from common import serve

        serve({"api": api, "sqs": sqs, "sns": sns})
