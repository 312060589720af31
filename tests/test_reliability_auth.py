"""Auth hardening: constant-time token checks, and error responses that give nothing away.

The bypass token is compared with ``hmac.compare_digest``: checked in the
source (no ``==``/``!=``/``in`` on a token anywhere in ``authenticate``) and
by behaviour (every bearer token goes through it). Then many error paths
(400, 401, 403, 404, 500 from exceptions whose messages hold the file path and
the caller's token, a route file that fails to import, a bad setting) are
requested with a valid token: no response body or header contains a
traceback, a file path, a token or the database address.

Tokens bound to states (issue 11 §2): a matrix of tokens and users carrying
``states`` (one state, two, both sides narrowing, none, unbound, bypass) is sent
against every state, through ``api_handler`` (REST and HTTP API) and the WSGI
middleware with ``authorize_bearer_token``; each request writes a note naming its
token, so a write that landed outside its binding would be found, and two
"sealed" states no token may use must never get a database. Stored fields that
are not what they claim (``user_id`` an operator, ``is_active`` a string,
``states`` a string or an operator) never log in (issue 11 §3).
"""

from __future__ import annotations

import ast
import datetime as dt
import hmac
import inspect
import io
import json
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from wsgiref.util import setup_testing_defaults

import pytest
from bson import ObjectId

from aws_helper_sync import Repository, get_state
from aws_helper_sync.api import auth
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.integrations.authorization import authorize_bearer_token
from aws_helper_sync.integrations.wsgi import StateMiddleware
from tests.api_events import v1_event, v2_event
from tests.reliability_support import RELIABILITY_APP, report, use_reliability_app

BYPASS = "bypass-7f3c9e1a5b2d4c6e8f0a1b3c5d7e9f10"
USER_TOKEN = "user-token-0d9c8b7a6f5e4d3c2b1a"  # a test credential
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


@pytest.fixture
def auth_on(reliability_app, mongo_client, monkeypatch, unique):
    """REQUIRE_AUTH with a bypass token, and one active user token in a test auth database."""
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    monkeypatch.setenv("AUTH_BYPASS_TOKEN", BYPASS)
    monkeypatch.setenv("AUTH_DB_NAME", f"{unique}_core")
    database = mongo_client[f"{unique}_core"]
    user_id = database.users.insert_one({"username": "clerk", "is_active": True, "password": "pw"}).inserted_id
    database.users.insert_one({"_id": "retired", "username": "old", "is_active": False})
    database.tokens.insert_many([
        {"token": USER_TOKEN, "user_id": user_id, "is_active": True},
        {"token": "expired-token", "user_id": user_id, "is_active": True,
         "expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)},
        {"token": "retired-token", "user_id": "retired", "is_active": True},
    ])
    return database


# --- constant-time comparison ---------------------------------------------------

def token_names(node: ast.AST) -> set[str]:
    """Names in ``node`` that hold a token (``token``, ``bypass``, ``token_doc``...)."""
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and ("token" in n.id or n.id == "bypass")}


def test_authenticate_compares_tokens_only_with_hmac_compare_digest():
    tree = ast.parse(textwrap.dedent(inspect.getsource(auth.authenticate)))
    digest_calls = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == "compare_digest" and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "hmac"
    ]
    plain_comparisons = [
        ast.unparse(node) for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and not all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)  # "is None" checks are fine
        and token_names(node)
    ]

    assert any({"token", "bypass"} <= token_names(call) for call in digest_calls), "bypass not compared by digest"
    assert plain_comparisons == []


