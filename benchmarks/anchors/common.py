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


def answer_first_request(handler, path: str = "/items/1") -> None:
    """The cold-start probe: one request (a find_one by default) through ``handler``, checked, then ready."""
    check_api_response(path, handler(api_event(path), None))
    signal_ready()


def cold_path(argv: list) -> str | None:
    """``--cold`` (one find_one) or ``--cold-trivial`` (one GET /ping) on a worker's command line."""
    if "--cold-trivial" in argv:
        return "/ping"
    if "--cold" in argv:
        return "/items/1"
    return None


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


# -- issue 15 goal rows: per-request CPU on realistic API Gateway events -----------

STATE_PATTERN = r"[a-z][a-z0-9_]{0,62}"
RESERVED_STATES = ("admin", "local", "config")
CPU_CASES = ("rest_trivial", "http_trivial", "rest_post")
CPU_CHUNK = 1000  # events built per chunk, outside the timed loop (20,000 at once would be ~100 MB)


def gateway_headers(state: str | None = API_STATE, request_number: int = 0, lower: bool = False) -> dict:
    """The 15 headers a browser request carries through API Gateway (CloudFront in front), state included."""
    trace = f"Root=1-67a0c0de-{request_number:024x}"
    headers = {
        "Accept": "application/json, text/plain, */*",
        "Accept-Encoding": "gzip, deflate, br",
        "CloudFront-Forwarded-Proto": "https",
        "CloudFront-Is-Desktop-Viewer": "true",
        "CloudFront-Is-Mobile-Viewer": "false",
        "CloudFront-Viewer-Country": "US",
        "Host": "abc123defg.execute-api.us-east-2.amazonaws.com",
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
        "Via": "2.0 9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c.cloudfront.net (CloudFront)",
        "X-Amz-Cf-Id": f"kXu2Yz3_bench{request_number:08d}QwErTyUiOpAsDfGhJkLzXcVbNm==",
        "X-Amzn-Trace-Id": trace,
        "X-Forwarded-For": f"203.0.113.{request_number % 250 + 1}, 130.176.0.{request_number % 200 + 1}",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    if state is not None:
        headers[STATE_HEADER] = state
    if lower:  # HTTP API (v2) delivers lower-case names
        headers = {k.lower(): v for k, v in headers.items()}
    return headers


def post_body(request_number: int) -> dict:
    """The small JSON body of the POST rows (~150 bytes)."""
    return {"name": f"Item {request_number}", "qty": request_number % 7 + 1, "price": 12.5,
            "tags": ["bench", "post"], "note": "a small JSON body of a typical create call"}


def post_answer(body: dict) -> dict:
    """What the POST route answers: part of the body it parsed."""
    return {"name": body["name"], "qty": body["qty"]}


def rest_event(method: str, path: str, state: str | None = API_STATE, request_number: int = 0,
               body: dict | None = None) -> dict:
    """A REST API (v1) proxy event with the 15 gateway headers (and their multiValueHeaders)."""
    headers = gateway_headers(state, request_number)
    raw_body = None
    if body is not None:
        raw_body = json.dumps(body)
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.strip("/")}, "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3", "resourcePath": "/{proxy+}", "httpMethod": method,
            "extendedRequestId": f"ext-{request_number:08d}", "requestTime": "01/Dec/2026:11:00:00 +0000",
            "path": f"/prod{path}", "accountId": "123456789012", "protocol": "HTTP/1.1", "stage": "prod",
            "domainPrefix": "abc123defg", "requestTimeEpoch": 1796122800000 + request_number,
            "requestId": f"req-{request_number:08d}",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": headers["User-Agent"], "cognitoIdentityPoolId": None,
                         "accountId": None, "caller": None, "user": None, "userArn": None},
            "domainName": "abc123defg.execute-api.us-east-2.amazonaws.com", "apiId": "abc123defg",
        },
        "body": raw_body, "isBase64Encoded": False,
    }


def http_event(method: str, path: str, state: str | None = API_STATE, request_number: int = 0,
               body: dict | None = None) -> dict:
    """An HTTP API (v2) event with the same 15 headers, lower-cased as HTTP API delivers them."""
    headers = gateway_headers(state, request_number, lower=True)
    raw_body = None
    if body is not None:
        raw_body = json.dumps(body)
        headers["content-type"] = "application/json"
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123defg",
            "domainName": "abc123defg.execute-api.us-east-2.amazonaws.com", "domainPrefix": "abc123defg",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                     "userAgent": headers["user-agent"]},
            "requestId": f"req-{request_number:08d}", "routeKey": "$default", "stage": "$default",
            "time": "01/Dec/2026:11:00:00 +0000", "timeEpoch": 1796122800000 + request_number,
        },
        "body": raw_body, "isBase64Encoded": False,
    }


