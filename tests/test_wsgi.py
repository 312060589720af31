"""WSGI middleware (SPEC §11): the state header per request for any WSGI app."""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar
from urllib.parse import parse_qs
from wsgiref.util import setup_testing_defaults

import pytest

from aws_helper_sync import Repository, get_state, state_scope
from aws_helper_sync.api.exceptions import ForbiddenError, HTTPError, UnauthorizedError
from aws_helper_sync.database import MongoManager
from aws_helper_sync.integrations.authorization import (
    AUTH_ENVIRON_KEY,
    authorize_bearer_token,
)
from aws_helper_sync.integrations.wsgi import StateMiddleware
from tests.threaded_wsgi import (
    BOUND_TOKEN_OUTCOMES,
    BYPASS_TOKEN,
    Client,
    StateProbe,
    assert_each_state_kept_its_writes,
    run_load,
    serve,
    store_bound_tokens,
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
        if path == "/auth":  # what authorize_bearer_token left for the app
            auth = environ[AUTH_ENVIRON_KEY]
            return _json(start_response, {**me, "user": auth.user["username"],
                                          "allowed_states": auth.data["allowed_states"]})
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


# --- authorize= (issue 11 §2) -----------------------------------------------------


@pytest.fixture
def token_auth(mongo_client, make_state, monkeypatch):
    """SecantusDB-stored tokens and users bound to states; returns {"ohio": ..., "texas": ...}."""
    name = make_state("core")
    monkeypatch.setenv("AUTH_DB_NAME", name)
    monkeypatch.setenv("AUTH_BYPASS_TOKEN", BYPASS_TOKEN)
    states = {"ohio": make_state("ohio"), "texas": make_state("texas")}
    store_bound_tokens(mongo_client[name], states["ohio"], states["texas"])
    return states


def test_stored_tokens_are_bound_to_their_states_under_a_threaded_server(token_auth, mongo_client):
    app, _ = make_app(authorize=authorize_bearer_token)
    probe = StateProbe(app)
    before = set(mongo_client.list_database_names())

    outcomes = {}
    with serve(probe) as address:
        client = Client(address)
        for seq, (token, name) in enumerate(BOUND_TOKEN_OUTCOMES):
            headers = {"constitution-state": token_auth[name], "Authorization": f"Bearer {token}"}
            status, body, response_headers = client.request("POST", f"/write?client=0&seq={seq}", headers)
            outcomes[token, name] = status
            assert response_headers.get_content_type() == "application/json"
            if status == 403:
                assert body == {"error": "forbidden_constitution_state",
                                "message": f"this token may not use constitution-state {token_auth[name]!r}"}
        client.close()

    assert outcomes == BOUND_TOKEN_OUTCOMES
    for name, state in token_auth.items():
        allowed = sum(1 for (_, n), status in BOUND_TOKEN_OUTCOMES.items() if n == name and status == 200)
        assert mongo_client[state][Visits.collection_name].count_documents({"state": state}) == allowed
    assert set(mongo_client.list_database_names()) - before == set(token_auth.values())
    assert {(b, a) for _, b, a in probe.wait(len(BOUND_TOKEN_OUTCOMES))} == {(None, None)}


def test_the_app_gets_the_auth_result(token_auth):
    app, _ = make_app(authorize=authorize_bearer_token)
    status, _, body = call(app, "/auth", {"constitution-state": token_auth["ohio"],
                                          "Authorization": "Bearer tok-both"})
    assert status == "200 OK"
    assert json.loads(body) == {"state": token_auth["ohio"], "thread": threading.current_thread().name,
                                "user": "both", "allowed_states": sorted(token_auth.values())}
    status, _, body = call(app, "/auth", {"constitution-state": token_auth["ohio"]})
    assert (status, json.loads(body)) == ("401 Unauthorized",
                                          {"error": "unauthorized", "message": "Missing Authorization header"})


def test_with_mongodb_down_a_stored_token_is_a_json_503_and_the_app_never_runs(token_auth, mongo_unreachable):
    # api_handler answers 503 "Database unavailable" when the token lookup cannot reach MongoDB; the
    # middleware must too, not the server's 500, and must not let the request through.
    app, _ = make_app(authorize=authorize_bearer_token)
    ohio = token_auth["ohio"]

    status, headers, body = call(app, "/auth", {"constitution-state": ohio, "Authorization": "Bearer tok-both"})

    assert status == "503 Service Unavailable"
    assert headers["Content-Type"] == "application/json" and headers["Content-Length"] == str(len(body))
    assert json.loads(body) == {"error": "database_unavailable", "message": "Database unavailable"}
    assert get_state() is None
    # what needs no database still answers as before
    status, _, body = call(app, "/private", {"constitution-state": ohio, "Authorization": f"Bearer {BYPASS_TOKEN}"})
    assert (status, json.loads(body)["state"]) == ("200 OK", ohio)
    status, _, _ = call(app, "/private", {"constitution-state": ohio})
    assert status == "401 Unauthorized"


def test_an_authorize_of_its_own_meeting_mongodb_down_is_a_json_503(mongo_unreachable):
    def authorize(environ, state):
        return MongoManager.get_client()["auth"]["grants"].find_one({"state": state}) is not None

    app, _ = make_app(authorize=authorize)
    status, _, body = call(app, "/private", {"constitution-state": "ohio"})
    assert (status, json.loads(body)["error"]) == ("503 Service Unavailable", "database_unavailable")


class Verdict:
    """authorize= returning (or raising) what the X-Verdict header names; records what it saw."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    def __call__(self, environ, state):
        self.seen.append((state, get_state()))
        verdict = environ.get("HTTP_X_VERDICT")
        results = {"true": True, "false": False, "none": None, "one": 1, "list": [state], "text": "yes"}
        if verdict in results:
            return results[verdict]
        errors = {"forbidden": ForbiddenError("clerks only"), "unauthorized": UnauthorizedError("log in"),
                  "teapot": HTTPError("server side"), "crash": RuntimeError("the check failed")}
        raise errors[verdict]


@pytest.mark.parametrize(("verdict", "status", "body"), [
    ("true", "200 OK", None),
    ("false", "403 Forbidden", {"error": "forbidden_constitution_state",
                                "message": "not allowed to use constitution-state 'ohio'"}),
    ("none", "403 Forbidden", None),       # a check that forgot to return never allows
    ("one", "403 Forbidden", None),        # truthy is not True
    ("list", "403 Forbidden", None),
    ("text", "403 Forbidden", None),
    ("forbidden", "403 Forbidden", {"error": "forbidden_constitution_state", "message": "clerks only"}),
    ("unauthorized", "401 Unauthorized", {"error": "unauthorized", "message": "log in"}),
])
def test_authorize_allows_only_true(verdict, status, body):
    authorize = Verdict()
    app, _ = make_app(authorize=authorize)
    with state_scope("outer"):
        got_status, headers, got_body = call(app, "/private", {"constitution-state": "ohio", "X-Verdict": verdict})

    assert got_status == status
    if status == "200 OK":
        assert json.loads(got_body)["state"] == "ohio"
    else:
        assert headers["Content-Type"] == "application/json"
        assert headers["Content-Length"] == str(len(got_body))
    if body is not None:
        assert json.loads(got_body) == body
    assert authorize.seen == [("ohio", "outer")]  # before the state was set


@pytest.mark.parametrize("verdict", ["crash", "teapot"])
def test_a_failing_authorize_is_the_servers_error(verdict):
    app, _ = make_app(authorize=Verdict())
    with pytest.raises((RuntimeError, HTTPError)):
        call(app, "/private", {"constitution-state": "ohio", "X-Verdict": verdict})
    assert get_state() is None


def test_authorize_is_asked_only_for_requests_with_a_valid_state():
    authorize = Verdict()
    app, _ = make_app(authorize=authorize)

    assert call(app, "/health", {"X-Verdict": "false"})[0] == "200 OK"     # exempt, no state
    assert call(app, "/private", {"constitution-state": "Ohio", "X-Verdict": "true"})[0] == "400 Bad Request"
    assert call(app, "/private", {"X-Verdict": "true"})[0] == "400 Bad Request"
    assert call(app, "/health", {"constitution-state": "utah", "X-Verdict": "false"})[0] == "403 Forbidden"
    assert authorize.seen == [("utah", None)]
    with pytest.raises(TypeError, match="authorize must be a callable"):
        StateMiddleware(InnerApp(), authorize=True)