def test_every_bearer_token_goes_through_compare_digest(auth_on, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    near_misses = [BYPASS[:-1] + "X", "X" + BYPASS[1:], BYPASS[:-1], BYPASS + "X", "x" * len(BYPASS)]
    statuses = {}
    for token in [BYPASS, *near_misses]:
        compared.clear()
        response = api_handler(v1_event("GET", "/echo", headers={
            "Authorization": f"Bearer {token}", "Constitution-State": "ohio"}))
        statuses[token] = response["statusCode"]
        assert (token.encode(), BYPASS.encode()) in compared, token

    report("auth", "bypass token compared with hmac.compare_digest",
           tokens_tried=len(statuses), accepted=sum(1 for s in statuses.values() if s == 200),
           near_misses_refused=sum(1 for t in near_misses if statuses[t] == 401))
    assert statuses[BYPASS] == 200
    assert all(statuses[t] == 401 for t in near_misses)


# --- nothing leaks ---------------------------------------------------------------

def error_requests() -> list[tuple[str, str, str, dict, str | None, int]]:
    """(label, method, path, extra headers, body, expected status), all carrying a valid token."""
    leaky = [("runtime", 500), ("key", 500), ("os", 500), ("http500", 500), ("bad-code", 500),
             ("unserializable", 500), ("recursion", 500), ("assertion", 500), ("mongo", 500), ("forbidden", 403)]
    return [
        *[(f"endpoint raises ({kind})", "GET", f"/leaky/{kind}", {}, None, status) for kind, status in leaky],
        ("route file fails to import", "GET", "/importfail", {}, None, 500),
        ("route file without an API class", "GET", "/noclass", {}, None, 500),
        ("async endpoint", "GET", "/asynchook", {}, None, 500),
        ("no route", "GET", "/no/such/route/here", {}, None, 404),
        ("path escaping api/", "GET", "/../../etc/passwd", {}, None, 404),
        ("body not JSON", "POST", "/echo", {}, "{not json", 400),
        ("body not an object", "POST", "/echo", {}, "[1, 2]", 400),
        ("validate() refuses", "POST", "/echo", {}, json.dumps({"items": "x"}), 400),
        ("missing state header", "GET", "/echo", {"Constitution-State": ""}, None, 400),
        ("invalid state header", "GET", "/echo", {"Constitution-State": "../admin"}, None, 400),
        ("unknown token", "GET", "/echo", {"Authorization": "Bearer not-a-token"}, None, 401),
        ("expired token", "GET", "/echo", {"Authorization": "Bearer expired-token"}, None, 401),
        ("inactive user", "GET", "/echo", {"Authorization": "Bearer retired-token"}, None, 401),
        ("wrong scheme", "GET", "/echo", {"Authorization": f"Basic {BYPASS}"}, None, 401),
        ("no Authorization header", "GET", "/echo", {"Authorization": ""}, None, 401),
    ]


def leaks(response: dict, secrets: list[str]) -> list[str]:
    text = response["body"] + "\n" + json.dumps(response["headers"])
    markers = ["Traceback", 'File "', ".py", str(REPO_ROOT), str(RELIABILITY_APP), "site-packages",
               "/nonexistent", "$bogusOperator", *secrets]
    return [marker for marker in markers if marker in text]


@pytest.mark.parametrize("token", [BYPASS, USER_TOKEN], ids=["bypass token", "user token"])
@pytest.mark.parametrize("build", [v1_event, v2_event], ids=["v1", "v2"])
def test_no_error_response_contains_a_traceback_a_path_or_a_token(auth_on, mongo_uri, make_state, token, build):
    mongo_address = urlparse(mongo_uri).netloc
    secrets = [BYPASS, USER_TOKEN, mongo_address, "expired-token", "retired-token", "not-a-token"]
    outcomes = {}
    for label, method, path, extra, body, expected in error_requests():
        headers = {"Authorization": f"Bearer {token}", "Constitution-State": make_state("ohio"), **extra}
        headers = {name: value for name, value in headers.items() if value != ""}
        response = api_handler(build(method, path, headers=headers, body=body))
        outcomes[label] = response["statusCode"]
        assert response["statusCode"] == expected, (label, response)
        assert leaks(response, secrets) == [], (label, response)
        if expected == 500:
            assert json.loads(response["body"])["message"] == "Internal server error"

    report("auth", f"error paths with the {'bypass' if token == BYPASS else 'user'} token ({build.__name__})",
           error_paths=len(outcomes), statuses=dict(sorted(Counter(outcomes.values()).items())),
           responses_leaking=0)


def test_a_bad_auth_setting_is_a_generic_500(reliability_app, monkeypatch):
    monkeypatch.setenv("REQUIRE_AUTH", f"maybe-{BYPASS}")
    response = api_handler(v1_event("GET", "/echo", headers={
        "Authorization": f"Bearer {BYPASS}", "Constitution-State": "ohio"}))

    assert response["statusCode"] == 500
    assert leaks(response, [BYPASS, "REQUIRE_AUTH", "maybe"]) == []


# --- tokens bound to states (issue 11 §2) -----------------------------------------

STATE_NAMES = ("ohio", "texas", "utah", "maine", "sealed_a", "sealed_b")  # sealed: only refused requests


def binding_matrix(state: dict[str, str]) -> tuple[list[dict], list[dict], dict[str, set[str] | None]]:
    """(users, tokens, oracle): the oracle says which states each token may use, by the rule of
    SPEC §5 written independently of the library (None: every state)."""
    o, t, u, m = (state[n] for n in ("ohio", "texas", "utah", "maine"))
    users = [
        {"_id": "free", "is_active": True},
        {"_id": "ohio-texas", "is_active": True, "states": [o, t]},
        {"_id": "maine", "is_active": True, "states": [m]},
        {"_id": "nothing", "is_active": True, "states": []},
    ]
    bound = {  # token -> (user, token states or None)
        "free": ("free", None),
        "tok-ohio": ("free", [o]),
        "tok-texas-utah": ("free", [t, u]),
        "tok-all-four": ("free", [o, t, u, m]),
        "tok-empty": ("free", []),
        "user-ohio-texas": ("ohio-texas", None),
        "narrowed-to-texas": ("ohio-texas", [t, u]),      # intersection: texas
        "disjoint": ("maine", [o, t]),                    # intersection: nothing
        "user-maine": ("maine", None),
        "user-nothing": ("nothing", [o, t, u, m]),
        "wildcard-text": ("free", ["*"]),                  # not a pattern: no state is "*"
        "case-variant": ("free", [o.upper()]),             # never matches a valid state
    }
    user_states = {user["_id"]: user.get("states") for user in users}
    tokens, oracle = [], {}
    for name, (user_id, token_states) in bound.items():
        tokens.append({"token": name, "user_id": user_id, "is_active": True,
                       **({} if token_states is None else {"states": token_states})})
        sides = [set(side) for side in (token_states, user_states[user_id]) if side is not None]
        oracle[name] = set.intersection(*sides) if sides else None
    oracle[BYPASS] = None
    return users, tokens, oracle


class BoundNotes(Repository):
    collection_name = "bound_notes"


def write_note(environ: dict, start_response: Any) -> list[bytes]:
    """The WSGI app behind the middleware: one note in the state's database, like POST /notes."""
    note = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    BoundNotes().collection.insert_one({**note, "written_in_state": get_state()})
    start_response("201 Created", [("Content-Type", "application/json")])
    return [b"{}"]


def wsgi_post(app: Any, headers: dict[str, str], note: dict) -> int:
    body = json.dumps(note).encode()
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "PATH_INFO": "/notes", "CONTENT_LENGTH": str(len(body))}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[str] = []
    b"".join(app(environ, lambda status, _headers, exc_info=None: started.append(status)))
    return int(started[0].split()[0])


