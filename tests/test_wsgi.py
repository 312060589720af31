"""WSGI middleware (SPEC §11): the state header per request for any WSGI app."""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar
from urllib.parse import parse_qs
from wsgiref.util import setup_testing_defaults

import pytest

from aws_helper_sync import Repository, get_state, state_scope
from aws_helper_sync.integrations.wsgi import StateMiddleware
from tests.threaded_wsgi import (
    Client,
    StateProbe,
    assert_each_state_kept_its_writes,
    run_load,
    serve,
)


class Visits(Repository):
    collection_name = "wsgi_visits"
    indexes: ClassVar[list[dict[str, Any]]] = [{"key": [("client", 1), ("seq", 1)]}]


VISITS = Visits()


def _json(start_response, payload: dict[str, Any], status: str = "200 OK") -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class InnerApp:
    """A bare WSGI callable, as small as a framework-free service gets."""

    def __init__(self) -> None:
        self.closed_in: list[str | None] = []

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        me = {"state": get_state(), "thread": threading.current_thread().name}
        if path == "/write":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            VISITS.collection.insert_one({
                "header": environ.get("HTTP_CONSTITUTION_STATE"),
                "state": get_state(),
                "client": int(query["client"][0]),
                "seq": int(query["seq"][0]),
            })
            return _json(start_response, me)
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return self._stream()
        if path == "/boom":
            raise RuntimeError("app failed")
        if path in ("/health", "/public/page", "/publicity", "/private"):
            return _json(start_response, me)
        return _json(start_response, {"error": "not found"}, "404 Not Found")

    def _stream(self):
        try:
            for i in range(3):
                yield f"{i}:{get_state()}\n".encode()  # evaluated while the server iterates
        finally:
            self.closed_in.append(get_state())


def make_app(**options) -> tuple[StateMiddleware, InnerApp]:
    inner = InnerApp()
    options.setdefault("exempt_paths", ["/health", "/public/"])
    return StateMiddleware(inner, **options), inner


