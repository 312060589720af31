"""A local HTTP server for the file-routed API (development only).

Each HTTP request becomes an API Gateway HTTP API (payload 2.0) event, goes
through ``api_handler`` exactly as on Lambda, and the proxy response comes back
as the HTTP response (status, headers, cookies, base64 bodies decoded). Nothing
is routed differently from production: the same dispatcher answers.

    server = serve_api("examples/land_records", port=0).start()   # background thread
    urllib.request.urlopen(server.url + "/parcels")                # ...
    server.stop()

It binds 127.0.0.1 by default and is a ``ThreadingHTTPServer``: fine for a
developer and for tests, not a production server (use API Gateway, or a WSGI
server with ``integrations.wsgi``). Still, it cannot be used to forge a response
or smuggle a request: a body framed ambiguously (a signed, ``0x`` or malformed
chunk size, an invalid or repeated Content-Length, a coding other than
``chunked``) is a 400 and the connection is closed; the 10 MB limit holds for
either framing; a header with CR, LF or NUL is a 500 and never written; a socket
read waits at most ``read_timeout`` seconds (30 by default).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

from ..utils.json_encoder import mongo_json_dumps
from .headers import check_response_headers

if TYPE_CHECKING:
    from typing_extensions import Self

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
READ_TIMEOUT_SECONDS = 30.0  # a client silent for longer loses its connection (and thread)
_MAX_LINE = 65536  # chunk-size and trailer lines, as http.server limits header lines
_MAX_TRAILERS = 100  # as http.client limits the number of headers
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_TEXT_TYPES = ("application/json", "application/x-www-form-urlencoded", "application/xml",
               "application/javascript")

ApiHandler = Callable[[dict[str, Any], Any], Mapping[str, Any]]


class PayloadTooLargeError(ValueError):
    """The request body is over API Gateway's 10 MB limit."""