def cpu_case_event(case: str, request_number: int) -> dict:
    """The event of request ``request_number`` of a CPU row (every side calls this)."""
    if case == "rest_trivial":
        return rest_event("GET", "/ping", request_number=request_number)
    if case == "http_trivial":
        return http_event("GET", "/ping", request_number=request_number)
    if case == "rest_post":
        return rest_event("POST", "/items", request_number=request_number, body=post_body(request_number))
    raise ValueError(f"unknown API case {case!r}")


def check_cpu_case_response(case: str, request_number: int, response: dict) -> None:
    expected = post_answer(post_body(request_number)) if case == "rest_post" else {"ok": True}
    if response.get("statusCode") != 200:
        raise RuntimeError(f"{case} request {request_number} answered {response.get('statusCode')}: "
                           f"{response.get('body')}")
    if json.loads(response["body"]) != expected:
        raise RuntimeError(f"{case} request {request_number} answered an unexpected body: {response['body'][:200]}")


def time_api_cpu(handler, case: str, requests: int) -> dict:
    """This thread's CPU µs per request of ``handler(event, None)``; every response checked after timing.

    Thread CPU time (not wall time) so that the other processes of a shared
    machine do not count; the events are built in chunks outside the timed loops.
    """
    cpu = 0.0
    wall = 0.0
    done = 0
    while done < requests:
        numbers = range(done, min(done + CPU_CHUNK, requests))
        events = [cpu_case_event(case, n) for n in numbers]
        wall_start = time.perf_counter()
        cpu_start = time.thread_time()
        responses = [handler(event, None) for event in events]
        cpu += time.thread_time() - cpu_start
        wall += time.perf_counter() - wall_start
        for n, response in zip(numbers, responses):
            check_cpu_case_response(case, n, response)
        done += len(events)
    return {"value": cpu / requests * 1e6, "wall_us": wall / requests * 1e6}


# -- issue 15 goal rows: SQS invocations ---------------------------------------------


def sqs_state_event(records: int, states: int, run: int = 0, invocation: int = 0) -> dict:
    """``records`` small SQS records spread round-robin over ``states`` states.

    The state travels as the ``constitution-state`` message attribute (Lambda
    shape), as a publisher of this library or any SNS -> SQS subscription with
    raw delivery sends it; ids are unique per run and invocation.
    """
    out = []
    for n in range(records):
        state = STATES[n % states]
        message_id = f"m-{run:05d}-{invocation:05d}-{n:05d}"
        out.append({
            "messageId": message_id,
            "receiptHandle": f"rh-{message_id}",
            "body": json.dumps({"n": n, "run": run, "kind": "record.indexed"}),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1700000000001"},
            "messageAttributes": {STATE_HEADER: {"stringValue": state, "stringListValues": [],
                                                 "binaryListValues": [], "dataType": "String"}},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:bench-queue",
            "awsRegion": "us-east-2",
        })
    return {"Records": out}


def check_sqs_response(response: dict, records: int) -> None:
    if response.get("batchItemFailures"):
        raise RuntimeError(f"{len(response['batchItemFailures'])} of {records} records failed: "
                           f"{str(response)[:300]}")


def time_sqs(handler, records: int, states: int, invocations: int, run: int) -> tuple[float, list]:
    """Wall seconds of ``invocations`` calls (each on a fresh event, built outside the clock), and the responses."""
    elapsed = 0.0
    responses = []
    for invocation in range(invocations):
        event = sqs_state_event(records, states, run, invocation)
        start = time.perf_counter()
        response = handler(event, None)
        elapsed += time.perf_counter() - start
        responses.append(response)
    for response in responses:
        check_sqs_response(response, records)
    return elapsed, responses


def sqs_goal_result(metric: str, elapsed: float, records: int, invocations: int, wait_ms: float) -> dict:
    """The value of an SQS goal row: µs per record, µs per invocation, or fan-out efficiency."""
    if metric == "us_per_record":
        value = elapsed / (records * invocations) * 1e6
    elif metric == "us_per_invocation":
        value = elapsed / invocations * 1e6
    elif metric == "efficiency":  # ideal: every state group's wait fully overlapped
        value = (wait_ms / 1000.0 * invocations) / elapsed
    else:
        raise ValueError(f"unknown SQS metric {metric!r}")
    return {"value": value, "elapsed": elapsed}


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


def aligned_table(header: tuple, body: list) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned, a rule under the header."""
    rows = [header, *body]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
