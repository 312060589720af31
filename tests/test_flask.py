"""Flask extension (SPEC §11): the state header per request, under a real threaded server."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest
from flask import Flask, copy_current_request_context, g, request, stream_with_context

from aws_helper_sync import (
    Repository,
    get_state,
    set_allowed_states,
    set_state,
    state_scope,
)
from aws_helper_sync.api.exceptions import ForbiddenError, UnauthorizedError
from aws_helper_sync.integrations.authorization import (
    AUTH_ENVIRON_KEY,
    authorize_bearer_token,
)
from aws_helper_sync.integrations.flask import EXEMPT_CONFIG_KEY, StateRouting
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
    collection_name = "flask_visits"
    indexes: ClassVar[list[dict[str, Any]]] = [{"key": [("client", 1), ("seq", 1)]}]


VISITS = Visits()  # one instance shared by every server thread, as in a real service


def create_app(**routing_options) -> tuple[Flask, StateRouting]:
    app = Flask(__name__)
    routing = StateRouting(app, **routing_options)

    @app.post("/write")
    def write():
        VISITS.collection.insert_one({
            "header": request.headers.get(routing.header),
            "state": get_state(),
            "client": int(request.args["client"]),
            "seq": int(request.args["seq"]),
        })
        return {"state": get_state(), "thread": threading.current_thread().name}

    @app.get("/whoami")
    def whoami():
        return {"state": get_state(), "thread": threading.current_thread().name}

    @app.get("/health")
    @routing.exempt
    def health():
        return {"state": get_state(), "thread": threading.current_thread().name}

    @app.get("/boom")
    def boom():
        assert get_state() is not None
        raise RuntimeError("view failed")

    return app, routing


@pytest.fixture
def served_app():
    """The app behind StateProbe under a real threaded werkzeug server."""
    app, _ = create_app()
    probe = StateProbe(app.wsgi_app)
    app.wsgi_app = probe
    with serve(app) as address:
        yield address, probe


# --- under a real threaded server ---------------------------------------------


def test_concurrent_mixed_states_write_only_to_their_own_database(served_app, mongo_client, make_state):
    address, probe = served_app
    states = [make_state(name) for name in ("connecticut", "ohio", "texas", "new_jersey")]

    sent = run_load(address, states, threads=8, requests_per_thread=50)

    assert sum(sent.values()) == 400
    assert_each_state_kept_its_writes(mongo_client, Visits.collection_name, sent, probe)


def test_missing_header_is_a_json_400(served_app, mongo_client):
    address, probe = served_app
    client = Client(address)
    before = set(mongo_client.list_database_names())

    status, body, headers = client.request("POST", "/write?client=0&seq=0")

    assert status == 400
    assert headers.get_content_type() == "application/json"
    assert body == {
        "error": "missing_constitution_state",
        "message": "constitution-state header is required (a constitution-state such as 'connecticut')",
    }
    assert set(mongo_client.list_database_names()) == before
    assert [after for _, _, after in probe.wait(1)] == [None]
    client.close()


@pytest.mark.parametrize("value", ["admin", "New Jersey", "{u}-ohio", "{u}_Ohio", "local", "a" * 64])
def test_invalid_header_is_a_json_400_and_creates_no_database(served_app, mongo_client, unique, value):
    address, probe = served_app
    client = Client(address)
    before = set(mongo_client.list_database_names())

    status, body, _ = client.request(
        "POST", "/write?client=0&seq=0", {"constitution-state": value.format(u=unique)}
    )

    assert status == 400
    assert body["error"] == "invalid_constitution_state"
    assert body["message"].startswith("constitution-state header: ")
    assert set(mongo_client.list_database_names()) == before
    assert [after for _, _, after in probe.wait(1)] == [None]
    client.close()


def test_exempt_endpoint_needs_no_header_but_validates_one_sent(served_app, make_state):
    address, _ = served_app
    client = Client(address)
    ohio = make_state("ohio")

    assert client.request("GET", "/health")[:2][1]["state"] is None
    status, body, _ = client.request("GET", "/health", {"constitution-state": ohio})
    assert (status, body["state"]) == (200, ohio)
    assert client.request("GET", "/health", {"constitution-state": "admin"})[0] == 400
    client.close()


def test_state_is_gone_after_a_request_and_after_a_view_that_raised(served_app, mongo_client, make_state):
    address, probe = served_app
    client = Client(address)
    ohio = make_state("ohio")

    assert client.request("POST", "/write?client=0&seq=0", {"constitution-state": ohio})[0] == 200
    assert client.request("GET", "/boom", {"constitution-state": ohio})[0] == 500
    client.close()

    # The probe ran in each request's own server thread, after Flask's teardown.
    assert probe.wait(2) == [("/write", None, None), ("/boom", None, None)]


def test_a_reused_worker_thread_never_sees_the_previous_request_state(mongo_client, make_state):
    app, _ = create_app()
    probe = StateProbe(app.wsgi_app)
    app.wsgi_app = probe
    ohio = make_state("ohio")
    with serve(app, threaded=False) as address:  # one thread serves every request in turn
        client = Client(address)
        _, written, _ = client.request("POST", "/write?client=0&seq=0", {"constitution-state": ohio})
        boom_status = client.request("GET", "/boom", {"constitution-state": ohio})[0]
        _, after, _ = client.request("GET", "/health")
        client.close()

    assert (written["state"], boom_status) == (ohio, 500)
    assert after["thread"] == written["thread"]
    assert after["state"] is None
    assert [after for _, _, after in probe.wait(3)] == [None, None, None]


def test_unknown_url_keeps_its_404(served_app):
    address, _ = served_app
    client = Client(address)
    assert client.request("GET", "/no-such-page")[0] == 404
    assert client.request("DELETE", "/whoami", {"constitution-state": "ohio"})[0] == 405
    client.close()


# --- in-process (test client): restore semantics and configuration ----------


def test_previous_state_is_restored_after_the_request_also_when_the_view_raises():
    app, _ = create_app()
    app.testing = True  # exceptions propagate to the caller
    client = app.test_client()

    with state_scope("outer"):
        assert client.get("/whoami", headers={"constitution-state": "inner"}).json["state"] == "inner"
        assert get_state() == "outer"
        with pytest.raises(RuntimeError, match="view failed"):
            client.get("/boom", headers={"constitution-state": "inner"})
        assert get_state() == "outer"
        # An exempt request without the header runs with no state, not the thread's.
        assert client.get("/health").json["state"] is None
        assert get_state() == "outer"


def test_header_name_is_configurable_and_case_insensitive():
    app, _ = create_app(header="X-Tenant-State")
    client = app.test_client()

    assert client.get("/whoami", headers={"x-tenant-state": "ohio"}).json["state"] == "ohio"
    assert client.get("/whoami", headers={"X-TENANT-STATE": "utah"}).json["state"] == "utah"
    response = client.get("/whoami", headers={"constitution-state": "ohio"})
    assert response.status_code == 400
    assert response.json["message"].startswith("X-Tenant-State header is required")


def test_header_names_servers_would_drop_are_refused():
    with pytest.raises(ValueError, match="underscores"):
        StateRouting(header="constitution_state")


def test_exemptions_by_argument_config_and_endpoint_name():
    app, routing = create_app(exempt=["whoami"])
    client = app.test_client()

    @app.get("/ping")
    def ping():
        return {"state": get_state()}

    @app.get("/version")
    def version():
        return {"state": get_state()}

    @app.get("/private")
    def private():
        return {"state": get_state()}

    app.config[EXEMPT_CONFIG_KEY] = ["ping"]
    routing.exempt("version")

    for path in ("/whoami", "/ping", "/version", "/health"):
        assert client.get(path).status_code == 200, path
    assert client.get("/private").status_code == 400
    app.config[EXEMPT_CONFIG_KEY] = "pingpong"  # a single name, never matched as a substring
    assert client.get("/ping").status_code == 400
    assert client.options("/private").status_code == 200  # CORS preflight carries no custom header


def test_allow_list_applies_to_the_header():
    app, _ = create_app()
    client = app.test_client()
    set_allowed_states({"ohio"})

    assert client.get("/whoami", headers={"constitution-state": "ohio"}).status_code == 200
    response = client.get("/whoami", headers={"constitution-state": "utah"})
    assert (response.status_code, response.json["error"]) == (403, "unknown_constitution_state")


def test_users_own_hooks_run_inside_the_request_state():
    app = Flask(__name__)
    seen = []

    @app.before_request
    def load_tenant():  # registered before the extension, still sees the state
        g.tenant = get_state()

    @app.teardown_request
    def audit(_error):
        seen.append(get_state())

    @app.get("/tenant")
    def tenant():
        return {"tenant": g.tenant}

    StateRouting().init_app(app)
    response = app.test_client().get("/tenant", headers={"constitution-state": "ohio"})

    assert response.json == {"tenant": "ohio"}
    assert seen == ["ohio"]
    assert get_state() is None


# --- copy_current_request_context (issue 11 §8) ----------------------------------


def add_copying_views(app: Flask, pool: ThreadPoolExecutor) -> None:
    """Views that run work in a copied request context, in this thread or on ``pool``."""

    def record(where: str) -> dict[str, Any]:
        VISITS.collection.insert_one({
            "header": request.headers.get("constitution-state"),
            "state": get_state(),
            "client": int(request.args["client"]),
            "seq": int(request.args["seq"]),
            "where": where,
        })
        return {"state": get_state(), "thread": threading.current_thread().name}

    @app.post("/copied/same-thread")
    def copied_same_thread():
        work = copy_current_request_context(get_state)
        before = get_state()
        inside = work()
        # The copy's teardown ran: the view still has its state, and writes in its database.
        after = record("view")["state"]
        return {"state": inside, "before": before, "after": after}

    @app.post("/copied/pool")
    def copied_pool():
        work = copy_current_request_context(lambda: record("copy"))
        inside = pool.submit(work).result()
        return {"state": inside["state"], "after": get_state(), "worker": inside["thread"],
                "server": threading.current_thread().name}


@pytest.fixture
def copying_app():
    """The copying views behind StateProbe under a real threaded server; a shared 2-thread pool."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="view-pool")
    app, _ = create_app()
    add_copying_views(app, pool)
    probe = StateProbe(app.wsgi_app)
    app.wsgi_app = probe
    with serve(app) as address:
        yield address, probe, pool
    pool.shutdown(wait=True)


