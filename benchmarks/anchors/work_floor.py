"""The physical floor of each row: raw pymongo / raw boto3 making the same calls, no framework.

    python work_floor.py [--cold]

API: a bare Lambda function that reads the state header and answers the same
JSON (plus the same ``find_one``). SQS: parse, group by state, one
``bulk_write`` + the wait per group on a warm 8-thread pool (``sequential``:
the groups one after another, the floor of a framework that does not fan out).
SNS: ``publish_batch`` of 10 entries at a time on one client.

The issue 15 goal rows: ``api_cpu``, a hand-written handler for the same
events (v1 or v2, ``/ping`` or ``POST /items``) doing the same state check
(header looked up in any case, pattern and reserved names) and answering the
same JSON with a Content-Type and a CORS header; ``sqs_goal``, the records'
state attributes read and checked, then (single) nothing per record, or
(batch) the state groups submitted to a warm 8-thread pool and waited for.
"""

from __future__ import annotations

import json
import os
import re
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


STATE_PATTERN = re.compile(common.STATE_PATTERN)
RESPONSE_HEADERS = {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}


def _floor_answer(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": dict(RESPONSE_HEADERS), "body": json.dumps(body)}


def _header_state(headers: dict):
    state = headers.get(common.STATE_HEADER)
    if state is None:  # names are case-insensitive
        for name, value in headers.items():
            if name.lower() == common.STATE_HEADER:
                return value
    return state


def _floor_ping(event: dict) -> dict:
    return _floor_answer(200, {"ok": True})


def _floor_post(event: dict) -> dict:
    try:
        body = json.loads(event["body"] or "")
    except ValueError:
        return _floor_answer(400, {"message": "the body is not JSON"})
    if not isinstance(body, dict):
        return _floor_answer(400, {"message": "the body must be a JSON object"})
    return _floor_answer(200, common.post_answer(body))


FLOOR_ROUTES = {("GET", "/ping"): _floor_ping, ("POST", "/items"): _floor_post}


def handle_goal_api(event: dict, context) -> dict:
    """The least a handler can do for these events: route, check the state, answer JSON."""
    if event.get("version") == "2.0":
        method, path = event["requestContext"]["http"]["method"], event["rawPath"]
    else:
        method, path = event["httpMethod"], event["path"]
    route = FLOOR_ROUTES.get((method, path))
    if route is None:
        return _floor_answer(404, {"message": "not found"})
    state = _header_state(event.get("headers") or {})
    if not state or not STATE_PATTERN.fullmatch(state) or state in common.RESERVED_STATES:
        return _floor_answer(400, {"message": f"header '{common.STATE_HEADER}' is missing or invalid"})
    return route(event)


def api_cpu(case: str, requests: int) -> dict:
    return common.time_api_cpu(handle_goal_api, case, requests)


def _record_state(record: dict) -> str:
    state = record["messageAttributes"][common.STATE_HEADER]["stringValue"]
    if not state or not STATE_PATTERN.fullmatch(state) or state in common.RESERVED_STATES:
        raise ValueError(f"record {record['messageId']} has no valid constitution-state")
    return state


def _noop_group(state: str, records: list) -> None:
    pass


def _make_floor_sqs(mode: str, wait: float):
    def single(event: dict, context) -> dict:
        failures = []
        for record in event["Records"]:
            try:
                _record_state(record)
            except (KeyError, ValueError):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    def io_group(state: str, records: list) -> None:
        time.sleep(wait)

    group_work = io_group if mode == "io" else _noop_group

    def batch(event: dict, context) -> dict:
        groups: dict[str, list] = {}
        for record in event["Records"]:
            groups.setdefault(_record_state(record), []).append(record)
        for future in [_pool.submit(group_work, state, records) for state, records in groups.items()]:
            future.result()
        return {"batchItemFailures": []}

    return single if mode == "single" else batch


def sqs_goal(mode: str, metric: str, records: int, states: int, invocations: int, run: int,
             wait_ms: float = 0.0) -> dict:
    handler = _make_floor_sqs(mode, wait_ms / 1000.0)
    elapsed, _ = common.time_sqs(handler, records, states, invocations, run)
    return common.sqs_goal_result(metric, elapsed, records, invocations, wait_ms)


def cold(path: str) -> None:
    common.answer_first_request(handle_api, path)


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
    if common.cold_path(sys.argv):
        cold(common.cold_path(sys.argv))
    else:
        common.serve({"api": api, "sqs": sqs, "sns": sns, "api_cpu": api_cpu, "sqs_goal": sqs_goal})