def _is_text(content_type: str | None) -> bool:
    """Would API Gateway pass this body as text? (Binary media types arrive base64-encoded.)"""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def build_http_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    protocol: str = "HTTP/1.1",
) -> dict[str, Any]:
    """The API Gateway HTTP API (2.0) event for one HTTP request.

    ``target`` is the request line's path with its query string, as received.
    As API Gateway does: header names are lower-cased and repeated headers joined
    with commas, cookies move to ``cookies``, repeated query parameters are
    joined with commas, and a body that is not text is base64-encoded.
    """
    split = urlsplit(target)
    raw_path = split.path or "/"
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        joined[lowered] = f"{joined[lowered]},{value}" if lowered in joined else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": split.query,
        "headers": joined,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": joined.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": unquote(raw_path),
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        text = None
        if _is_text(joined.get("content-type")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def http_response_parts(response: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body bytes from a proxy response (2.0 or 1.0 shape).

    A 2.0 response without ``statusCode`` is, as API Gateway reads it, a 200
    whose JSON body is the whole returned value. Raises ValueError or TypeError when
    the response is malformed, HeaderInjectionError when a header holds CR, LF or
    NUL (the server answers 500 then, as API Gateway would).
    """
    if not isinstance(response, Mapping):
        raise TypeError(f"the handler returned {type(response).__name__}, not a response object")
    if "statusCode" not in response:
        return 200, [("Content-Type", "application/json")], mongo_json_dumps(response).encode("utf-8")
    check_response_headers(response)  # a header with CR, LF or NUL is never written to the socket
    status = response["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"invalid statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    for name, value in single.items():
        if name not in multi:
            headers.append((str(name), str(value)))
    for name, values in multi.items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in response.get("cookies") or [])
    body = response.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise ValueError(f"body must be a string, got {type(body).__name__}")
    elif response.get("isBase64Encoded"):
        data = base64.b64decode(body)
    else:
        data = body.encode("utf-8")
    return status, headers, data


class _ApiRequestHandler(BaseHTTPRequestHandler):
    """Turns one HTTP request into an event and the handler's answer into the HTTP response."""

    server: LocalApiServer
    protocol_version = "HTTP/1.1"  # keep-alive, as browsers and API clients expect

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def setup(self) -> None:
        # Per connection, from the server: StreamRequestHandler.setup() reads self.timeout,
        # which typeshed declares a ClassVar only.
        self.timeout = self.server.read_timeout  # type: ignore[misc]
        super().setup()

    def _read_body(self) -> bytes:
        """The request body, framed by ``Transfer-Encoding: chunked`` or ``Content-Length``.

        Anything ambiguous is refused (ValueError -> 400, connection closed): a
        body read differently from how the client framed it would leave bytes to be
        parsed as the next request. The 10 MB limit holds for either framing.
        """
        codings = [c.strip().lower() for value in self.headers.get_all("Transfer-Encoding") or ()
                   for c in value.split(",") if c.strip()]
        if codings:
            if codings != ["chunked"]:
                raise ValueError(f"unsupported Transfer-Encoding {codings}")
            return self._read_chunked()
        lengths = {v.strip() for v in self.headers.get_all("Content-Length") or ()}
        if not lengths:
            return b""
        if len(lengths) != 1 or not _DIGITS.fullmatch(next(iter(lengths))):
            raise ValueError(f"invalid Content-Length {sorted(lengths)}")
        length = int(next(iter(lengths)))
        if length > MAX_BODY_BYTES:
            raise PayloadTooLargeError
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ValueError("the body ended before its Content-Length")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self._read_line()
            field = line.split(b";", 1)[0].strip()
            if not _HEX.fullmatch(field):  # no sign, no 0x, no underscores: int(..., 16) takes those
                raise ValueError(f"invalid chunk size {field[:20]!r}")
            length = int(field, 16)
            if length == 0:
                for _ in range(_MAX_TRAILERS + 1):  # trailers: read and dropped
                    if self._read_line() in (b"\r\n", b"\n"):
                        return b"".join(chunks)
                raise ValueError(f"more than {_MAX_TRAILERS} trailer lines")
            size += length
            if size > MAX_BODY_BYTES:
                raise PayloadTooLargeError
            chunk = self.rfile.read(length)
            if len(chunk) != length or self._read_line() not in (b"\r\n", b"\n"):
                raise ValueError("a chunk is shorter than its size or not followed by CRLF")
            chunks.append(chunk)

    def _read_line(self) -> bytes:
        line = self.rfile.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n") or len(line) > _MAX_LINE:
            raise ValueError("truncated or overlong line in a chunked body")
        return line

    def _answer(self) -> None:
        try:
            body = self._read_body()
        except PayloadTooLargeError:
            self.close_connection = True  # the unread body would be parsed as the next request
            self._send_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "Request Entity Too Large"})
            return
        except ValueError as exc:
            logger.info("%s %s: refused body framing: %s", self.command, self.path, exc)
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"message": "Bad Request: unreadable body"})
            return
        if self._answered_lambda_invoke(body):
            return
        event = build_http_event(
            self.command, self.path, list(self.headers.items()), body,
            source_ip=self.client_address[0], protocol=self.request_version,
        )
        try:
            status, headers, data = http_response_parts(self.server.handler(event, None))
        except Exception:
            logger.exception("%s %s: the handler failed or gave a malformed response", self.command, self.path)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"message": "Internal Server Error"})
            return
        self._send(status, headers, data)

    def _answered_lambda_invoke(self, body: bytes) -> bool:
        """``POST /2015-03-31/functions/<name>/invocations`` runs a standalone Lambda (lambda_standalone.local_invoke)."""
        from ..lambda_standalone.local_invoke import answer_invoke

        answer = answer_invoke(self.command, self.path, self.headers, body)
        if answer is None:
            return False
        self._send(*answer)
        return True

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, [("Content-Type", "application/json")], json.dumps(body).encode("utf-8"))

    def _send(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if self.command != "HEAD" or data:  # api_handler drops HEAD bodies: 0 is not GET's length
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class LocalApiServer(ThreadingHTTPServer):
    """A threaded HTTP server that answers every request with ``handler`` (``api_handler``)."""

    daemon_threads = True

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, handler: ApiHandler | None = None,
                 read_timeout: float | None = READ_TIMEOUT_SECONDS) -> None:
        if handler is None:
            from .handler import api_handler

            handler = api_handler
        self.handler = handler
        # seconds one socket read may wait (headers, body, an idle keep-alive): a client that
        # stops sending cannot hold a thread forever. None waits forever.
        self.read_timeout = read_timeout
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _ApiRequestHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8000``."""
        host = self.server_address[0]
        if not isinstance(host, str):  # typeshed allows bytes; an AF_INET(6) socket gives str
            host = bytes(host).decode("ascii")
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> Self:
        """Serve in a background thread (tests, the demo); returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="local-api-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and wait for the background thread."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_api(
    app_root: str | os.PathLike[str] | None = None,
    host: str = DEFAULT_HOST,
    port: int = 0,
    handler: ApiHandler | None = None,
    read_timeout: float | None = READ_TIMEOUT_SECONDS,
) -> LocalApiServer:
    """A ``LocalApiServer`` for the app at ``app_root``, bound but not yet serving.

    ``app_root`` sets ``APP_ROOT`` for this process (routes are files under
    ``<app root>/api/``); None keeps the current one. ``port=0`` picks a free
    port (see ``.url``). ``read_timeout`` is how long (seconds) one socket read
    may wait before the connection is dropped. Call ``.start()`` for a background
    thread or ``.serve_forever()`` to block.
    """
    if app_root is not None:
        root = Path(app_root).resolve()
        if not (root / "api").is_dir() and not (root / "lambda").is_dir():
            raise FileNotFoundError(f"{root} has no api/ folder (nor lambda/): it is not an app root")
        os.environ["APP_ROOT"] = str(root)
    return LocalApiServer(host, port, handler, read_timeout)
