"""Powertools for AWS Lambda 3.x (its own venv) as a benchmark worker.

    <venv>/bin/python work_powertools.py [--cold]

API: an ``APIGatewayRestResolver`` with the same two routes; the state header
is required and checked against the same pattern as ours; pymongo (the
project's version) does the find_one. SQS: ``BatchProcessor`` +
``process_partial_response``, which hands the record handler one record at a
time: each record is one ``update_one`` upsert (the same document change our
group ``bulk_write`` makes), and the downstream call is made once per state
group (the first time a state is seen in the batch), not once per record, so
the fixed wait is paid as often as in the grouped frameworks (8 times). The
imports happen inside the builders so that ``--cold`` pays only for the API.

The issue 15 goal rows: ``api_cpu`` (the same state check on ``/ping``, and
``POST /items`` answering part of ``current_event.json_body``; REST v1 through
``APIGatewayRestResolver``, HTTP API v2 through ``APIGatewayHttpResolver``)
and ``sqs_goal`` (``BatchProcessor`` + ``process_partial_response``, the record
handler reading and checking the state attribute as ours does before
``process_record``; the I/O variant waits once per state group, sequentially).
"""

from __future__ import annotations

import os
import re
import sys
import time
from functools import cache

import common

STATE_PATTERN = re.compile(common.STATE_PATTERN)


@cache
def mongo_client():
    from pymongo import MongoClient

    return MongoClient(common.mongo_uri())


@cache
def api_handler():
    """The module a Powertools user would write for the two routes."""
    from aws_lambda_powertools.event_handler import (
        APIGatewayRestResolver,
        Response,
        content_types,
    )
    from aws_lambda_powertools.event_handler.exceptions import BadRequestError

    app = APIGatewayRestResolver()

    def current_state() -> str:
        state = app.current_event.headers.get(common.STATE_HEADER)
        if not state or not STATE_PATTERN.fullmatch(state) or state in ("admin", "local", "config"):
            raise BadRequestError(f"header '{common.STATE_HEADER}' is missing or invalid")
        return state

    @app.get("/ping")
    def ping():
        current_state()
        return {"ok": True}

    @app.get("/items/<item_id>")
    def get_item(item_id: str):
        item = mongo_client()[current_state()].items.find_one({"_id": int(item_id)})
        if item is None:
            return Response(404, content_types.APPLICATION_JSON, {"message": "no such item"})
        return item

    def handler(event, context):
        return app.resolve(event, context)

    return handler


@cache
def sqs_handler():
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    processor = BatchProcessor(event_type=EventType.SQS)
    called_downstream: set[str] = set()

    def record_handler(record):
        body = record.json_body
        state = body.get("constitution_state")
        if not state or not STATE_PATTERN.fullmatch(state):
            raise ValueError(f"record {record.message_id} has no valid constitution_state")
        mongo_client()[state].bench_events.update_one(*common.event_document(record.message_id, body), upsert=True)
        if state not in called_downstream:  # once per state group, as the grouped frameworks do
            called_downstream.add(state)
            time.sleep(float(os.environ["BENCH_DOWNSTREAM_WAIT_MS"]) / 1000.0)

    def handler(event, context):
        called_downstream.clear()
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)

    return handler


@cache
def goal_api_handler(kind: str):
    """``/ping`` and ``POST /items`` on a REST (v1) or HTTP API (v2) resolver, with the state check."""
    from aws_lambda_powertools.event_handler import (
        APIGatewayHttpResolver,
        APIGatewayRestResolver,
    )
    from aws_lambda_powertools.event_handler.exceptions import BadRequestError

    app = APIGatewayRestResolver() if kind == "rest" else APIGatewayHttpResolver()

    def current_state() -> str:
        state = app.current_event.headers.get(common.STATE_HEADER)
        if not state or not STATE_PATTERN.fullmatch(state) or state in common.RESERVED_STATES:
            raise BadRequestError(f"header '{common.STATE_HEADER}' is missing or invalid")
        return state

    @app.get("/ping")
    def ping():
        current_state()
        return {"ok": True}

    @app.post("/items")
    def post_item():
        current_state()
        body = app.current_event.json_body
        if not isinstance(body, dict):
            raise BadRequestError("the body must be a JSON object")
        return common.post_answer(body)

    def handler(event, context):
        return app.resolve(event, context)

    return handler


def api_cpu(case: str, requests: int) -> dict:
    return common.time_api_cpu(goal_api_handler("http" if case.startswith("http") else "rest"), case, requests)


def checked_state(record) -> str:
    """The record's state attribute, checked as ours checks it (pattern, reserved names)."""
    attribute = record.message_attributes[common.STATE_HEADER]
    state = attribute.string_value if attribute is not None else None
    if not state or not STATE_PATTERN.fullmatch(state) or state in common.RESERVED_STATES:
        raise ValueError(f"record {record.message_id} has no valid constitution-state")
    return state


@cache
def goal_sqs_handler(mode: str):
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    processor = BatchProcessor(event_type=EventType.SQS)
    waited: set[str] = set()

    def noop_record(record):
        checked_state(record)

    def io_record(record):  # the wait once per state group, as the grouped frameworks pay it
        state = checked_state(record)
        if state not in waited:
            waited.add(state)
            time.sleep(float(os.environ["BENCH_IO_WAIT_MS"]) / 1000.0)

    record_handler = io_record if mode == "io" else noop_record

    def handler(event, context):
        waited.clear()
        return process_partial_response(event=event, record_handler=record_handler,
                                        processor=processor, context=context)

    return handler


def sqs_goal(mode: str, metric: str, records: int, states: int, invocations: int, run: int,
             wait_ms: float = 0.0) -> dict:
    os.environ["BENCH_IO_WAIT_MS"] = str(wait_ms)
    elapsed, _ = common.time_sqs(goal_sqs_handler(mode), records, states, invocations, run)
    return common.sqs_goal_result(metric, elapsed, records, invocations, wait_ms)


def cold(path: str) -> None:
    common.answer_first_request(api_handler(), path)


def api(route: str, requests: int) -> dict:
    return common.time_api(api_handler(), route, requests)


def sqs(states: int, per_state: int, wait_ms: float, run: int) -> dict:
    os.environ["BENCH_DOWNSTREAM_WAIT_MS"] = str(wait_ms)
    handler = sqs_handler()
    event = common.sqs_event(states, per_state, run)
    start = time.perf_counter()
    response = handler(event, None)
    elapsed = time.perf_counter() - start
    if response["batchItemFailures"]:
        raise RuntimeError(f"{len(response['batchItemFailures'])} records failed")
    return {"value": elapsed * 1000, "elapsed": elapsed}


if __name__ == "__main__":
    if common.cold_path(sys.argv):
        cold(common.cold_path(sys.argv))
    else:
        common.serve({"api": api, "sqs": sqs, "api_cpu": api_cpu, "sqs_goal": sqs_goal})