def test_tokens_bound_to_states_never_reach_another_state(auth_on, mongo_client, unique):
    state = {name: f"{unique}_{name}" for name in STATE_NAMES}
    users, tokens, oracle = binding_matrix(state)
    auth_on.users.insert_many(users)
    auth_on.tokens.insert_many(tokens)
    middleware = StateMiddleware(write_note, authorize=authorize_bearer_token)
    before = set(mongo_client.list_database_names())

    outcomes: Counter[str] = Counter()
    wrong = []
    doors = {
        "v1": lambda headers, note: api_handler(v1_event("POST", "/notes", headers=headers, body=note))["statusCode"],
        "v2": lambda headers, note: api_handler(v2_event("POST", "/notes", headers=headers, body=note))["statusCode"],
        "wsgi": lambda headers, note: wsgi_post(middleware, headers, note),
    }
    for token, allowed in oracle.items():
        for name, value in state.items():
            if allowed is None and name.startswith("sealed"):
                continue  # an unbound token may use them; they stay for the bound ones, who may not
            may = allowed is None or value in allowed
            for door, send in doors.items():
                note = {"text": f"{token}|{door}", "intended_state": value}
                status = send({"Authorization": f"Bearer {token}", "Constitution-State": value}, note)
                outcomes[str(status)] += 1
                if status != (201 if may else 403):
                    wrong.append((token, name, door, status))

    writes = {value: list(mongo_client[value].notes.find()) + list(mongo_client[value].bound_notes.find())
              for value in state.values()}
    outside = [(value, doc["text"]) for value, docs in writes.items() for doc in docs
               if not (oracle[doc["text"].split("|")[0]] is None or value in oracle[doc["text"].split("|")[0]])
               or doc["written_in_state"] != value]
    sealed_created = {state["sealed_a"], state["sealed_b"]} & (set(mongo_client.list_database_names()) - before)
    report("state-injection",  # issue 11: token binding belongs with the other state-injection figures
           "tokens bound to states (REST, HTTP API, WSGI authorize_bearer_token; in tests/test_reliability_auth.py)",
           tokens=len(oracle), states=len(state), doors=len(doors),
           requests=sum(outcomes.values()), allowed_201=outcomes["201"], refused_403=outcomes["403"],
           other_statuses=sum(n for code, n in outcomes.items() if code not in ("201", "403")),
           writes_outside_binding=len(outside), databases_for_sealed_states=len(sealed_created))

    assert wrong == []
    assert outside == []
    assert sealed_created == set()
    assert sum(len(docs) for docs in writes.values()) == outcomes["201"]


