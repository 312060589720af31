"""Flask extension (SPEC §11): the state header per request, under a real threaded server."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any, ClassVar

import pytest
from flask import Flask, g, request

from aws_helper_sync import Repository, get_state, set_allowed_states, state_scope
from aws_helper_sync.integrations.flask import EXEMPT_CONFIG_KEY, StateRouting
from tests.threaded_wsgi import (
    Client,
    StateProbe,
    assert_each_state_kept_its_writes,
    run_load,
    serve,
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
