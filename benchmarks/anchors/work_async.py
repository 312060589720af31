"""The async framework (aws-python-helper 0.32.0, its own venv) as a benchmark worker.

    <venv>/bin/python work_async.py [--cold]

Used exactly as a Lambda would: ``api_handler(event, context)`` and
``sqs_handler(name)(event, context)``, which drive their coroutine on the
module's event loop per call. Its fetchers look under the working directory,
so the worker runs in ``app_async``; its MongoManager reads ``MONGO_DB_URI``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # common.py, before the chdir below
os.chdir(HERE / "app_async")
if os.environ.get("MONGODB_URI"):
    os.environ["MONGO_DB_URI"] = os.environ["MONGODB_URI"]


def cold(path: str) -> None:
    from aws_python_helper.api.handler import api_handler
    from common import answer_first_request

    answer_first_request(api_handler, path)


def api(route: str, requests: int) -> dict:
    from aws_python_helper.api.handler import api_handler
    from common import time_api

    return time_api(api_handler, route, requests)


def sqs(states: int, per_state: int, wait_ms: float, run: int) -> dict:
    from aws_python_helper.sqs.handler import sqs_handler
    from common import sqs_event

    os.environ["BENCH_DOWNSTREAM_WAIT_MS"] = str(wait_ms)
    handler = sqs_handler("bench-batch")
    event = sqs_event(states, per_state, run)
    start = time.perf_counter()
    response = handler(event, None)
    elapsed = time.perf_counter() - start
    if response.get("batchItemFailures") or response.get("successful") != len(event["Records"]):
        raise RuntimeError(f"not every record succeeded: { {k: v for k, v in response.items() if k != 'results'} }")
    return {"value": elapsed * 1000, "elapsed": elapsed}


_publishers: dict = {}


def sns(messages: int, topic_arn: str, state: str, chunk: int | None = 10) -> dict:
    """``chunk=None`` hands the whole list to ``publish`` as a user would; 10 is the workaround.

    0.32.0 sends any list as ONE PublishBatch request, so past 10 entries SNS
    refuses the whole call (TooManyEntriesInBatchRequest); the caller has to
    slice the list into chunks of 10 itself. ``publish`` is ``async`` but calls
    boto3 synchronously, so awaiting the chunks concurrently would not overlap.
    """
    from aws_python_helper.context.state import set_state
    from aws_python_helper.sns.publisher import SNSPublisher
    from common import sns_messages

    batch = sns_messages(messages)
    publisher = _publishers.get(topic_arn)
    if publisher is None:  # one per warm process, like a module-level publisher in a Lambda
        publisher = _publishers[topic_arn] = SNSPublisher(topic_arn, region=os.environ.get("AWS_REGION", "us-east-2"))
    step = chunk or len(batch)

    async def publish_all() -> list:
        set_state(state)
        published = []
        for i in range(0, len(batch), step):
            succeeded, failed = await publisher.publish(batch[i:i + step])
            if failed:
                raise RuntimeError(f"{len(failed)} entries failed in the chunk at {i}")
            published.extend(succeeded)
        return published

    loop = asyncio.new_event_loop()
    try:
        start = time.perf_counter()
        message_ids = loop.run_until_complete(publish_all())
        elapsed = time.perf_counter() - start
    finally:
        loop.close()
    if len(message_ids) != messages:
        raise RuntimeError(f"expected {messages} message ids, got {len(message_ids)}")
    return {"value": messages / elapsed, "elapsed": elapsed}


def sns_one(topic_arn: str, state: str) -> dict:
    """``publish(dict)``: the single-message path, probed once for the notes."""
    from aws_python_helper.context.state import set_state
    from aws_python_helper.sns.publisher import SNSPublisher

    async def publish_one() -> str:
        set_state(state)
        return await SNSPublisher(topic_arn).publish({"content": {"probe": True}})

    loop = asyncio.new_event_loop()
    try:
        return {"value": 1, "message_id": loop.run_until_complete(publish_one())}
    finally:
        loop.close()


if __name__ == "__main__":
    from common import cold_path

    if cold_path(sys.argv):
        cold(cold_path(sys.argv))
    else:
        from common import serve

        serve({"api": api, "sqs": sqs, "sns": sns, "sns_one": sns_one})