@pytest.mark.parametrize("path", ["/copied/same-thread", "/copied/pool"])
def test_copied_request_contexts_see_the_state_and_never_reset_the_requests(
    copying_app, mongo_client, make_state, path
):
    address, probe, pool = copying_app
    states = [make_state(name) for name in ("connecticut", "ohio", "texas")]

    sent = run_load(address, states, threads=6, requests_per_thread=10, path=path)

    # Each copy wrote in its request's database (run_load checked it saw that state), and every
    # server thread ended its request with no state: run the same check as the plain views.
    assert_each_state_kept_its_writes(mongo_client, Visits.collection_name, sent, probe)
    # The pool's reused worker threads did not keep the state of the last copy they ran.
    assert {pool.submit(get_state).result() for _ in range(8)} == {None}


def test_a_copy_in_the_same_thread_leaves_the_view_its_state(copying_app, make_state):
    address, _, _ = copying_app
    ohio = make_state("ohio")
    client = Client(address)
    status, body, _ = client.request("POST", "/copied/same-thread?client=0&seq=0", {"constitution-state": ohio})
    client.close()

    assert (status, body) == (200, {"state": ohio, "before": ohio, "after": ohio})


def test_a_copy_on_a_pool_thread_answers_200_and_leaves_no_state_behind(copying_app, make_state):
    address, probe, pool = copying_app
    ohio = make_state("ohio")
    client = Client(address)
    status, body, _ = client.request("POST", "/copied/pool?client=0&seq=0", {"constitution-state": ohio})
    client.close()

    assert status == 200, body
    assert (body["state"], body["after"]) == (ohio, ohio)
    assert body["worker"].startswith("view-pool") and body["worker"] != body["server"]
    assert probe.wait(1) == [("/copied/pool", None, None)]
    assert pool.submit(get_state).result() is None