def call(app, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    """Call a WSGI app in this thread: ``(status, headers, body_bytes)``."""
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": method}
    setup_testing_defaults(environ)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[Any] = []
    result = app(environ, lambda status, headers, exc_info=None: started.extend([status, headers]))
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return started[0], dict(started[1]), body


@pytest.fixture
def served_app():
    app, inner = make_app()
    probe = StateProbe(app)
    with serve(probe) as address:
        yield address, probe, inner


# --- under a real threaded server ---------------------------------------------


def test_concurrent_mixed_states_write_only_to_their_own_database(served_app, mongo_client, make_state):
    address, probe, _ = served_app
    states = [make_state(name) for name in ("connecticut", "ohio", "texas", "new_jersey")]

    sent = run_load(address, states, threads=8, requests_per_thread=50)

    assert sum(sent.values()) == 400
    assert_each_state_kept_its_writes(mongo_client, Visits.collection_name, sent, probe)


def test_missing_header_is_a_json_400(served_app, mongo_client):
    address, probe, _ = served_app
    client = Client(address)
    before = set(mongo_client.list_database_names())

    status, body, headers = client.request("POST", "/write?client=0&seq=0")
    client.close()

    assert (status, headers.get_content_type()) == (400, "application/json")
    assert body == {
        "error": "missing_constitution_state",
        "message": "constitution-state header is required (a constitution-state such as 'connecticut')",
    }
    assert set(mongo_client.list_database_names()) == before
    assert [after for _, _, after in probe.wait(1)] == [None]


@pytest.mark.parametrize("value", ["admin", "New Jersey", "{u}-ohio", "{u}_Ohio", "config"])
def test_invalid_header_is_a_json_400_and_creates_no_database(served_app, mongo_client, unique, value):
    address, _, _ = served_app
    client = Client(address)
    before = set(mongo_client.list_database_names())

    status, body, _ = client.request(
        "POST", "/write?client=0&seq=0", {"Constitution-State": value.format(u=unique)}
    )
    client.close()

    assert status == 400
    assert body["error"] == "invalid_constitution_state"
    assert set(mongo_client.list_database_names()) == before


def test_exempt_paths_need_no_header_but_validate_one_sent(served_app, make_state):
    address, _, _ = served_app
    client = Client(address)
    ohio = make_state("ohio")

    assert client.request("GET", "/health")[1]["state"] is None
    assert client.request("GET", "/public/page")[1]["state"] is None
    assert client.request("GET", "/health", {"constitution-state": ohio})[1]["state"] == ohio
    assert client.request("GET", "/health", {"constitution-state": "admin"})[0] == 400
    assert client.request("GET", "/publicity")[0] == 400  # "/public/" is a prefix, not "/public"
    client.close()


def test_streamed_body_is_produced_and_closed_in_the_request_state(served_app, make_state):
    address, probe, inner = served_app
    client = Client(address)
    ohio = make_state("ohio")

    status, body, _ = client.request("GET", "/stream", {"constitution-state": ohio})
    client.close()

    assert (status, body) == (200, f"0:{ohio}\n1:{ohio}\n2:{ohio}\n".encode())
    assert probe.wait(1) == [("/stream", None, None)]  # recorded after the body was closed
    assert inner.closed_in == [ohio]


def test_state_is_gone_after_an_app_that_raised(served_app, make_state):
    address, probe, _ = served_app
    client = Client(address)

    assert client.request("GET", "/boom", {"constitution-state": make_state("ohio")})[0] == 500
    client.close()

    assert probe.wait(1) == [("/boom", None, None)]


def test_a_reused_worker_thread_never_sees_the_previous_request_state(mongo_client, make_state):
    app, _ = make_app()
    probe = StateProbe(app)
    ohio = make_state("ohio")
    with serve(probe, threaded=False) as address:  # one thread serves every request in turn
        client = Client(address)
        _, written, _ = client.request("POST", "/write?client=0&seq=0", {"constitution-state": ohio})
        boom_status = client.request("GET", "/boom", {"constitution-state": ohio})[0]
        _, after, _ = client.request("GET", "/health")
        client.close()

    assert (written["state"], boom_status) == (ohio, 500)
    assert after["thread"] == written["thread"]
    assert after["state"] is None
    assert [after for _, _, after in probe.wait(3)] == [None, None, None]


# --- in-process: restore semantics and configuration ---------------------------


def test_callers_state_is_untouched_also_when_the_app_raises():
    app, inner = make_app()
    with state_scope("outer"):
        status, _, body = call(app, "/stream", {"constitution-state": "inner"})
        assert (status, body) == ("200 OK", b"0:inner\n1:inner\n2:inner\n")
        assert get_state() == "outer"
        with pytest.raises(RuntimeError, match="app failed"):
            call(app, "/boom", {"constitution-state": "inner"})
        assert get_state() == "outer"
        # An exempt request without the header runs with no state, not the caller's.
        assert json.loads(call(app, "/health")[2])["state"] is None
    assert inner.closed_in == ["inner"]


def test_body_closed_early_is_closed_in_the_request_state():
    app, inner = make_app()
    environ: dict[str, Any] = {"PATH_INFO": "/stream", "HTTP_CONSTITUTION_STATE": "ohio"}
    setup_testing_defaults(environ)

    body = app(environ, lambda *args: None)
    first = next(iter(body))
    body.close()  # the client went away after one chunk

    assert first == b"0:ohio\n"
    assert inner.closed_in == ["ohio"]
    assert get_state() is None


def test_header_name_is_configurable():
    app, _ = make_app(header="X-Tenant-State")

    assert json.loads(call(app, "/private", {"X-Tenant-State": "utah"})[2])["state"] == "utah"
    status, headers, body = call(app, "/private", {"constitution-state": "utah"})
    assert (status, headers["Content-Type"]) == ("400 Bad Request", "application/json")
    assert json.loads(body)["message"].startswith("X-Tenant-State header is required")
    assert headers["Content-Length"] == str(len(body))


def test_options_preflight_needs_no_header():
    app, _ = make_app()
    assert call(app, "/private", method="OPTIONS")[0] == "200 OK"
    assert call(app, "/private")[0] == "400 Bad Request"


def test_header_names_servers_would_drop_are_refused():
    with pytest.raises(ValueError, match="underscores"):
        StateMiddleware(InnerApp(), header="constitution_state")
