"""The physical floor of each row: raw pymongo / raw boto3 making the same calls, no framework.

    python work_floor.py [--cold]

API: a bare Lambda function that reads the state header and answers the same
JSON (plus the same ``find_one``). SQS: parse, group by state, one
``bulk_write`` + the wait per group on a warm 8-thread pool (``sequential``:
the groups one after another, the floor of a framework that does not fan out).
SNS: ``publish_batch`` of 10 entries at a time on one client.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import common


@cache
def mongo_client():
    from pymongo import MongoClient

    return MongoClient(common.mongo_uri())


def _answer(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handle_api(event: dict, context) -> dict:
    state = (event.get("headers") or {}).get(common.STATE_HEADER)
    if not state:
        return _answer(400, {"message": "constitution-state header required"})
    path = event["path"]
    if path == "/ping":
        return _answer(200, {"ok": True})
    item = mongo_client()[state].items.find_one({"_id": int(path.rsplit("/", 1)[1])})
    return _answer(200, item) if item else _answer(404, {"message": "no such item"})


def cold() -> None:
    common.answer_first_request(handle_api)


def api(route: str, requests: int) -> dict:
    return common.time_api(handle_api, route, requests)


_pool = ThreadPoolExecutor(max_workers=8)


def sqs(states: int, per_state: int, wait_ms: float, run: int, sequential: bool = False) -> dict:
    from pymongo import UpdateOne

    event = common.sqs_event(states, per_state, run)
    wait = wait_ms / 1000.0

    def one_group(state: str, ops: list) -> None:
        mongo_client()[state].bench_events.bulk_write(ops, ordered=False)
        time.sleep(wait)

    start = time.perf_counter()
    groups: dict[str, list] = {}
    for record in event["Records"]:
        body = json.loads(record["body"])
        groups.setdefault(body["constitution_state"], []).append(
            UpdateOne(*common.event_document(record["messageId"], body), upsert=True))
    if sequential:
        for state, ops in groups.items():
            one_group(state, ops)
    else:
        for future in [_pool.submit(one_group, state, ops) for state, ops in groups.items()]:
            future.result()
    elapsed = time.perf_counter() - start
    return {"value": elapsed * 1000, "elapsed": elapsed}


@cache
def sns_client():
    import boto3

    return boto3.client("sns", region_name=os.environ.get("AWS_REGION", "us-east-2"))


def sns(messages: int, topic_arn: str, state: str) -> dict:
    batch = common.sns_messages(messages)
    client = sns_client()
    start = time.perf_counter()
    message_ids = []
    for i in range(0, len(batch), 10):
        entries = [{"Id": str(n), "Message": json.dumps(m["content"]),
                    "MessageAttributes": {common.STATE_HEADER: {"DataType": "String", "StringValue": state}}}
                   for n, m in enumerate(batch[i:i + 10])]
        response = client.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
        if response.get("Failed"):
            raise RuntimeError(f"publish_batch failed entries: {response['Failed']}")
        message_ids.extend(entry["MessageId"] for entry in response["Successful"])
    elapsed = time.perf_counter() - start
    if len(message_ids) != messages:
        raise RuntimeError(f"expected {messages} message ids, got {len(message_ids)}")
    return {"value": messages / elapsed, "elapsed": elapsed}


if __name__ == "__main__":
    if "--cold" in sys.argv:
        cold()
    else:
        common.serve({"api": api, "sqs": sqs, "sns": sns})