def test_a_copy_run_after_the_request_ended_still_sees_its_state(make_state):
    """Fire and forget: the worker runs the copy once the response is out and the request torn down."""
    app, _ = create_app()
    ohio = make_state("ohio")
    go = threading.Event()
    seen: list[Any] = []
    pool = ThreadPoolExecutor(max_workers=1)

    @app.get("/later")
    def later():
        @copy_current_request_context
        def work():
            go.wait(10)
            seen.append((get_state(), request.headers.get("constitution-state")))

        seen.append(pool.submit(work))
        return {"state": get_state()}

    with state_scope("outer"):
        assert app.test_client().get("/later", headers={"constitution-state": ohio}).json == {"state": ohio}
        assert get_state() == "outer"
    go.set()
    seen[0].result(timeout=10)
    pool.shutdown(wait=True)

    assert seen[1:] == [(ohio, ohio)]


def test_copies_restore_what_each_thread_had_and_carry_the_state_of_copy_time():
    app, _ = create_app()
    app.testing = True
    teardown_states: list[Any] = []
    app.teardown_request(lambda _error: teardown_states.append(get_state()))
    pool = ThreadPoolExecutor(max_workers=1)
    pool.submit(set_state, "worker_had_this").result()  # a worker thread with its own value

    @app.get("/nested")
    def nested():
        first = copy_current_request_context(get_state)
        with state_scope("scoped"):
            in_scope = copy_current_request_context(get_state)  # the state current when copied

        @copy_current_request_context
        def copy_then_copy_again():
            return get_state(), pool.submit(copy_current_request_context(get_state)).result()

        results = {
            "same_thread": first(),
            "copied_in_scope": in_scope(),
            "pool": pool.submit(first).result(),
            "nested": list(copy_then_copy_again()),
            "worker_after": pool.submit(get_state).result(),
        }
        results["view_after"] = get_state()
        return results

    with state_scope("outer"):
        body = app.test_client().get("/nested", headers={"constitution-state": "ohio"}).json
        assert get_state() == "outer"
    pool.shutdown(wait=True)

    assert body == {"same_thread": "ohio", "copied_in_scope": "scoped", "pool": "ohio",
                    "nested": ["ohio", "ohio"], "worker_after": "worker_had_this", "view_after": "ohio"}
    # The teardown hooks of every copy (4) and of the request ran inside the state.
    assert teardown_states == ["ohio", "scoped", "ohio", "ohio", "ohio", "ohio"]


