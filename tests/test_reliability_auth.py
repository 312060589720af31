"""Auth hardening: constant-time token checks, and error responses that give nothing away.

The bypass token is compared with ``hmac.compare_digest``: checked in the
source (no ``==``/``!=``/``in`` on a token anywhere in ``authenticate``) and
by behaviour (every bearer token goes through it). Then many error paths
(400, 401, 403, 404, 500 from exceptions whose messages hold the file path and
the caller's token, a route file that fails to import, a bad setting) are
requested with a valid token: no response body or header contains a
traceback, a file path, a token or the database address.
"""

from __future__ import annotations

import ast
import datetime as dt
import hmac
import inspect
import json
import textwrap
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import pytest

from aws_helper_sync.api import auth
from aws_helper_sync.api.handler import api_handler
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