def hostile_documents(first_user: ObjectId) -> tuple[list[dict], list[dict]]:
    """(users, tokens): every token here must be refused, each for one stored field."""
    users = [{"_id": f"u-active-{i}", "is_active": value}
             for i, value in enumerate(["false", "true", 1, [True], "yes", {"$ne": False}, 0, None])]
    users += [{"_id": f"u-states-{i}", "is_active": True, "states": value}
              for i, value in enumerate(["ohio", None, {"$in": ["ohio"]}, [1], [["ohio"]], {"ohio": True}, True])]
    tokens = [{"token": f"op-user-{i}", "user_id": value, "is_active": True}
              for i, value in enumerate([{"$ne": None}, {"$gt": ""}, {"$exists": True}, {"$regex": ".*"},
                                         {"$in": [first_user]}, [first_user], True, False, 1.0, {"$oid": str(first_user)}])]
    tokens += [{"token": f"inactive-token-{i}", "user_id": first_user, "is_active": value}
               for i, value in enumerate([[True], "true", 1, {"$ne": False}, "1"])]
    tokens += [{"token": f"inactive-user-{user['_id']}", "user_id": user["_id"], "is_active": True}
               for user in users if user["_id"].startswith("u-active")]
    tokens += [{"token": f"bad-user-states-{user['_id']}", "user_id": user["_id"], "is_active": True}
               for user in users if user["_id"].startswith("u-states")]
    tokens += [{"token": f"bad-token-states-{i}", "user_id": first_user, "is_active": True, "states": value}
               for i, value in enumerate(["ohio", None, {"$in": ["ohio"]}, [1], [None], {"ohio": True}, "", 0])]
    return users, tokens


def test_stored_fields_that_are_not_what_they_claim_never_log_in(auth_on, make_state):
    first_user = auth_on.users.find_one({"username": "clerk"})["_id"]
    users, tokens = hostile_documents(first_user)
    auth_on.users.insert_many(users)
    auth_on.tokens.insert_many(tokens)
    ohio = make_state("ohio")

    statuses = {}
    for token in tokens:
        response = api_handler(v1_event("POST", "/notes", headers={
            "Authorization": f"Bearer {token['token']}", "Constitution-State": ohio},
            body={"text": token["token"]}))
        statuses[token["token"]] = response["statusCode"]

    report("auth", "stored auth fields taken strictly (operator user_id, non-boolean is_active, malformed states)",
           hostile_token_documents=len(tokens), logged_in=sum(1 for s in statuses.values() if s < 400),
           refused_401=sum(1 for s in statuses.values() if s == 401))
    assert {token: status for token, status in statuses.items() if status != 401} == {}
