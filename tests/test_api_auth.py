"""Bearer-token auth (REQUIRE_AUTH=true) against real token and user documents (SPEC §5):
who may log in (stored fields taken strictly) and which states a credential may use."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from bson import ObjectId

from aws_helper_sync import api_handler
from aws_helper_sync.settings import auth_db_name
from tests.api_events import json_body, v1_event, v2_event

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture
def auth(app_root, mongo_client, make_state, monkeypatch):
    """A test-unique AUTH_DB_NAME holding users and tokens; returns that database."""
    name = make_state("core")
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    monkeypatch.setenv("AUTH_DB_NAME", name)
    monkeypatch.setenv("AUTH_BYPASS_TOKEN", "bypass-0123456789")
    db = mongo_client[name]
    db.users.insert_many([
        {"_id": ObjectId("65a1b2c3d4e5f6a7b8c9d001"), "username": "ann", "password": "$2b$12$hash",
         "password_hash": "x", "is_active": True, "role": "clerk"},
        {"_id": ObjectId("65a1b2c3d4e5f6a7b8c9d002"), "username": "bob", "password": "pw",
         "is_active": False},
        {"_id": "user-cy", "username": "cy"},
    ])
    db.tokens.insert_many([
        {"token": "tok-ann", "user_id": ObjectId("65a1b2c3d4e5f6a7b8c9d001"), "is_active": True},
        {"token": "tok-ann-text-id", "user_id": "65a1b2c3d4e5f6a7b8c9d001", "is_active": True},
        {"token": "tok-cy", "user_id": "user-cy", "is_active": True,
         "expires_at": NOW + dt.timedelta(hours=1)},
        {"token": "tok-revoked", "user_id": ObjectId("65a1b2c3d4e5f6a7b8c9d001"), "is_active": False},
        {"token": "tok-expired", "user_id": ObjectId("65a1b2c3d4e5f6a7b8c9d001"), "is_active": True,
         "expires_at": NOW - dt.timedelta(seconds=1)},
        {"token": "tok-expired-naive", "user_id": ObjectId("65a1b2c3d4e5f6a7b8c9d001"),
         "is_active": True, "expires_at": dt.datetime(2020, 1, 1)},
        {"token": "tok-ghost", "user_id": ObjectId("65a1b2c3d4e5f6a7b8c9d0ff"), "is_active": True},
        {"token": "tok-bob", "user_id": ObjectId("65a1b2c3d4e5f6a7b8c9d002"), "is_active": True},
        {"token": "tok-no-user", "is_active": True},
    ])
    return db


def me(state, authorization=None, version="v1", path="/me"):
    headers = {"constitution-state": state} if state else {}
    if authorization is not None:
        headers["Authorization"] = authorization
    build = v1_event if version == "v1" else v2_event
    return api_handler(build("GET", path, headers=headers), None)


@pytest.fixture
def state(make_state):
    return make_state("connecticut")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_valid_token_gives_the_user_without_password(auth, state, version):
    response = me(state, "Bearer tok-ann", version)
    assert response["statusCode"] == 200, response["body"]
    body = json_body(response)
    assert body["is_authenticated"] is True
    assert body["user"] == {"_id": "65a1b2c3d4e5f6a7b8c9d001", "username": "ann",
                            "is_active": True, "role": "clerk"}
    assert "password" not in response["body"] and "$2b$" not in response["body"]
    assert body["auth_data"]["user_id"] == "65a1b2c3d4e5f6a7b8c9d001"
    assert body["auth_data"]["bypass"] is False
    assert "tok-ann" not in response["body"]


def test_last_used_at_is_set(auth, state):
    assert me(state, "Bearer tok-ann")["statusCode"] == 200
    used = auth.tokens.find_one({"token": "tok-ann"})["last_used_at"]
    assert used.replace(tzinfo=dt.timezone.utc) >= NOW - dt.timedelta(seconds=1)
    assert auth.tokens.find_one({"token": "tok-revoked"}).get("last_used_at") is None


def test_failed_last_used_at_update_is_only_logged(auth, state, caplog):
    auth.command("collMod", "tokens", validator={"last_used_at": {"$exists": False}})
    caplog.set_level(logging.WARNING)
    response = me(state, "Bearer tok-ann")
    assert response["statusCode"] == 200
    assert json_body(response)["user"]["username"] == "ann"
    assert "last_used_at" in caplog.text


@pytest.mark.parametrize("token", ["tok-ann-text-id", "tok-cy"])
def test_user_id_as_text_and_unexpired_token(auth, state, token):
    assert me(state, f"Bearer {token}")["statusCode"] == 200


def test_scheme_name_is_case_insensitive(auth, state):
    assert me(state, "bearer tok-ann")["statusCode"] == 200


def test_bypass_token_is_an_admin_without_database_lookup(auth, state):
    auth.drop_collection("tokens")
    response = me(state, "Bearer bypass-0123456789")
    assert response["statusCode"] == 200
    body = json_body(response)
    assert body["user"]["is_bypass"] is True and body["user"]["role"] == "admin"
    assert body["auth_data"] == {"bypass": True, "allowed_states": None}


@pytest.mark.parametrize("authorization", [
    None,                                  # missing header
    "",                                    # empty header
    "Basic YW5uOnB3",                      # not Bearer
    "Token tok-ann",                       # not Bearer
    "Bearer",                              # no token
    "Bearer    ",                          # blank token
    "tok-ann",                             # no scheme
    "Bearer tok-unknown",                  # unknown token
    "Bearer tok-revoked",                  # inactive token
    "Bearer tok-expired",                  # expired token
    "Bearer tok-expired-naive",            # expired, stored as naive UTC
    "Bearer tok-ghost",                    # user does not exist
    "Bearer tok-bob",                      # inactive user
    "Bearer tok-no-user",                  # token without user_id
    "Bearer bypass-012345678",             # a prefix of the bypass token
    "Bearer bypass-0123456789x",           # the bypass token plus one character
    "Bearer {\"$ne\": null}",              # an operator in text form matches nothing
])
def test_refusals_are_401(auth, state, authorization):
    response = me(state, authorization)
    assert response["statusCode"] == 401, response["body"]
    assert "user" not in json_body(response)
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("authorization", "message"), [
    (None, "Missing Authorization header"),
    ("Basic x", "Authorization header must use the Bearer scheme"),
    ("Bearer tok-expired", "Token expired"),
    ("Bearer tok-bob", "User not found or inactive"),
])
def test_refusal_messages_say_what_is_wrong(auth, state, authorization, message):
    assert json_body(me(state, authorization))["message"] == message


def test_auth_comes_before_route_and_state(auth):
    assert me(None, None, path="/nowhere")["statusCode"] == 401
    assert me(None, None)["statusCode"] == 401
    assert me(None, "Bearer tok-ann", path="/nowhere")["statusCode"] == 404
    assert me(None, "Bearer tok-ann")["statusCode"] == 400


def test_tokens_live_in_core_by_default(app_root, owned_mongo_server, mongo_client, state, monkeypatch):
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    monkeypatch.delenv("AUTH_DB_NAME", raising=False)
    assert auth_db_name() == "core"
    mongo_client.core.users.insert_one({"_id": "u-core", "username": "core-user", "password": "pw"})
    mongo_client.core.tokens.insert_one({"token": "tok-core-default", "user_id": "u-core", "is_active": True})
    try:
        response = me(state, "Bearer tok-core-default")
        assert response["statusCode"] == 200
        assert json_body(response)["user"] == {"_id": "u-core", "username": "core-user"}
    finally:
        mongo_client.core.users.delete_one({"_id": "u-core"})
        mongo_client.core.tokens.delete_one({"token": "tok-core-default"})


def test_without_require_auth_the_header_is_ignored(app_root, state, monkeypatch):
    monkeypatch.delenv("REQUIRE_AUTH", raising=False)
    body = json_body(me(state, "Bearer anything"))
    assert body == {"is_authenticated": False, "user": None, "auth_data": None}


# --- stored fields taken strictly (issue 11 §3) -------------------------------


@pytest.fixture
def hostile(auth):
    """Token and user documents whose fields are not what they claim to be."""
    first = ObjectId("65a1b2c3d4e5f6a7b8c9d001")  # ann, the first user: what an operator would select
    auth.users.insert_many([
        {"_id": "u-false-text", "username": "f", "is_active": "false"},
        {"_id": "u-true-text", "username": "t", "is_active": "true"},
        {"_id": "u-one", "username": "o", "is_active": 1},
        {"_id": "u-array", "username": "a", "is_active": [True]},
        {"_id": "u-null", "username": "n", "is_active": None},
        {"_id": 42, "username": "int-id", "is_active": True},
    ])
    auth.tokens.insert_many([
        {"token": "tok-ne-null", "user_id": {"$ne": None}, "is_active": True},
        {"token": "tok-gt", "user_id": {"$gt": ""}, "is_active": True},
        {"token": "tok-in", "user_id": {"$in": [first]}, "is_active": True},
        {"token": "tok-list-id", "user_id": [first], "is_active": True},
        {"token": "tok-bool-id", "user_id": True, "is_active": True},
        {"token": "tok-float-id", "user_id": 42.0, "is_active": True},
        {"token": "tok-user-false-text", "user_id": "u-false-text", "is_active": True},
        {"token": "tok-user-true-text", "user_id": "u-true-text", "is_active": True},
        {"token": "tok-user-one", "user_id": "u-one", "is_active": True},
        {"token": "tok-user-array", "user_id": "u-array", "is_active": True},
        {"token": "tok-user-null", "user_id": "u-null", "is_active": True},
        {"token": "tok-active-array", "user_id": first, "is_active": [True]},
        {"token": "tok-active-text", "user_id": first, "is_active": "true"},
        {"token": "tok-active-one", "user_id": first, "is_active": 1},
        {"token": "tok-int-id", "user_id": 42, "is_active": True},
    ])
    return auth


@pytest.mark.parametrize("token", ["tok-ne-null", "tok-gt", "tok-in", "tok-list-id", "tok-bool-id",
                                   "tok-float-id"])
def test_a_user_id_that_is_not_a_scalar_id_is_a_logged_401(hostile, state, token, caplog):
    caplog.set_level(logging.WARNING, logger="aws_helper_sync.api.auth")
    response = me(state, f"Bearer {token}")

    assert response["statusCode"] == 401, response["body"]
    assert "ann" not in response["body"]
    token_id = hostile.tokens.find_one({"token": token})["_id"]
    assert f"token {token_id} refused: its user_id is a" in caplog.text
    assert token not in caplog.text  # the log names the document, never the credential


@pytest.mark.parametrize("token", ["tok-user-false-text", "tok-user-true-text", "tok-user-one",
                                   "tok-user-array", "tok-user-null"])
def test_a_user_is_active_other_than_true_is_inactive(hostile, state, token):
    response = me(state, f"Bearer {token}")
    assert response["statusCode"] == 401, response["body"]
    assert json_body(response)["message"] == "User not found or inactive"


@pytest.mark.parametrize("token", ["tok-active-array", "tok-active-text", "tok-active-one"])
def test_a_token_is_active_other_than_true_is_inactive(hostile, state, token):
    response = me(state, f"Bearer {token}")
    assert response["statusCode"] == 401, response["body"]
    assert json_body(response)["message"] == "Invalid or inactive token"


def test_an_int_user_id_still_logs_in(hostile, state):
    response = me(state, "Bearer tok-int-id")
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["user"]["username"] == "int-id"


@pytest.mark.parametrize("value", [{"$ne": None}, ["tok-ann"], 7, None, b"tok-ann"])
def test_the_token_lookup_only_ever_sends_a_string(auth, value):
    """Called directly with a header map that holds no text, authenticate refuses before any lookup."""
    from aws_helper_sync.api.auth import authenticate
    from aws_helper_sync.api.exceptions import UnauthorizedError

    auth.drop_collection("tokens")  # nothing to match, whatever would be sent
    with pytest.raises(UnauthorizedError):
        authenticate({"authorization": value})


# --- tokens bound to states (issue 11 §2) ---------------------------------------


@pytest.fixture
def bound(auth, make_state):
    """Tokens and users carrying ``states``; returns the three states they mention."""
    ohio, texas, utah = (make_state(name) for name in ("ohio", "texas", "utah"))
    auth.users.insert_many([
        {"_id": "u-free", "username": "free", "is_active": True},
        {"_id": "u-ohio-texas", "username": "two", "is_active": True, "states": [ohio, texas]},
        {"_id": "u-none", "username": "none", "is_active": True, "states": []},
        {"_id": "u-bad-states", "username": "bad", "is_active": True, "states": ohio},
    ])
    auth.tokens.insert_many([
        {"token": "tok-free", "user_id": "u-free", "is_active": True},
        {"token": "tok-ohio", "user_id": "u-free", "is_active": True, "states": [ohio]},
        {"token": "tok-empty", "user_id": "u-free", "is_active": True, "states": []},
        {"token": "tok-by-user", "user_id": "u-ohio-texas", "is_active": True},
        {"token": "tok-both", "user_id": "u-ohio-texas", "is_active": True, "states": [ohio, utah]},
        {"token": "tok-user-none", "user_id": "u-none", "is_active": True, "states": [ohio]},
        {"token": "tok-bad-user-states", "user_id": "u-bad-states", "is_active": True},
        {"token": "tok-states-text", "user_id": "u-free", "is_active": True, "states": ohio},
        {"token": "tok-states-null", "user_id": "u-free", "is_active": True, "states": None},
        {"token": "tok-states-operator", "user_id": "u-free", "is_active": True, "states": {"$in": [ohio]}},
        {"token": "tok-states-number", "user_id": "u-free", "is_active": True, "states": [ohio, 1]},
        {"token": "tok-states-nested", "user_id": "u-free", "is_active": True, "states": [[ohio]]},
    ])
    return ohio, texas, utah


@pytest.mark.parametrize(("token", "allowed"), [
    ("tok-free", {"ohio", "texas", "utah"}),         # no states anywhere: every state
    ("tok-ohio", {"ohio"}),                          # the token's list
    ("tok-empty", set()),                            # an empty list allows none
    ("tok-by-user", {"ohio", "texas"}),              # the user's list
    ("tok-both", {"ohio"}),                          # both: only the states in both
    ("tok-user-none", set()),                        # the user's empty list wins over the token's
    ("Bypass", {"ohio", "texas", "utah"}),           # the bypass token is unrestricted
])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_credential_may_use_only_its_states(bound, mongo_client, token, allowed, version):
    states = dict(zip(("ohio", "texas", "utah"), bound))
    authorization = "Bearer bypass-0123456789" if token == "Bypass" else f"Bearer {token}"
    before = set(mongo_client.list_database_names())

    statuses = {}
    for name, state in states.items():
        headers = {"constitution-state": state, "Authorization": authorization}
        build = v1_event if version == "v1" else v2_event
        response = api_handler(build("POST", "/records", headers=headers, body={"n": 1}), None)
        statuses[name] = response["statusCode"]
        if response["statusCode"] == 403:
            assert json_body(response)["message"] == f"this token may not use constitution-state {state!r}"

    assert statuses == {name: 201 if name in allowed else 403 for name in states}
    created = set(mongo_client.list_database_names()) - before
    assert created == {states[name] for name in allowed}  # nothing was created for a refused state


@pytest.mark.parametrize(("token", "allowed"), [
    ("tok-free", None), ("tok-ohio", [0]), ("tok-by-user", [0, 1]), ("tok-both", [0]),
])
def test_auth_data_says_which_states_are_allowed(bound, token, allowed):
    response = me(bound[0], f"Bearer {token}")
    expected = None if allowed is None else sorted(bound[i] for i in allowed)
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["auth_data"]["allowed_states"] == expected


def test_a_users_own_states_are_in_current_user(bound):
    body = json_body(me(bound[0], "Bearer tok-by-user"))
    assert body["user"]["states"] == [bound[0], bound[1]]
    assert body["auth_data"]["allowed_states"] == sorted(bound[:2])


@pytest.mark.parametrize("token", ["tok-states-text", "tok-states-null", "tok-states-operator",
                                   "tok-states-number", "tok-states-nested", "tok-bad-user-states"])
def test_malformed_states_refuse_the_credential_with_a_logged_401(bound, token, caplog):
    """A states field we cannot read is never read as "every state" (nor as letters): 401, as a
    malformed user_id or expires_at is, for every state the request could name."""
    caplog.set_level(logging.WARNING, logger="aws_helper_sync.api.auth")
    for state in bound:
        response = me(state, f"Bearer {token}")
        assert response["statusCode"] == 401, (state, response["body"])
        assert json_body(response)["message"] == "Invalid or inactive token"
    assert "'states' is" in caplog.text and "not a list of strings" in caplog.text
    assert token not in caplog.text


def test_binding_is_checked_after_the_state_is_valid(bound):
    """An invalid state header is still the 400 it was; a missing one too (not a 403)."""
    assert me("Texas", "Bearer tok-ohio")["statusCode"] == 400
    assert me(None, "Bearer tok-ohio")["statusCode"] == 400
    assert me(bound[0], "Bearer tok-ohio", path="/nowhere")["statusCode"] == 404