def test_many_threads_copying_contexts_at_once_each_keep_their_own_state():
    """A hammer on the per-class cache and the class change: 16 threads, 25 requests each, every
    request with copies in its thread and on a shared pool, all released together."""
    from aws_helper_sync.integrations import flask as extension

    app, _ = create_app()
    pool = ThreadPoolExecutor(max_workers=4)

    @app.get("/hammer")
    def hammer():
        here = copy_current_request_context(get_state)()
        there = pool.submit(copy_current_request_context(get_state)).result()
        return {"seen": [here, there, get_state()]}

    start = threading.Barrier(16)
    wrong: list[Any] = []

    def client_thread(number: int) -> None:
        client = app.test_client()
        start.wait()
        for i in range(25):
            state = f"s{number}_{i % 5}"
            seen = client.get("/hammer", headers={"constitution-state": state}).json["seen"]
            if seen != [state, state, state] or get_state() is not None:
                wrong.append((state, seen, get_state()))

    threads = [threading.Thread(target=client_thread, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    leftovers = {pool.submit(get_state).result() for _ in range(16)}
    pool.shutdown(wait=True)

    assert wrong == []
    assert leftovers == {None}
    assert len(extension._carrying_classes) == 1


def test_stream_with_context_still_streams_in_the_state_and_gives_it_back(make_state):
    app, _ = create_app()
    ohio = make_state("ohio")

    @app.get("/stream")
    def stream():
        def chunks():
            for i in range(3):
                yield f"{i}:{get_state()}\n"
        return app.response_class(stream_with_context(chunks()), mimetype="text/plain")

    probe = StateProbe(app.wsgi_app)
    app.wsgi_app = probe
    with serve(app) as address:
        client = Client(address)
        status, body, _ = client.request("GET", "/stream", {"constitution-state": ohio})
        client.close()

    assert (status, body) == (200, f"0:{ohio}\n1:{ohio}\n2:{ohio}\n".encode())
    assert probe.wait(1) == [("/stream", None, None)]


# --- authorize= (issue 11 §2) ---------------------------------------------------


class TokenStates:
    """authorize= as a service would write it: a header names the caller, who may use some states."""

    def __init__(self, grants: dict[str, set[str]]) -> None:
        self.grants = grants
        self.calls: list[tuple[str | None, str, Any]] = []

    def __call__(self, request, state):
        caller = request.headers.get("X-Caller")
        self.calls.append((caller, state, get_state()))
        if caller is None:
            raise UnauthorizedError("who are you?")
        if caller == "raises":
            raise ForbiddenError(f"{caller} may not touch {state}")
        if caller == "forgets":
            return None  # a check that never said yes
        if caller == "truthy":
            return ["not", "a", "bool"]
        return state in self.grants.get(caller, set())


def test_authorize_refuses_other_states_with_a_json_403_under_a_threaded_server(mongo_client, make_state):
    ohio, texas = make_state("ohio"), make_state("texas")
    authorize = TokenStates({"ann": {ohio}, "bob": {ohio, texas}})
    app, _ = create_app(authorize=authorize)
    probe = StateProbe(app.wsgi_app)
    app.wsgi_app = probe
    before = set(mongo_client.list_database_names())

    with serve(app) as address:
        client = Client(address)
        outcomes = {}
        for caller in ("ann", "bob", "raises", "forgets", "truthy", None):
            for state in (ohio, texas):
                headers = {"constitution-state": state, **({"X-Caller": caller} if caller else {})}
                status, body, response_headers = client.request("POST", "/write?client=0&seq=0", headers)
                outcomes[caller, state] = (status, body.get("error"))
                assert response_headers.get_content_type() == "application/json"
        status, body, _ = client.request("POST", "/write?client=0&seq=0",
                                         {"constitution-state": texas, "X-Caller": "raises"})
        client.close()

    forbidden, unauthorized = (403, "forbidden_constitution_state"), (401, "unauthorized")
    assert outcomes == {
        ("ann", ohio): (200, None), ("ann", texas): forbidden,
        ("bob", ohio): (200, None), ("bob", texas): (200, None),
        ("raises", ohio): forbidden, ("raises", texas): forbidden,
        ("forgets", ohio): forbidden, ("forgets", texas): forbidden,
        ("truthy", ohio): forbidden, ("truthy", texas): forbidden,
        (None, ohio): unauthorized, (None, texas): unauthorized,
    }
    assert body["message"] == f"raises may not touch {texas}"
    # authorize ran before the state was set; refused requests wrote nothing, created nothing.
    assert {seen for _, _, seen in authorize.calls} == {None}
    assert mongo_client[ohio][Visits.collection_name].count_documents({}) == 2
    assert mongo_client[texas][Visits.collection_name].count_documents({}) == 1
    assert set(mongo_client.list_database_names()) - before == {ohio, texas}
    assert {(b, a) for _, b, a in probe.wait(13)} == {(None, None)}


def test_stored_tokens_are_bound_to_their_states_under_a_threaded_server(
    mongo_client, make_state, monkeypatch
):
    auth_db = make_state("core")
    monkeypatch.setenv("AUTH_DB_NAME", auth_db)
    monkeypatch.setenv("AUTH_BYPASS_TOKEN", BYPASS_TOKEN)
    states = {"ohio": make_state("ohio"), "texas": make_state("texas")}
    store_bound_tokens(mongo_client[auth_db], states["ohio"], states["texas"])
    app, _ = create_app(authorize=authorize_bearer_token)

    @app.get("/auth")
    def auth():
        result = request.environ[AUTH_ENVIRON_KEY]
        return {"state": get_state(), "user": result.user["username"],
                "allowed_states": result.data["allowed_states"]}

    probe = StateProbe(app.wsgi_app)
    app.wsgi_app = probe
    before = set(mongo_client.list_database_names())
    outcomes = {}
    with serve(app) as address:
        client = Client(address)
        for seq, (token, name) in enumerate(BOUND_TOKEN_OUTCOMES):
            headers = {"constitution-state": states[name], "Authorization": f"Bearer {token}"}
            status, body, _ = client.request("POST", f"/write?client=0&seq={seq}", headers)
            outcomes[token, name] = status
            if status != 200:
                assert set(body) == {"error", "message"}
        _, who, _ = client.request("GET", "/auth", {"constitution-state": states["texas"],
                                                     "Authorization": "Bearer tok-both"})
        client.close()

    assert outcomes == BOUND_TOKEN_OUTCOMES
    assert who == {"state": states["texas"], "user": "both", "allowed_states": sorted(states.values())}
    for name, state in states.items():
        allowed = sum(1 for (_, n), status in BOUND_TOKEN_OUTCOMES.items() if n == name and status == 200)
        assert mongo_client[state][Visits.collection_name].count_documents({"state": state}) == allowed
    assert set(mongo_client.list_database_names()) - before == set(states.values())
    assert {(b, a) for _, b, a in probe.wait(len(BOUND_TOKEN_OUTCOMES) + 1)} == {(None, None)}


def test_with_mongodb_down_a_stored_token_is_a_json_503_and_the_view_never_runs(
    mongo_client, make_state, monkeypatch, mongo_unreachable
):
    auth_db, ohio = make_state("core"), make_state("ohio")
    monkeypatch.setenv("AUTH_DB_NAME", auth_db)
    monkeypatch.setenv("AUTH_BYPASS_TOKEN", BYPASS_TOKEN)
    app, _ = create_app(authorize=authorize_bearer_token)
    client = app.test_client()

    response = client.get("/whoami", headers={"constitution-state": ohio, "Authorization": "Bearer tok-both"})

    assert response.status_code == 503 and response.mimetype == "application/json"
    assert response.get_json() == {"error": "database_unavailable", "message": "Database unavailable"}
    assert get_state() is None
    bypass = client.get("/whoami", headers={"constitution-state": ohio, "Authorization": f"Bearer {BYPASS_TOKEN}"})
    assert (bypass.status_code, bypass.get_json()["state"]) == (200, ohio)  # no database needed: served


def test_authorize_is_not_asked_without_a_state_and_errors_propagate():
    calls = []

    def authorize(request, state):
        calls.append(state)
        if state == "broken":
            raise RuntimeError("the check itself failed")
        return True

    app, _ = create_app(authorize=authorize)
    client = app.test_client()

    assert client.get("/health").status_code == 200           # exempt, no state: nothing to authorize
    assert client.get("/health", headers={"constitution-state": "ohio"}).status_code == 200
    assert client.get("/whoami", headers={"constitution-state": "Ohio"}).status_code == 400  # invalid first
    assert client.get("/whoami", headers={"constitution-state": "broken"}).status_code == 500
    assert calls == ["ohio", "broken"]
    with pytest.raises(TypeError, match="authorize must be a callable"):
        StateRouting(authorize="yes")


# --- Flask stays optional ------------------------------------------------------


def test_nothing_outside_the_flask_module_imports_flask():
    code = (
        "import importlib, pkgutil, sys, aws_helper_sync\n"
        "for m in pkgutil.walk_packages(aws_helper_sync.__path__, 'aws_helper_sync.'):\n"
        "    if m.name != 'aws_helper_sync.integrations.flask':\n"
        "        importlib.import_module(m.name)\n"
        "print('flask' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_flask_the_error_names_the_extra():
    code = (
        "import sys; sys.modules['flask'] = None\n"
        "try:\n"
        "    import aws_helper_sync.integrations.flask\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'aws-helper-sync[flask]'" in out.stdout
