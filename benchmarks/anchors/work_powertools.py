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
"""

from __future__ import annotations

import os
import re
import sys
import time
from functools import cache

import common

STATE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")


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


def cold() -> None:
    common.answer_first_request(api_handler())


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
    if "--cold" in sys.argv:
        cold()
    else:
        common.serve({"api": api, "sqs": sqs})
