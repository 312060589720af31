"""``api_handler`` end to end on the sample app (tests/app/api) and a real SecantusDB (SPEC §5)."""

from __future__ import annotations

import logging

import pytest
from bson import ObjectId

from aws_helper_sync import StateLogFilter, api_handler, get_state, state_scope
from tests.api_events import EVENT_BUILDERS, json_body, v1_event, v2_event
from tests.test_context import INVALID_STATES

ROWS = [
    ("GET", "/users", "users/list", []),
    ("GET", "/users/1", "users/get", ["1"]),
    ("POST", "/users", "users/post", []),
    ("PUT", "/users/1", "users/put", ["1"]),
    ("PATCH", "/users/1", "users/patch", ["1"]),
    ("DELETE", "/users/1", "users/delete", ["1"]),
    ("GET", "/users/1/posts", "users/posts/list", ["1"]),
    ("GET", "/users/1/posts/2", "users/posts/get", ["1", "2"]),
    ("POST", "/auth/login", "auth/login/post", []),
    ("PUT", "/users/65a1b2c3d4e5f6a7b8c9d0e1", "users/put", ["65a1b2c3d4e5f6a7b8c9d0e1"]),
    ("DELETE", "/users/12345678-1234-5678-1234-567812345678", "users/delete",
     ["12345678-1234-5678-1234-567812345678"]),
]


class LambdaContext:
    aws_request_id = "lambda-request-0001"


@pytest.fixture
def state(make_state):
    return make_state("connecticut")


def call(version, method, path, state=None, headers=None, **kw):
    headers = dict(headers or {})
    if state is not None:
        headers.setdefault("constitution-state", state)
    return api_handler(EVENT_BUILDERS[version](method, path, headers=headers, **kw), None)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(("method", "path", "route", "ids"), ROWS)
def test_routing_table_through_the_handler(app_root, state, version, method, path, route, ids):
    response = call(version, method, path, state)
    assert response["statusCode"] == 200, response["body"]
    body = json_body(response)
    assert (body["route"], body["method"], body["path_parameters"], body["state"]) == (
        route, method, ids, state)


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("name", ["constitution-state", "Constitution-State", "CONSTITUTION-STATE",
                                  "cOnStItUtIoN-sTaTe"])
def test_state_header_in_any_letter_case(app_root, state, version, name):
    response = call(version, "GET", "/users", headers={name: state})
    assert response["statusCode"] == 200 and json_body(response)["state"] == state


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_data_is_query_for_get_and_body_otherwise(app_root, state, version):
    got = json_body(call(version, "GET", "/users", state, query={"page": "2"}, body={"ignored": 1}))
    posted = json_body(call(version, "POST", "/users", state, query={"page": "2"}, body={"name": "Ann"}))
    assert got["data"] == {"page": "2"} and posted["data"] == {"name": "Ann"}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_base64_body_is_decoded(app_root, state, version):
    response = call(version, "POST", "/users", state, body={"name": "Zoë"}, base64_body=True)
    assert response["statusCode"] == 200 and json_body(response)["data"] == {"name": "Zoë"}


@pytest.mark.parametrize("body", ["{not json", '{"name": "x"', "[1, 2]", '[{"name": "x"}]', '"x"', "7"])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_body_that_is_not_a_json_object_is_400_and_nothing_runs(app_root, mongo_client, state, version, body):
    response = call(version, "POST", "/records", state, body=body)
    assert response["statusCode"] == 400
    assert "JSON" in json_body(response)["message"]
    assert state not in mongo_client.list_database_names()


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("value", [None, ""])
def test_missing_state_is_400(app_root, version, value):
    headers = {} if value is None else {"constitution-state": value}
    response = call(version, "GET", "/users", headers=headers)
    assert response["statusCode"] == 400
    assert "constitution-state" in json_body(response)["message"]


@pytest.mark.parametrize("bad", INVALID_STATES)
def test_invalid_state_is_400_and_creates_no_database(app_root, mongo_client, bad):
    before = set(mongo_client.list_database_names())
    response = call("v1", "POST", "/records", headers={"constitution-state": bad}, body={"x": 1})
    assert response["statusCode"] == 400
    assert "constitution-state" in json_body(response)["message"]
    assert set(mongo_client.list_database_names()) == before
    for system in ("admin", "local", "config"):
        assert "records" not in mongo_client[system].list_collection_names()


