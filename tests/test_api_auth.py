"""Bearer-token auth (REQUIRE_AUTH=true) against real token and user documents (SPEC §5)."""

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
    assert body["auth_data"] == {"bypass": True}


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


def test_tokens_live_in_core_by_default(app_root, mongo_client, state, monkeypatch):
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
