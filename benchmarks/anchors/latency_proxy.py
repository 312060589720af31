"""A loopback HTTP forwarder that adds a fixed delay to every request (standard library only).

The SNS goal row of issue 15 puts it in front of moto: moto answers in well
under a millisecond, AWS in tens of them, and a publisher that sends its
chunks one after another pays that latency once per chunk. The proxy forwards
method, path, headers and body to the upstream server unchanged (so SigV4
signatures still match what moto sees), sleeps ``delay`` before forwarding,
and sends the answer back with its status, headers and body. One thread per
client connection (HTTP/1.1 keep-alive), one upstream connection per thread.

    proxy = LatencyProxy("http://127.0.0.1:5000", delay=0.020)
    url = proxy.start()          # point AWS_ENDPOINT_URL at it
    ...
    proxy.stop()

    python benchmarks/anchors/latency_proxy.py UPSTREAM_URL [--delay-ms 20] [--port 0]
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Per-connection headers that a proxy must not pass on (RFC 9110 §7.6.1); the
# body length is set from the body actually sent.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "content-length"})


class _Forwarder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def _forward(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.send_error(411, "the latency proxy needs a Content-Length (chunked bodies are not supported)")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(self.server.delay)
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        try:
            status, reason, answer_headers, answer = self.server.send_upstream(self.command, self.path, body, headers)
        except OSError as exc:
            self.send_error(502, f"upstream unreachable: {exc}")
            return
        with self.server.count_lock:
            self.server.requests += 1
        self.send_response_only(status, reason)
        for name, value in answer_headers:
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    def log_message(self, format: str, *args) -> None:
        pass  # one line per request would drown the driver's progress log


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # keep-alive connections left open by clients must not block stop()
    request_queue_size = 128  # socketserver's listen backlog of 5 resets concurrent connects on a busy machine

    def __init__(self, address: tuple[str, int], upstream: str, delay: float) -> None:
        super().__init__(address, _Forwarder)
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the latency proxy forwards to a plain http:// upstream, not {upstream!r}")
        self.upstream_host, self.upstream_port = parts.hostname, parts.port or 80
        self.delay = delay
        self.requests = 0
        self.count_lock = threading.Lock()
        self._local = threading.local()

    def send_upstream(self, method: str, path: str, body: bytes, headers: dict) -> tuple:
        """One request on this thread's upstream connection (reconnecting once if it was closed)."""
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._local.connection = http.client.HTTPConnection(
                    self.upstream_host, self.upstream_port, timeout=60)
            try:
                connection.request(method, path, body=body or None, headers=headers)
                response = connection.getresponse()
                return response.status, response.reason, response.getheaders(), response.read()
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class LatencyProxy:
    """Start/stop a forwarder to ``upstream`` (``http://host:port``) adding ``delay`` seconds per request."""

    def __init__(self, upstream: str, delay: float = 0.020, host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream, self.delay, self.host, self.port = upstream, delay, host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the latency proxy is not running")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def requests(self) -> int:
        """Requests forwarded so far."""
        return self._server.requests if self._server else 0

    def start(self) -> str:
        self._server = _Server((self.host, self.port), self.upstream, self.delay)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="latency-proxy", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("upstream", help="http://host:port of the server to forward to")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    proxy = LatencyProxy(args.upstream, args.delay_ms / 1000.0, port=args.port)
    print(f"forwarding {proxy.start()} -> {args.upstream} (+{args.delay_ms:g} ms per request); Ctrl-C stops",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