def test_state_outside_allow_list_is_403(app_root, state, monkeypatch):
    monkeypatch.setenv("ALLOWED_STATES", "ohio,texas")
    assert call("v1", "GET", "/users", state)["statusCode"] == 403  # well spelled, not served here
    assert call("v1", "GET", "/users", "ohio")["statusCode"] == 200


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("path", ["/nowhere", "/users/1/nothing", "/broken/1", "/../../etc/passwd",
                                  "/users/1/posts/2/comments"])
def test_unknown_route_is_404_without_file_system_paths(app_root, state, version, path):
    response = call(version, "GET", path, state)
    assert response["statusCode"] == 404
    body = response["body"]
    assert json_body(response)["message"].startswith("No route for GET /")
    for leak in (str(app_root), str(app_root.parent), "tests/app", ".py", "api/"):
        assert leak not in body


def test_route_check_comes_before_state_check(app_root):
    assert call("v1", "GET", "/nowhere")["statusCode"] == 404


@pytest.mark.parametrize("kind", ["runtime", "key", "server"])
def test_unexpected_exception_is_500_with_request_id_only(app_root, state, kind, caplog):
    caplog.set_level(logging.ERROR)
    caplog.handler.addFilter(StateLogFilter())
    event = v1_event("GET", f"/failures/{kind}", headers={"constitution-state": state})
    response = api_handler(event, LambdaContext())
    assert response["statusCode"] == 500
    body = json_body(response)
    assert body == {"error": True, "message": "Internal server error", "request_id": "lambda-request-0001"}
    assert response["headers"]["X-Request-Id"] == "lambda-request-0001"
    assert "hunter2" not in response["body"] and "Traceback" not in response["body"]
    assert "hunter2" in caplog.text and "lambda-request-0001" in caplog.text  # logged, not sent
    assert [r.constitution_state for r in caplog.records] == [state]


