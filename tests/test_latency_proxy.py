"""benchmarks/anchors/latency_proxy.py: forwards requests unchanged and adds its delay to each.

The SNS goal row of issue 15 depends on it: a proxy that dropped a header
would break SigV4 at moto, one that lost the body would publish nothing, and
one that did not delay would make the row meaningless. No timing assertion
beyond the delay itself being paid (a lower bound, not a speed claim).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks" / "anchors"))

from latency_proxy import LatencyProxy


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 16 proxy threads connect at once: a backlog of 5 resets some on a busy machine


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON, and a header of its own."""

    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                             "body": body.decode()}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("X-Upstream", "echo")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = _echo

    def log_message(self, format, *args):
        pass


@pytest.fixture
def upstream():
    server = _EchoServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _request(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_forwards_method_path_headers_and_body_and_pays_the_delay(upstream):
    with LatencyProxy(upstream, delay=0.05) as proxy:
        start = time.perf_counter()
        status, headers, raw = _request(proxy.url, "POST", "/topic?Action=PublishBatch", b"Entries=1&x=%C3%A9",
                                        {"Authorization": "AWS4-HMAC-SHA256 Credential=abc", "X-Amz-Date": "20261201T000000Z",
                                         "Content-Type": "application/x-www-form-urlencoded"})
        elapsed = time.perf_counter() - start
        echoed = json.loads(raw)
        assert status == 201 and headers["X-Upstream"] == "echo"
        assert echoed["method"] == "POST" and echoed["path"] == "/topic?Action=PublishBatch"
        assert echoed["body"] == "Entries=1&x=%C3%A9"
        assert echoed["headers"]["Authorization"] == "AWS4-HMAC-SHA256 Credential=abc"
        assert echoed["headers"]["X-Amz-Date"] == "20261201T000000Z"
        assert elapsed >= 0.05
        assert proxy.requests == 1


def test_concurrent_requests_each_get_their_own_answer(upstream):
    """Threads share one proxy: no answer reaches the wrong caller, and the delays overlap."""
    with LatencyProxy(upstream, delay=0.02) as proxy:
        def one(n: int) -> str:
            status, _, raw = _request(proxy.url, "PUT", f"/item/{n}", json.dumps({"n": n}).encode())
            assert status == 200
            echoed = json.loads(raw)
            assert json.loads(echoed["body"]) == {"n": n}
            return echoed["path"]

        with ThreadPoolExecutor(16) as pool:
            paths = list(pool.map(one, range(48)))
        assert paths == [f"/item/{n}" for n in range(48)]
        assert proxy.requests == 48


def test_upstream_down_is_a_502_and_stop_is_idempotent():
    proxy = LatencyProxy("http://127.0.0.1:1", delay=0.0)
    proxy.start()
    try:
        status, _, raw = _request(proxy.url, "GET", "/")
        assert status == 502 and b"upstream unreachable" in raw
    finally:
        proxy.stop()
        proxy.stop()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.url  # noqa: B018


def test_refuses_an_https_upstream():
    with pytest.raises(ValueError, match="plain http"):
        LatencyProxy("https://sns.us-east-2.amazonaws.com").start()
