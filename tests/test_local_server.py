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
import urllib.parse
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



# --- issue 11 §5: framing the server cannot be fooled by, headers it never forges ---

def raw_exchange(port: int, data: bytes, *, close_write: bool = True, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while True:
            part = sock.recv(65536)
            if not part:
                return received
            received += part


def chunked_request(*lines: bytes) -> bytes:
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head + b"".join(lines)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


@pytest.mark.parametrize("size", [b"-1", b"-0", b"0x10", b"1_0", b"+5", b"", b"zz", b"1 2", b"12345678901234567"])
def test_a_malformed_chunk_size_is_a_400(echo_server, size):
    # int(size, 16) takes "-1" (then reads to EOF: any length passes the limit), "0x10", "1_0", "+5"
    raw = raw_exchange(echo_server.port, chunked_request(size + b"\r\n", b"0123456789abcdef\r\n0\r\n\r\n"))
    assert status_of(raw) == 400, raw[:200]
    assert echo_server.events == []


@pytest.mark.parametrize("body", [
    b"5\r\nabc",                  # ends inside a chunk
    b"3\r\nabcdef\r\n0\r\n\r\n",  # chunk longer than its size
    b"3\r\nabc",                  # no CRLF after the chunk, no last chunk
    b"3\r\nabc\r\n",              # no last chunk
])
def test_a_truncated_chunked_body_is_a_400(echo_server, body):
    assert status_of(raw_exchange(echo_server.port, chunked_request(body))) == 400
    assert echo_server.events == []


@pytest.mark.parametrize("length", [b"-5", b"+5", b"0x5", b"1_0", b"5, 5", b"abc"])
def test_a_malformed_content_length_is_a_400(echo_server, length):
    raw = raw_exchange(echo_server.port,
                       b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n{}{}{}")
    assert status_of(raw) == 400
    assert echo_server.events == []


def test_two_different_content_lengths_are_a_400(echo_server):
    raw = raw_exchange(echo_server.port, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                                         b"Content-Length: 4\r\n\r\n{}{}")
    assert status_of(raw) == 400 and echo_server.events == []


@pytest.mark.parametrize("coding", [b"gzip", b"gzip, chunked", b"chunked, gzip", b"identity"])
def test_a_transfer_coding_other_than_chunked_is_a_400(echo_server, coding):
    raw = raw_exchange(echo_server.port, b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding
                       + b"\r\nContent-Length: 2\r\n\r\n{}")
    assert status_of(raw) == 400 and echo_server.events == []


def test_a_negative_content_length_cannot_smuggle_a_second_request(echo_server):
    # today's int() read -5 as "no body": the bytes after the headers became a request of their own
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    raw = raw_exchange(echo_server.port, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n" + smuggled)
    assert status_of(raw) == 400 and raw.count(b"HTTP/1.1 ") == 1
    assert [e["rawPath"] for e in echo_server.events] == []


def test_chunked_bodies_with_extensions_and_trailers_still_work(echo_server):
    raw = raw_exchange(echo_server.port, chunked_request(b"2;name=v\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n"))
    assert status_of(raw) == 200
    assert [e["body"] for e in echo_server.events] == ["{}"]


def test_the_body_limit_holds_for_chunked_bodies(echo_server):
    from aws_helper_sync.api.local_server import MAX_BODY_BYTES

    mib = 1024 * 1024
    chunk = f"{mib:x}\r\n".encode() + b"a" * mib + b"\r\n"
    # exactly the limit in ten chunks, then one byte more: refused at that chunk's size line
    raw = raw_exchange(echo_server.port, chunked_request(chunk * (MAX_BODY_BYTES // mib), b"1\r\n"),
                       close_write=False)
    assert status_of(raw) == 413 and echo_server.events == []
    raw = raw_exchange(echo_server.port, chunked_request(b"ffffffffffffffff\r\n"), close_write=False)
    assert status_of(raw) == 413 and echo_server.events == []


def test_a_silent_client_loses_its_connection_after_the_read_timeout():
    import socket

    calls: list[dict[str, Any]] = []
    with LocalApiServer(handler=lambda event, context: calls.append(event) or {"statusCode": 200},
                        read_timeout=0.3) as server:
        # a body that never comes, and a connection that never sends a request
        for data in (b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", b"", b"GET /half"):
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(data)
                assert sock.recv(1024) == b""  # closed by the server, well before our 5 s
    assert calls == []
    default = LocalApiServer(handler=lambda event, context: {})
    default.server_close()
    assert default.read_timeout == 30.0


FORGED_HEADERS = [
    ({"X-Echo": "x\r\nSet-Cookie: session=forged"}, None),
    ({"X-Echo": "x\nSet-Cookie: session=forged"}, None),
    ({"X-Echo": "x\rSet-Cookie: session=forged"}, None),
    ({"X-Echo": "x\x00Set-Cookie: session=forged"}, None),
    ({"X-Echo\r\nSet-Cookie: session=forged\r\nX-A": "1"}, None),
    ({"Set-Cookie: session=forged; X": "1"}, None),
    (None, {"X-Echo": ["ok", "x\r\nSet-Cookie: session=forged"]}),
    (None, None),  # cookies, below
]


@pytest.mark.parametrize(("headers", "multi"), FORGED_HEADERS)
def test_a_forged_header_from_any_handler_is_a_500_and_never_written(headers, multi, caplog):
    def handler(event, context):
        response: dict[str, Any] = {"statusCode": 200, "body": "fine"}
        if headers is not None:
            response["headers"] = headers
        if multi is not None:
            response["multiValueHeaders"] = multi
        if headers is None and multi is None:
            response["cookies"] = ["a=1", "b=2\r\nSet-Cookie: session=forged"]
        return response

    with LocalApiServer(handler=handler) as server:
        raw = raw_exchange(server.port, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(raw) == 500
    assert b"forged" not in raw and b"fine" not in raw
    assert "HeaderInjectionError" in caplog.text


def test_a_header_forged_by_an_api_is_a_500_over_http(app_root, make_state):
    with serve_api(app_root, port=0).start() as server:
        target = "/forged?value=" + urllib.parse.quote("x\r\nSet-Cookie: session=forged")
        raw = raw_exchange(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                        f"constitution-state: {make_state('ohio')}\r\n\r\n".encode())
        assert status_of(raw) == 500
        assert b"forged" not in raw and b"Internal server error" in raw
        target = "/forged?value=" + urllib.parse.quote("fine text")
        ok = raw_exchange(server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                       f"constitution-state: {make_state('ohio')}\r\n\r\n".encode())
        assert status_of(ok) == 200 and b"X-Echo: fine text\r\n" in ok


def test_every_body_the_server_sends_is_strict_json():
    answers = iter([{"ratio": float("nan"), "big": float("inf")}])

    with LocalApiServer(handler=lambda event, context: next(answers)) as server:
        status, _, body = request(f"{server.url}/x")

    def refuse(name):
        raise ValueError(name)

    assert status == 200 and json.loads(body, parse_constant=refuse) == {"ratio": None, "big": None}


def test_endless_trailers_are_a_400(echo_server):
    trailers = b"".join(b"X-T%d: 1\r\n" % i for i in range(101))
    raw = raw_exchange(echo_server.port, chunked_request(b"2\r\n{}\r\n0\r\n", trailers, b"\r\n"))
    assert status_of(raw) == 400 and echo_server.events == []