def test_500_without_lambda_context_still_has_a_request_id(app_root, state):
    event = v2_event("GET", "/failures/runtime", headers={"constitution-state": state})
    body = json_body(api_handler(event, None))
    assert body["request_id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_fault_outside_every_step_is_still_a_shaped_500(app_root, state, version, monkeypatch, caplog):
    """The last resort: a fault no step maps (here a bug while parsing) is the generic 500
    with the request id, shaped for the event's kind, and logged; never an exception."""
    from aws_helper_sync.api import dispatcher

    def broken(*args):
        raise RuntimeError("hunter2 in the parser")

    monkeypatch.setattr(dispatcher, "parse_event", broken)
    caplog.set_level(logging.ERROR)
    event = EVENT_BUILDERS[version]("GET", "/users", headers={"constitution-state": state})
    response = api_handler(event, LambdaContext())
    assert response["statusCode"] == 500
    assert json_body(response) == {"error": True, "message": "Internal server error",
                                   "request_id": "lambda-request-0001"}
    assert response["headers"]["X-Request-Id"] == "lambda-request-0001"
    assert "hunter2" not in response["body"] and "hunter2" in caplog.text
    assert get_state() is None  # nothing of the request's context leaked out


@pytest.mark.parametrize(("kind", "status", "message"), [
    ("value", 400, "amount must be positive"),
    ("unauthorized", 401, "token revoked"),
    ("authentication", 401, "signature mismatch"),
    ("forbidden", 403, "clerks only"),
    ("notfound", 404, "no such parcel"),
])
def test_error_mapping(app_root, state, kind, status, message):
    response = call("v2", "GET", f"/failures/{kind}", state)
    assert response["statusCode"] == status
    assert json_body(response)["message"] == message


def test_validate_runs_before_process_in_the_request_state(app_root, mongo_client, state):
    refused = call("v1", "POST", "/validated", state, body={"other": 1})
    assert refused["statusCode"] == 400 and json_body(refused)["message"] == "name is required"
    assert state not in mongo_client.list_database_names()
    accepted = call("v1", "POST", "/validated", state, body={"name": "deed"})
    assert accepted["statusCode"] == 200
    assert json_body(accepted) == {"state_in_validate": state, "name": "deed"}
    assert mongo_client[state].validated.count_documents({}) == 1


def test_setters_are_chainable_and_headers_merge(app_root, state, monkeypatch):
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://deeds.example")
    response = call("v1", "POST", "/custom", state, body={"a": 1})
    headers = response["headers"]
    assert response["statusCode"] == 201
    assert json_body(response) == {"created": True, "echo": {"a": 1}}
    assert headers["Location"] == "/custom/42" and headers["x-custom"] == "yes"
    assert [k for k in headers if k.lower() == "content-type"] == ["content-type"]
    assert headers["Access-Control-Allow-Origin"] == "https://deeds.example"


def test_default_response_is_200_json_with_cors_star(app_root, state):
    response = call("v1", "GET", "/users", state)
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert "constitution-state" in response["headers"]["Access-Control-Allow-Headers"].lower()


def test_process_may_return_an_api_response_or_a_body(app_root, state):
    made = call("v1", "GET", "/returned", state, query={"name": "n"})
    assert made["statusCode"] == 201 and made["headers"]["X-Made"] == "1"
    assert json_body(made) == {"made": "n"}
    plain = call("v1", "GET", "/returned", state, query={"plain": "1"})
    assert plain["statusCode"] == 200 and json_body(plain) == {"plain": True}


def test_mongo_types_are_serialized(app_root, state):
    assert json_body(call("v1", "GET", "/mongo", state)) == {
        "_id": "65a1b2c3d4e5f6a7b8c9d0e1",
        "at": "2024-01-02T03:04:05+00:00",
        "amount": 12.5,
        "ref": "12345678-1234-5678-1234-567812345678",
        "tags": ["a", "b"],
    }


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cors_preflight_needs_neither_state_nor_auth(app_root, version, monkeypatch):
    monkeypatch.setenv("REQUIRE_AUTH", "true")
    response = call(version, "OPTIONS", "/users")
    assert response["statusCode"] == 204 and response["body"] == ""
    assert "Access-Control-Allow-Methods" in response["headers"]


@pytest.mark.parametrize("event", [None, [], "GET /users", {}, {"httpMethod": "GET"},
                                   {"httpMethod": "GET", "path": "/users", "headers": ["x"]},
                                   {"httpMethod": "POST", "path": "/users", "body": {"a": 1}},
                                   {"version": "2.0", "rawPath": "/users", "requestContext": {"http": 1}}])
def test_malformed_event_is_400_not_500(app_root, event):
    response = api_handler(event, None)
    assert response["statusCode"] == 400
    assert json_body(response)["message"].startswith("malformed event")


def test_route_file_without_api_class_or_with_async_hook_is_500(app_root, state, caplog):
    broken = call("v1", "GET", "/broken", state)
    asynchook = call("v1", "GET", "/asynchook", state)
    assert (broken["statusCode"], asynchook["statusCode"]) == (500, 500)
    for response in (broken, asynchook):
        assert "list.py" not in response["body"] and str(app_root) not in response["body"]
    assert "async def" in caplog.text and "synchronous" in caplog.text


def test_bad_setting_is_a_500_not_a_400(app_root, state, monkeypatch, caplog):
    monkeypatch.setenv("REQUIRE_AUTH", "maybe")
    response = call("v1", "GET", "/users", state)
    assert response["statusCode"] == 500
    assert "REQUIRE_AUTH" not in response["body"] and "REQUIRE_AUTH" in caplog.text


def test_two_states_through_the_same_warm_handler_write_to_their_own_databases(
        app_root, mongo_client, make_state):
    connecticut, new_jersey = make_state("connecticut"), make_state("new_jersey")
    first = call("v1", "POST", "/records", connecticut, body={"n": 1})
    second = call("v2", "POST", "/records", new_jersey, body={"n": 2})
    assert (first["statusCode"], second["statusCode"]) == (201, 201)
    assert ObjectId.is_valid(json_body(first)["_id"])
    assert mongo_client[connecticut].records.count_documents({}) == 1
    assert mongo_client[new_jersey].records.count_documents({}) == 1
    assert mongo_client[connecticut].records.find_one()["payload"] == {"n": 1}
    assert mongo_client[new_jersey].records.find_one()["written_in_state"] == new_jersey


def test_request_state_never_leaks_into_or_out_of_the_handler(app_root, state, make_state):
    outer = make_state("ohio")
    with state_scope(outer):
        inner = json_body(call("v1", "GET", "/users", state))
        without_header = call("v1", "GET", "/users")
        assert get_state() == outer
    assert inner["state"] == state
    assert without_header["statusCode"] == 400  # the caller's state is not inherited
    assert get_state() is None


# --- issue 11 §5: a forged response header is a 500, never sent ---

FORGED = [
    ("X-Echo", "x\r\nSet-Cookie: session=forged"),
    ("X-Echo", "x\nLocation: https://forged.example"),
    ("X-Echo", "x\rforged"),
    ("X-Echo", "x\x00forged"),
    ("X-Echo\r\nSet-Cookie: session=forged", "1"),
    ("Set-Cookie: session=forged; X", "1"),  # a colon in the name writes another header
    ("X Forged", "1"),
]


def sent_text(response) -> str:
    return repr(response)  # everything that leaves the handler, escaped


@pytest.mark.parametrize("via", ["set_header", "set_headers", "returned", "direct"])
@pytest.mark.parametrize(("name", "value"), FORGED)
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_forged_response_header_is_a_500_and_never_sent(app_root, state, caplog, version, via, name, value):
    response = call(version, "GET", "/forged", state, query={"name": name, "value": value, "via": via})
    assert response["statusCode"] == 500
    assert json_body(response)["message"] == "Internal server error"
    assert "forged" not in sent_text(response) and "X-Fine" not in response["headers"]
    assert "HeaderInjectionError" in caplog.text and repr(name) in caplog.text  # the log names it


def test_a_clean_header_from_the_same_route_is_sent(app_root, state):
    for via in ("set_header", "set_headers", "returned", "direct"):
        response = call("v1", "GET", "/forged", state, query={"name": "X-Echo", "value": "fine", "via": via})
        assert (response["statusCode"], response["headers"]["X-Echo"]) == (200, "fine"), via


def test_header_injection_error_is_the_servers_bug_not_a_value_error():
    from aws_helper_sync.api import API, HeaderInjectionError

    assert issubclass(HeaderInjectionError, RuntimeError) and not issubclass(HeaderInjectionError, ValueError)
    api = API()
    with pytest.raises(HeaderInjectionError, match="X-Filename") as raised:
        api.set_header("X-Filename", "a.txt\r\nSet-Cookie: s=1")
    assert raised.value.header == "X-Filename"
    assert api.response_headers == {}  # nothing was kept
    class Sneaky:
        def __str__(self):
            return "1\r\nSet-Cookie: s=1"

    with pytest.raises(HeaderInjectionError, match="X-Count"):
        api.set_headers({"X-Ok": 1, "X-Count": Sneaky()})  # str(value) is what is checked


def test_a_request_id_that_would_forge_a_header_is_replaced(app_root, state):
    event = v2_event("GET", "/users", headers={"constitution-state": state})
    event["requestContext"]["requestId"] = "abc\r\nSet-Cookie: session=forged"
    response = api_handler(event, None)
    assert response["statusCode"] == 200
    assert "forged" not in sent_text(response) and len(response["headers"]["X-Request-Id"]) == 32


@pytest.mark.parametrize("lambda_id", ["abc\r\nSet-Cookie: session=forged", "", 42, None])
def test_an_unusable_lambda_request_id_gives_way_to_api_gateways(app_root, state, lambda_id):
    class Context:
        aws_request_id = lambda_id

    event = v1_event("GET", "/users", headers={"constitution-state": state})
    for answer in (api_handler(event, Context()), api_handler(v1_event("GET", "/nowhere"), Context())):
        assert "forged" not in sent_text(answer)
    response = api_handler(event, Context())
    assert response["headers"]["X-Request-Id"] == event["requestContext"]["requestId"]


# --- issue 11 §6 / issue 12 §4: what the API sends is strict JSON, times carry an offset ---

def strict_json(response):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    import json

    return json.loads(response["body"], parse_constant=refuse)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_stored_datetime_and_decimal128_read_back_the_same_as_written(app_root, mongo_client, state, version):
    amount = "1234567890.123456789012345678901234"  # 34 digits: no float holds it
    created = call(version, "POST", "/ledger", state, body={"id": "e1", "amount": amount})
    assert created["statusCode"] == 201, created["body"]
    read = call(version, "GET", "/ledger/e1", state)
    assert read["statusCode"] == 200, read["body"]
    expected = {"_id": "e1", "recorded_at": "2026-01-02T03:04:05.678000+00:00", "amount": amount, "nothing": None}
    assert strict_json(created) == expected  # the naive datetime the API wrote
    assert strict_json(read) == expected     # the same instant as MongoDB returns it
    stored = mongo_client[state].ledger.find_one({"_id": "e1"})
    assert str(stored["amount"]) == amount   # stored exactly, sent exactly


def test_an_exact_decimal128_is_a_json_number(app_root, state):
    call("v1", "POST", "/ledger", state, body={"id": "e2", "amount": "19.99"})
    assert strict_json(call("v1", "GET", "/ledger/e2", state))["amount"] == 19.99
