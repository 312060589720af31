"""The local HTTP server: real HTTP in, API Gateway 2.0 events to the handler, responses back.

The example app answers through the real ``api_handler`` (SecantusDB, moto);
echo handlers show exactly which event an HTTP request becomes.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from aws_helper_sync.api.local_server import (
    LocalApiServer,
    build_http_event,
    http_response_parts,
    serve_api,
)
from tests.example_support import parcel, parcel_events_queue
from tests.sqs_support import receive_all


def request(url: str, method: str = "GET", state: str | None = None, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if state is not None:
        req.add_header("constitution-state", state)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture
def echo_server():
    """A server whose handler answers with the event it received."""
    events: list[dict[str, Any]] = []

    def echo(event, context):
        events.append(event)
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}

    with LocalApiServer(handler=echo) as server:
        server.events = events
        yield server


@pytest.fixture
def example_server(example_app, mongo_client, boto_client, unique, monkeypatch):
    _, queue_url = parcel_events_queue(boto_client, unique, monkeypatch)
    server = serve_api(example_app, port=0).start()
    server.queue_url = queue_url  # where the POST route's events land
    yield server
    server.stop()


# --- translation (pure functions) ---

def test_event_has_the_http_api_2_shape():
    event = build_http_event(
        "post", "/parcels/HFD%2001?county=Hartford&tag=a&tag=b&empty=",
        [("Content-Type", "application/json"), ("X-Trace", "1"), ("x-trace", "2"),
         ("Cookie", "session=abc; theme=dark"), ("Host", "127.0.0.1:8000")],
        b'{"acres": 2}',
    )
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/parcels/HFD%2001"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["http"]["path"] == "/parcels/HFD 01"
    assert event["rawQueryString"] == "county=Hartford&tag=a&tag=b&empty="
    assert event["queryStringParameters"] == {"county": "Hartford", "tag": "a,b", "empty": ""}
    assert event["headers"] == {"content-type": "application/json", "x-trace": "1,2", "host": "127.0.0.1:8000"}
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"acres": 2}', False)


def test_binary_bodies_are_base64_encoded_and_empty_bodies_absent():
    binary = build_http_event("POST", "/files", [("Content-Type", "image/png")], b"\x89PNG\x00\xff")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\x89PNG\x00\xff"
    not_utf8 = build_http_event("POST", "/files", [("Content-Type", "text/plain")], b"\xff\xfe")
    assert not_utf8["isBase64Encoded"] is True
    empty = build_http_event("GET", "/parcels", [], b"")
    assert "body" not in empty and "queryStringParameters" not in empty and "cookies" not in empty


def test_response_parts_of_every_shape():
    assert http_response_parts({"statusCode": 201, "headers": {"X-A": "1"}, "cookies": ["a=1", "b=2"],
                                "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}) == (
        201, [("X-A", "1"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], b"\x00\x01")
    assert http_response_parts({"statusCode": 200, "headers": {"X-A": "x"},
                                "multiValueHeaders": {"X-A": ["1", "2"]}, "body": "ok"}) == (
        200, [("X-A", "1"), ("X-A", "2")], b"ok")
    # HTTP API reads a response without statusCode as a 200 JSON body
    assert http_response_parts({"answer": 42}) == (200, [("Content-Type", "application/json")], b'{"answer": 42}')
    for bad in ({"statusCode": "200"}, {"statusCode": 99}, {"statusCode": 200, "body": {"a": 1}}):
        with pytest.raises(ValueError):
            http_response_parts(bad)
    with pytest.raises(TypeError):
        http_response_parts(["not", "a", "response"])


# --- real HTTP, echo handler ---

def test_a_real_request_becomes_the_event(echo_server):
    status, _, body = request(f"{echo_server.url}/parcels/1?x=1&x=2", "PUT", state="ohio",
                              body={"a": 1}, headers={"Cookie": "k=v", "Content-Type": "application/json"})
    assert status == 200
    event = json.loads(body)
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["rawPath"] == "/parcels/1"
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["headers"]["constitution-state"] == "ohio"
    assert event["cookies"] == ["k=v"]
    assert json.loads(event["body"]) == {"a": 1}


def test_chunked_bodies_and_keep_alive(echo_server):
    connection = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=10)
    try:
        connection.request("POST", "/upload", body=iter([b'{"part": ', b'"one"}']),
                           headers={"Content-Type": "application/json"}, encode_chunked=True)
        first = connection.getresponse()
        assert json.loads(json.loads(first.read())["body"]) == {"part": "one"}
        connection.request("GET", "/again")  # same connection: HTTP/1.1 keep-alive
        assert json.loads(connection.getresponse().read())["rawPath"] == "/again"
    finally:
        connection.close()


def test_bodies_over_the_api_gateway_limit_are_refused_unread(echo_server):
    connection = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=10)
    try:
        connection.putrequest("POST", "/upload")
        connection.putheader("Content-Length", str(11 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"message": "Request Entity Too Large"}
    finally:
        connection.close()
    assert echo_server.events == []


def test_binary_responses_and_head_requests():
    def handler(event, context):
        return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                "body": base64.b64encode(b"\x89PNG\x00").decode(), "isBase64Encoded": True}

    with LocalApiServer(handler=handler) as server:
        status, headers, body = request(f"{server.url}/logo")
        assert (status, headers["Content-Type"], body) == (200, "image/png", b"\x89PNG\x00")
        status, headers, body = request(f"{server.url}/logo", "HEAD")
        assert (status, headers["Content-Length"], body) == (200, "5", b"")


def test_a_failing_or_malformed_handler_is_a_500(caplog):
    answers = iter([RuntimeError("boom"), {"statusCode": "oops"}])

    def handler(event, context):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with LocalApiServer(handler=handler) as server:
        for _ in range(2):
            status, _, body = request(f"{server.url}/x")
            assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert "boom" in caplog.text


def test_serve_api_refuses_a_folder_without_api(tmp_path):
    with pytest.raises(FileNotFoundError, match="no api/ folder"):
        serve_api(tmp_path)


# --- real HTTP, the example app through api_handler ---

def test_example_routes_over_http(example_server, make_state, mongo_client):
    state = make_state("connecticut")
    url = example_server.url

    status, headers, body = request(f"{url}/parcels", "POST", state, parcel("HFD-0001", acres=2.5))
    assert status == 201, body
    assert headers["Location"] == "/parcels/HFD-0001"
    assert headers["Access-Control-Allow-Origin"] == "*" and headers["X-Request-Id"]
    created = json.loads(body)
    assert created["event_published"] is True
    assert created["parcel"]["acres"] == 2.5 and created["parcel"]["recorded_at"].startswith("20")

    status, _, body = request(f"{url}/parcels?county=Hartford", state=state)
    assert status == 200 and [p["parcel_id"] for p in json.loads(body)["items"]] == ["HFD-0001"]
    status, _, body = request(f"{url}/parcels/HFD-0001", state=state)
    assert status == 200 and json.loads(body)["owner"] == "A. Smith"
    assert mongo_client[state]["parcels"].count_documents({}) == 1


def test_base64_request_bodies_reach_the_api_decoded(example_server, make_state, mongo_client):
    state = make_state("ohio")
    status, _, body = request(f"{example_server.url}/parcels", "POST", state,
                              json.dumps(parcel("OH-0001")).encode(),
                              headers={"Content-Type": "application/octet-stream"})
    assert status == 201, body
    assert mongo_client[state]["parcels"].find_one({}, {"_id": 0, "parcel_id": 1}) == {"parcel_id": "OH-0001"}


@pytest.mark.parametrize(("path", "method", "headers", "body", "status", "message"), [
    ("/parcels", "GET", {}, None, 400, "constitution-state header is required"),
    ("/parcels", "GET", {"constitution-state": "New York"}, None, 400, "invalid constitution-state"),
    ("/parcels", "POST", {"constitution-state": "ohio"}, b"{not json", 400, "not valid JSON"),
    ("/parcels", "POST", {"constitution-state": "ohio"}, b"[1, 2]", 400, "must be a JSON object"),
    ("/parcels?limit=0", "GET", {"constitution-state": "ohio"}, None, 400, "limit must be"),
    ("/parcels/NOPE-1", "GET", {"constitution-state": "ohio"}, None, 404, "parcel NOPE-1 not found"),
    ("/deeds", "GET", {"constitution-state": "ohio"}, None, 404, "No route for GET /deeds"),
])
def test_example_refusals_over_http(example_server, path, method, headers, body, status, message):
    got, _, payload = request(f"{example_server.url}{path}", method, body=body,
                              headers={"Content-Type": "application/json", **headers})
    answer = json.loads(payload)
    assert (got, answer["error"]) == (status, True)
    assert message in answer["message"]
    assert "examples" not in answer["message"]  # no file-system paths leak into a 404


def test_concurrent_requests_of_different_states_stay_apart(example_server, make_state, mongo_client, boto_client):
    states = [make_state(f"s{i}") for i in range(4)]
    errors: list[str] = []

    def client(index: int, state: str) -> None:
        for n in range(4):
            parcel_id = f"P{index}-{n:03d}"
            status, _, body = request(f"{example_server.url}/parcels", "POST", state, parcel(parcel_id))
            if status != 201:
                errors.append(f"{state} {parcel_id}: {status} {body!r}")

    threads = [threading.Thread(target=client, args=(i, s)) for i, s in enumerate(states)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for index, state in enumerate(states):
        ids = sorted(d["parcel_id"] for d in mongo_client[state]["parcels"].find())
        assert ids == [f"P{index}-{n:03d}" for n in range(4)]
    published = receive_all(boto_client("sqs"), example_server.queue_url)
    by_state: dict[str, set[str]] = {}
    for message in published:
        state = message["MessageAttributes"]["constitution-state"]["StringValue"]
        by_state.setdefault(state, set()).add(json.loads(message["Body"])["parcel_id"])
    assert by_state == {s: {f"P{i}-{n:03d}" for n in range(4)} for i, s in enumerate(states)}

