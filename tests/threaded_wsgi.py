"""A real threaded werkzeug server and HTTP clients for the integration tests.

Shared by test_flask.py and test_wsgi.py: the app under test runs behind
``werkzeug.serving.make_server(threaded=True)`` on 127.0.0.1 (a thread per
request, as the werkzeug server closes every connection), or with
``threaded=False``, where one thread serves every request in turn, as a sync
worker does: the case where a state could leak from one request to the next.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable

from werkzeug.serving import WSGIRequestHandler, make_server

from aws_helper_sync import get_state


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@contextmanager
def serve(app: Callable[..., Any], *, threaded: bool = True) -> Iterator[tuple[str, int]]:
    """Serve ``app`` on a free port in a background thread; yields ``(host, port)``."""
    server = make_server("127.0.0.1", 0, app, threaded=threaded, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="werkzeug", daemon=True
    )
    thread.start()
    try:
        yield "127.0.0.1", server.port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class Client:
    """An HTTP client (reconnects as needed); ``request`` returns ``(status, json_body, headers)``."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.connection = http.client.HTTPConnection(*address, timeout=30)

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, http.client.HTTPMessage]:
        self.connection.request(method, path, headers=headers or {})
        response = self.connection.getresponse()
        raw = response.read()
        body = json.loads(raw) if response.headers.get_content_type() == "application/json" else raw
        return response.status, body, response.headers

    def close(self) -> None:
        self.connection.close()


class StateProbe:
    """Outermost WSGI layer: records the server thread's state before and after each request.

    It runs in the same thread and context as the request, after the response
    body was iterated and closed, so a state the request failed to give back
    shows up in ``after``. That happens just after the client has its response:
    read the records through ``wait``.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self._records: list[tuple[str, str | None, str | None]] = []
        self._changed = threading.Condition()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        before = get_state()
        try:
            body = self.app(environ, start_response)
            try:
                yield from body
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        finally:
            with self._changed:
                self._records.append((environ["PATH_INFO"], before, get_state()))
                self._changed.notify_all()

    def wait(self, count: int) -> list[tuple[str, str | None, str | None]]:
        """The ``(path, state_before, state_after)`` records once ``count`` requests finished."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._records) >= count, timeout=30)
            return list(self._records)


def run_load(
    address: tuple[str, int],
    states: list[str],
    *,
    threads: int = 8,
    requests_per_thread: int = 50,
    path: str = "/write",
    header: str = "Constitution-State",
) -> dict[str, int]:
    """Client threads each send mixed-state writes; returns how many were sent per state.

    Every response must be a 200 that reports the state it was sent with.
    """
    sent = {state: 0 for state in states}
    sent_lock = threading.Lock()
    failures: list[str] = []

    def client_thread(number: int) -> None:
        client = Client(address)
        try:
            for i in range(requests_per_thread):
                state = states[(number + i) % len(states)]
                status, body, _ = client.request(
                    "POST", f"{path}?client={number}&seq={i}", {header: state}
                )
                if status != 200 or body.get("state") != state:
                    failures.append(f"client {number} #{i} {state}: {status} {body!r}")
                with sent_lock:
                    sent[state] += 1
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(client_thread, n) for n in range(threads)]
    for future in futures:
        future.result()  # a client that crashed fails the test with its own error
    assert failures == []
    return sent


def assert_each_state_kept_its_writes(mongo_client: Any, collection: str, sent: dict[str, int], probe: Any) -> None:
    """Every state's database holds exactly the writes sent with that state, and every
    request (``probe`` records) started and ended with no state in its thread."""
    for state, count in sent.items():
        documents = mongo_client[state][collection]
        assert documents.count_documents({}) == count
        assert documents.count_documents({"state": {"$ne": state}}) == 0
        assert documents.count_documents({"header": {"$ne": state}}) == 0
    total = sum(sent.values())
    records = probe.wait(total)
    assert len(records) == total
    assert {(before, after) for _, before, after in records} == {(None, None)}


BYPASS_TOKEN = "bypass-integrations-5f1e"


def store_bound_tokens(database: Any, ohio: str, texas: str) -> None:
    """Users and tokens for authorize_bearer_token tests, in ``database`` (the AUTH_DB_NAME):
    ``tok-ohio`` (token bound to ohio), ``tok-both`` (its user bound to ohio and texas),
    ``tok-none`` (bound to no state), ``tok-any`` (unbound), ``tok-malformed`` (states a string)
    and ``tok-hostile`` (user_id an operator)."""
    database.users.insert_many([
        {"_id": "u-any", "username": "any", "is_active": True},
        {"_id": "u-both", "username": "both", "is_active": True, "states": [ohio, texas]},
    ])
    database.tokens.insert_many([
        {"token": "tok-ohio", "user_id": "u-any", "is_active": True, "states": [ohio]},
        {"token": "tok-both", "user_id": "u-both", "is_active": True},
        {"token": "tok-none", "user_id": "u-any", "is_active": True, "states": []},
        {"token": "tok-any", "user_id": "u-any", "is_active": True},
        {"token": "tok-malformed", "user_id": "u-any", "is_active": True, "states": ohio},
        {"token": "tok-hostile", "user_id": {"$ne": None}, "is_active": True},
    ])


# (token, state name) -> status, for store_bound_tokens' tokens and states "ohio"/"texas".
BOUND_TOKEN_OUTCOMES = {
    ("tok-ohio", "ohio"): 200, ("tok-ohio", "texas"): 403,
    ("tok-both", "ohio"): 200, ("tok-both", "texas"): 200,
    ("tok-none", "ohio"): 403, ("tok-none", "texas"): 403,
    ("tok-any", "ohio"): 200, ("tok-any", "texas"): 200,
    ("tok-malformed", "ohio"): 401, ("tok-malformed", "texas"): 401,
    ("tok-hostile", "ohio"): 401, ("tok-hostile", "texas"): 401,
    ("tok-unknown", "ohio"): 401, ("tok-unknown", "texas"): 401,
    (BYPASS_TOKEN, "ohio"): 200, (BYPASS_TOKEN, "texas"): 200,
}
