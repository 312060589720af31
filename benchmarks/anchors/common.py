"""Workload definitions shared by every side of ``bench_anchors.py``.

Each side (ours, the async framework, Powertools, the raw floor) runs as its
own process and imports this module, so all of them build byte-identical
events, records and messages from the same functions. Standard library only:
it runs under the project's Python and under each anchor venv's Python.

A side is a worker: it reads one JSON command per line on stdin, runs it and
answers one ``@@RESULT {...}`` line on stdout (anything else a framework prints
is ignored). The driver keeps all workers alive and interleaves their samples,
so machine noise falls on every side alike.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

STATES = [f"bench_{name}" for name in (
    "alabama", "connecticut", "delaware", "florida", "georgia", "hawaii", "idaho", "kansas",
)]
API_STATE = "bench_connecticut"
ITEM_COUNT = 100
EVENTS_COLLECTION = "bench_events"
ITEMS_COLLECTION = "items"
STATE_HEADER = "constitution-state"
RESULT_PREFIX = "@@RESULT "
READY_LINE = "@@READY"


def item_document(item_id: int) -> dict:
    """A catalogue item (JSON-native types only, so no side needs a custom encoder)."""
    return {"_id": item_id, "sku": f"SKU-{item_id:05d}", "name": f"Item {item_id}",
            "price": round(9.5 + item_id * 0.25, 2), "tags": ["bench", f"group-{item_id % 7}"]}


def api_event(path: str, state: str | None = API_STATE, request_number: int = 0) -> dict:
    """An API Gateway REST (v1) proxy event for ``GET path``, as Lambda delivers it."""
    headers = {"Accept": "application/json", "Host": "api.example.com", "User-Agent": "bench"}
    if state is not None:
        headers[STATE_HEADER] = state
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.strip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}", "httpMethod": "GET", "path": f"/prod{path}",
            "stage": "prod", "requestId": f"req-{request_number:08d}", "accountId": "123456789012",
            "apiId": "bench", "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def api_paths(route: str, requests: int) -> list[str]:
    """The request paths of one API sample: ``/ping``, or ``/items/<id>`` cycling over the seeded items."""
    if route == "trivial":
        return ["/ping"] * requests
    if route == "find_one":
        return [f"/items/{1 + n % ITEM_COUNT}" for n in range(requests)]
    raise ValueError(f"unknown route {route!r}")


def check_api_response(path: str, response: dict) -> None:
    """Every side must really answer: 200 and the expected body (checked on every request)."""
    if response.get("statusCode") != 200:
        raise RuntimeError(f"GET {path} answered {response.get('statusCode')}: {response.get('body')}")
    body = json.loads(response["body"])
    if path == "/ping":
        expected_ok = body == {"ok": True}
    else:
        expected_ok = body.get("_id") == int(path.rsplit("/", 1)[1])
    if not expected_ok:
        raise RuntimeError(f"GET {path} answered an unexpected body: {response['body'][:200]}")


def sqs_event(states: int, per_state: int, run: int) -> dict:
    """``states`` x ``per_state`` SQS records, states interleaved as a shared queue delivers them.

    The state travels in the body (``constitution_state``), which all three
    frameworks read; ``run`` changes every sample so that each upsert really
    modifies its document.
    """
    records = []
    for n in range(per_state):
        for s in range(states):
            state = STATES[s]
            message_id = f"msg-{state}-{n:04d}"
            body = {"constitution_state": state, "n": n, "run": run,
                    "payload": {"amount": n * 10 + s, "note": "x" * 64}}
            records.append({
                "messageId": message_id,
                "receiptHandle": f"rh-{message_id}",
                "body": json.dumps(body),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                               "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1700000000001"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:bench-queue",
                "awsRegion": "us-east-2",
            })
    return {"Records": records}


def event_document(message_id: str, body: dict) -> tuple[dict, dict]:
    """The upsert every side performs for one record: (filter, update)."""
    return {"_id": message_id}, {"$set": {"n": body["n"], "run": body["run"], "payload": body["payload"]}}


def downstream_wait(wait_ms: float) -> float:
    return wait_ms / 1000.0


def sns_messages(count: int) -> list[dict]:
    """``count`` publisher messages in the shared ``{"content": ...}`` shape."""
    return [{"content": {"event": "record.indexed", "n": n, "doc": {"id": f"doc-{n:05d}", "pages": n % 40}}}
            for n in range(count)]


def answer_first_request(handler) -> None:
    """The cold-start probe: one find_one request through ``handler``, checked, then ready."""
    check_api_response("/items/1", handler(api_event("/items/1"), None))
    signal_ready()


def time_api(handler, route: str, requests: int) -> dict:
    """Requests/s of ``handler(event, None)`` over the route's events; responses checked after timing."""
    paths = api_paths(route, requests)
    events = [api_event(path, request_number=n) for n, path in enumerate(paths)]
    start = time.perf_counter()
    responses = [handler(event, None) for event in events]
    elapsed = time.perf_counter() - start
    for path, response in zip(paths, responses):
        check_api_response(path, response)
    return {"value": requests / elapsed, "elapsed": elapsed}


def signal_ready() -> None:
    """Cold-start scripts: the answer exists; the driver stops its clock here."""
    sys.stdout.write(READY_LINE + "\n")
    sys.stdout.flush()


def mongo_uri() -> str:
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        raise RuntimeError("MONGODB_URI is not set: run the workers through benchmarks/bench_anchors.py")
    return uri


def serve(handlers: dict) -> None:
    """The worker loop: one JSON command in, one ``@@RESULT`` line out, until EOF."""
    out = sys.stdout
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.pop("op")
        try:
            if op not in handlers:
                raise ValueError(f"this side has no {op!r} workload")
            start = time.perf_counter()
            result = handlers[op](**command)
            result.setdefault("elapsed", time.perf_counter() - start)
            answer = {"ok": True, **result}
        except Exception as exc:  # noqa: BLE001 - any failure goes back to the driver, which reports it
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        out.write(RESULT_PREFIX + json.dumps(answer) + "\n")
        out.flush()
