"""Payloads as AWS sends them, through ``api_handler`` (issue 12 §1-§3, issue 11 §6/§9).

Every kind of event (REST, HTTP API, Function URL, ALB with and without
multi-value headers) is built like the live captures (see tests/api_events.py);
routes that store something run against the session's SecantusDB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import urllib.request

import pytest

from aws_helper_sync import api_handler
from aws_helper_sync.api.local_server import serve_api
from tests.api_events import (
    EVENT_BUILDERS,
    alb_event,
    function_url_event,
    json_body,
    v1_event,
    v2_event,
)

ALL_KINDS = ["v1", "v2", "furl", "alb", "alb-single"]
ENCODED_PATH_KINDS = ["v1", "furl", "alb", "alb-single"]  # HTTP API decodes rawPath itself


@pytest.fixture
def state(make_state):
    return make_state("ohio")


def call(kind, method, path, state=None, headers=None, **kw):
    headers = dict(headers or {})
    if state is not None:
        headers.setdefault("constitution-state", state)
    return api_handler(EVENT_BUILDERS[kind](method, path, headers=headers, **kw), None)


def header_values(response, name):
    """Every value of a response header, whichever map (or ``cookies``) carries it."""
    found = [v for k, v in (response.get("headers") or {}).items() if k.lower() == name.lower()]
    for k, values in (response.get("multiValueHeaders") or {}).items():
        if k.lower() == name.lower():
            found.extend(values)
    if name.lower() == "set-cookie":
        found.extend(response.get("cookies") or [])
    return found


# -- event kinds --------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "expected"), [
    ("v1", "rest"), ("v2", "http"), ("furl", "function_url"), ("alb", "alb"), ("alb-single", "alb")])
def test_each_event_kind_is_recognised(kind, expected):
    from aws_helper_sync.api.events import event_kind

    assert event_kind(EVENT_BUILDERS[kind]("GET", "/payloads")) == expected


# -- §1 paths and query strings -------------------------------------------------------------

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_an_encoded_id_is_decoded_the_same_behind_every_ingress(app_root, state, kind):
    response = call(kind, "GET", "/payloads/john%40example.com", state)
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["path_parameters"] == ["john@example.com"]


@pytest.mark.parametrize("kind", ENCODED_PATH_KINDS)
def test_an_encoded_slash_stays_inside_its_segment(app_root, state, kind):
    response = call(kind, "GET", "/payloads/a%2Fb%20c", state)
    assert response["statusCode"] == 200, response["body"]
    assert json_body(response)["path_parameters"] == ["a/b c"]


@pytest.mark.parametrize("kind", ENCODED_PATH_KINDS)
def test_an_encoded_slash_or_dot_cannot_build_a_route(app_root, state, kind):
    for path in ("/payloads%2Fx", "/%2E%2E/payloads", "/payloads/1/%2E%2E%2F%2E%2E"):
        assert call(kind, "POST", path, state, body={})["statusCode"] == 404


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_repeated_query_keys_give_the_last_value_and_every_value(app_root, state, kind):
    query = {"repeat": ["one", "two"], "redirect": "https://example.com/a/b", "literalPlus": "a b",
             "encodedPlus": "a+b", "empty": ""}
    body = json_body(call(kind, "GET", "/payloads", state, query=query))
    assert body["query"] == {"repeat": "two", "redirect": "https://example.com/a/b", "literalPlus": "a b",
                             "encodedPlus": "a+b", "empty": ""}
    if kind != "alb-single":  # a headers-only target group sends one value per name
        assert body["multi"]["repeat"] == ["one", "two"]
    assert body["data"] == body["query"]


def test_alb_query_values_arrive_encoded_and_are_decoded(app_root, state):
    event = alb_event("GET", "/payloads", headers={"constitution-state": state})
    # as the live capture: `?literalPlus=a+b&encodedPlus=a%2Bb&redirect=https%3A%2F%2F...`
    event["multiValueQueryStringParameters"] = {
        "literalPlus": ["a+b"], "encodedPlus": ["a%2Bb"], "redirect": ["https%3A%2F%2Fexample.com%2Fa%2Fb"],
        "na%C3%AFve": ["caf%C3%A9"]}
    body = json_body(api_handler(event, None))
    assert body["query"] == {"literalPlus": "a b", "encodedPlus": "a+b",
                             "redirect": "https://example.com/a/b", "naïve": "café"}


def test_http_api_literal_comma_stays_one_value_when_raw_query_string_says_so(app_root, state):
    event = v2_event("GET", "/payloads", headers={"constitution-state": state}, query={"ids": "1,2,3"})
    assert event["queryStringParameters"] == {"ids": "1,2,3"} and event["rawQueryString"] == "ids=1%2C2%2C3"
    body = json_body(api_handler(event, None))
    assert body["query"] == {"ids": "1,2,3"} and body["multi"] == {"ids": ["1,2,3"]}


def test_http_api_without_raw_query_string_splits_on_commas(app_root, state):
    event = v2_event("GET", "/payloads", headers={"constitution-state": state}, query={"tag": ["x", "y"]})
    del event["rawQueryString"]
    body = json_body(api_handler(event, None))
    assert body["query"] == {"tag": "y"} and body["multi"] == {"tag": ["x", "y"]}


def test_rest_multi_value_map_wins_over_a_disagreeing_single_value_map(app_root, state):
    event = v1_event("GET", "/payloads", headers={"constitution-state": state})
    event["queryStringParameters"] = {"parameter1": "value1", "parameter2": "value"}  # as Powertools' sample
    event["multiValueQueryStringParameters"] = {"parameter1": ["value1", "value2"], "parameter2": ["value"]}
    body = json_body(api_handler(event, None))
    assert body["query"] == {"parameter1": "value2", "parameter2": "value"}
    assert body["multi"] == {"parameter1": ["value1", "value2"], "parameter2": ["value"]}


# -- §2 responses ---------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["add_cookie", "list"])
@pytest.mark.parametrize("kind", ["v2", "furl"])
def test_several_cookies_go_to_cookies_behind_http_api_and_function_urls(app_root, state, kind, how):
    response = call(kind, "GET", "/cookies", state, query={"how": how})
    assert response["statusCode"] == 200
    assert "multiValueHeaders" not in response
    assert not [k for k in response["headers"] if k.lower() == "set-cookie"]
    assert [c.split(";")[0] for c in response["cookies"]] == (
        ["session=s3cr3t", "theme=dark"] if how == "add_cookie" else ["a=1", "b=2"])
    assert response["headers"]["X-Kind"] == "cookies"


@pytest.mark.parametrize("how", ["add_cookie", "list"])
def test_several_cookies_go_to_multi_value_headers_behind_rest(app_root, state, how):
    response = call("v1", "GET", "/cookies", state, query={"how": how})
    assert response["statusCode"] == 200
    assert len(response["multiValueHeaders"]["Set-Cookie"]) == 2
    assert "Set-Cookie" not in response["headers"] and response["headers"]["X-Kind"] == "cookies"
    assert all(isinstance(v, str) for v in response["headers"].values())


def test_add_cookie_writes_safe_attributes():
    from aws_helper_sync import API

    class Page(API):
        def process(self):
            pass

    page = Page().add_cookie("session", "abc", max_age=60, same_site="Strict").add_cookie("t", "1", secure=False)
    assert page.response_headers["Set-Cookie"] == [
        "session=abc; Max-Age=60; Path=/; Secure; HttpOnly; SameSite=Strict", "t=1; Path=/; HttpOnly; SameSite=Lax"]
    for bad in ({"name": "a b", "value": "1"}, {"name": "a", "value": "x\r\nSet-Cookie: evil=1"},
                {"name": "a", "value": "1;admin=1"}, {"name": "a", "value": "1", "path": "/\r\nX: y"},
                {"name": "a", "value": "1", "same_site": "Loose"},
                {"name": "a", "value": "1", "same_site": "None", "secure": False}):
        with pytest.raises(TypeError):
            Page().add_cookie(**bad)


def test_alb_with_multi_value_headers_answers_multi_value_headers_only(app_root, state):
    response = call("alb", "GET", "/cookies", state)
    assert response["statusCode"] == 200 and response["statusDescription"] == "200 OK"
    assert "headers" not in response
    headers = response["multiValueHeaders"]
    assert all(isinstance(v, list) for v in headers.values())
    assert [c.split(";")[0] for c in headers["Set-Cookie"]] == ["session=s3cr3t", "theme=dark"]
    assert headers["Content-Type"] == ["application/json"] and json_body(response) == {"ok": True}


def test_alb_without_multi_value_headers_answers_headers_with_a_status_description(app_root, state, caplog):
    caplog.set_level(logging.WARNING)
    response = call("alb-single", "GET", "/cookies", state)
    assert response["statusCode"] == 200 and response["statusDescription"] == "200 OK"
    assert "multiValueHeaders" not in response
    assert all(isinstance(v, str) for v in response["headers"].values())
    assert response["headers"]["Set-Cookie"].startswith("theme=dark")  # one value per name: the last
    assert "multi-value headers off" in caplog.text


@pytest.mark.parametrize("kind", ["alb", "alb-single"])
def test_alb_error_answers_have_the_alb_shape_too(app_root, state, kind):
    missing = call(kind, "GET", "/nowhere", state)
    assert missing["statusCode"] == 404 and missing["statusDescription"] == "404 Not Found"
    refused = call(kind, "POST", "/payloads", state, body="[1]")
    assert refused["statusCode"] == 400 and refused["statusDescription"] == "400 Bad Request"
    assert ("headers" in refused) is (kind == "alb-single")


def test_function_url_post_stores_through_the_handler(app_root, mongo_client, state):
    event = function_url_event("POST", "/records", headers={"constitution-state": state,
                                                            "content-type": "application/json"},
                               body={"deed": "λ"})
    response = api_handler(event, None)
    assert response["statusCode"] == 201, response["body"]
    assert mongo_client[state].records.find_one()["payload"] == {"deed": "λ"}


# -- §3 bodies ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_a_body_on_get_head_or_delete_is_ignored_for_data(app_root, state, kind, method):
    response = call(kind, method, "/payloads/7", state, query={"q": "1"}, body="Hello from Lambda!")
    assert response["statusCode"] == 200, response["body"]
    if method == "HEAD":
        assert response["body"] == ""
        return
    body = json_body(response)
    assert body["data"] == ({"q": "1"} if method == "GET" else {})
    assert base64.b64decode(body["raw_body"]) == b"Hello from Lambda!"


def test_a_get_body_flagged_base64_but_not_base64_is_still_ignored(app_root, state):
    event = v1_event("GET", "/payloads/7", headers={"constitution-state": state}, body="Hello from Lambda!")
    event["isBase64Encoded"] = True  # as Powertools' apiGatewayProxyEventAnotherPath sample
    assert api_handler(event, None)["statusCode"] == 200


@pytest.mark.parametrize("kind", ["v1", "v2", "alb"])
def test_head_is_answered_like_get_without_a_body(app_root, state, kind):
    got = call(kind, "GET", "/payloads/7", state)
    head = call(kind, "HEAD", "/payloads/7", state)
    assert (head["statusCode"], head["body"], head["isBase64Encoded"]) == (200, "", False)
    assert header_values(head, "Content-Type") == header_values(got, "Content-Type") == ["application/json"]
    assert call(kind, "HEAD", "/nowhere", state)["body"] == ""


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_form_api_parses_url_encoded_fields_into_data(app_root, mongo_client, state, kind):
    form = "name=Ann+Lee&city=New%20Haven&note=caf%C3%A9&empty=&name=Ann%20Marie"
    response = call(kind, "POST", "/forms", state, body=form,
                    headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert response["statusCode"] == 201, response["body"]
    expected = {"name": "Ann Marie", "city": "New Haven", "note": "café", "empty": ""}
    assert json_body(response) == {"stored": expected, "raw_body": form}
    assert mongo_client[state].forms.find_one()["fields"] == expected


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", '{"name": "Ann"}'), ("text/plain", "name=Ann"), (None, "name=Ann"),
    ("multipart/form-data; boundary=x", "--x--")])
def test_a_form_api_answers_415_to_another_content_type(app_root, mongo_client, state, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    response = call("v1", "POST", "/forms", state, body=body, headers=headers)
    assert response["statusCode"] == 415
    assert "application/x-www-form-urlencoded" in json_body(response)["message"]
    assert state not in mongo_client.list_database_names()


def test_a_form_with_a_nul_field_name_or_bad_encoding_is_400(app_root, mongo_client, state):
    good = call("v2", "POST", "/forms", state, body="ab=1",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert good["statusCode"] == 201, good["body"]
    mongo_client.drop_database(state)
    for form in ("a%00b=1", "name=%FF%FE"):
        response = call("v2", "POST", "/forms", state, body=form,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response["statusCode"] == 400, form
    assert state not in mongo_client.list_database_names()


def test_a_text_api_gets_the_text_with_its_charset(app_root, state):
    latin = base64.b64encode("café".encode("latin-1")).decode()
    event = v1_event("POST", "/notes", headers={"constitution-state": state,
                                                "Content-Type": "text/plain; charset=ISO-8859-1"})
    event["body"], event["isBase64Encoded"] = latin, True
    assert json_body(api_handler(event, None)) == {"text": "café", "data": {}, "bytes": 4}
    assert call("v2", "POST", "/notes", state, body="line\n", headers={"Content-Type": "text/markdown"}
                )["statusCode"] == 200
    assert call("v2", "POST", "/notes", state, body='{"a": 1}',
                headers={"Content-Type": "application/json"})["statusCode"] == 415
    for charset in ("no-such-charset", "rot13", "zlib", "base64"):
        assert call("v2", "POST", "/notes", state, body="x",
                    headers={"Content-Type": f"text/plain; charset={charset}"})["statusCode"] == 415, charset
        assert call("v2", "POST", "/payloads", state, body="{}",
                    headers={"Content-Type": f"application/json; charset={charset}"})["statusCode"] == 415


def test_a_bytes_api_gets_binary_bodies_and_refuses_json_and_forms(app_root, state):
    data = bytes(range(256)) * 4
    event = v2_event("POST", "/uploads", headers={"constitution-state": state,
                                                  "content-type": "application/octet-stream"})
    event["body"], event["isBase64Encoded"] = base64.b64encode(data).decode(), True
    body = json_body(api_handler(event, None))
    assert body == {"sha256": hashlib.sha256(data).hexdigest(), "size": 1024, "data": {}}
    for content_type in ("application/json", "application/vnd.api+json", "application/x-www-form-urlencoded"):
        refused = call("v2", "POST", "/uploads", state, body='{"a": 1}', headers={"Content-Type": content_type})
        assert refused["statusCode"] == 415, content_type


def test_content_types_narrows_what_a_bytes_api_accepts(app_root, state):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    for content_type, status in (("image/png", 200), ("image/jpeg", 415), (None, 415)):
        event = v1_event("PUT", "/uploads/5", headers={"constitution-state": state,
                                                       **({"Content-Type": content_type} if content_type else {})})
        event["body"], event["isBase64Encoded"] = png, True
        assert api_handler(event, None)["statusCode"] == status, content_type


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_api_takes_a_json_object_whatever_the_content_type(app_root, state, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    accepted = call("v1", "POST", "/payloads", state, body={"a": 1}, headers=headers)
    assert accepted["statusCode"] == 200 and json_body(accepted)["data"] == {"a": 1}
    refused = call("v1", "POST", "/payloads", state, body="a=1", headers=headers)
    assert refused["statusCode"] == 400 and "JSON" in json_body(refused)["message"]


def test_raw_body_is_given_to_a_json_api(app_root, state):
    text = '{"signed": "payload",  "n": 1}'
    body = json_body(call("v2", "POST", "/payloads", state, body=text, base64_body=True))
    assert base64.b64decode(body["raw_body"]).decode() == text and body["data"] == {"signed": "payload", "n": 1}


def test_a_bad_body_format_is_refused_when_the_route_loads(app_root, tmp_path, monkeypatch, state, caplog):
    (tmp_path / "api" / "bad").mkdir(parents=True)
    (tmp_path / "api" / "bad" / "post.py").write_text(
        "from aws_helper_sync import API\n\nclass BadPost(API):\n    body_format = 'xml'\n\n"
        "    def process(self):\n        return {}\n")
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    response = call("v1", "POST", "/bad", state, body={})
    assert response["statusCode"] == 500 and "xml" not in response["body"]
    assert "body_format must be one of" in caplog.text


# -- issue 11 §6 and §9 --------------------------------------------------------------------

@pytest.mark.parametrize("body", ['{"n": 1e400}', '{"n": -1e400}', '{"n": NaN}', '{"n": Infinity}',
                                  '{"n": -Infinity}', '{"a": [1, {"b": 1E999}]}'])
@pytest.mark.parametrize("kind", ["v1", "v2", "alb"])
def test_non_finite_numbers_in_a_body_are_400_and_nothing_is_stored(app_root, mongo_client, state, kind, body):
    response = call(kind, "POST", "/records", state, body=body)
    assert response["statusCode"] == 400, response["body"]
    json.loads(response["body"], parse_constant=lambda name: pytest.fail(f"{name} in the answer"))
    assert state not in mongo_client.list_database_names()


@pytest.mark.parametrize("body", ['{"a\\u0000b": 1}', '{"ok": {"x\\u0000": 1}}', '{"l": [{"\\u0000": 2}]}',
                                  '{"s": "\\ud800"}', '{"\\udfff": 1}'])
def test_nul_in_a_key_or_an_unpaired_surrogate_is_400_not_500(app_root, mongo_client, state, body):
    response = call("v1", "POST", "/records", state, body=body)
    assert response["statusCode"] == 400, response["body"]
    assert state not in mongo_client.list_database_names()


def test_nul_inside_a_value_and_real_surrogate_pairs_are_stored(app_root, mongo_client, state):
    response = call("v1", "POST", "/records", state, body='{"text": "a\\u0000b", "emoji": "\\ud83d\\ude00"}')
    assert response["statusCode"] == 201, response["body"]
    assert mongo_client[state].records.find_one()["payload"] == {"text": "a\x00b", "emoji": "😀"}


@pytest.mark.parametrize("arrange", ["two names", "multi-value list", "multi-value names", "single vs multi"])
def test_two_state_headers_with_different_values_are_400(app_root, mongo_client, make_state, arrange):
    ohio, texas = make_state("ohio"), make_state("texas")
    event = v1_event("POST", "/records", body={"x": 1})
    if arrange == "two names":
        event["headers"] = {"Constitution-State": ohio, "constitution-state": texas}
        event["multiValueHeaders"] = None
    elif arrange == "multi-value list":
        event["headers"] = None
        event["multiValueHeaders"] = {"constitution-state": [ohio, texas]}
    elif arrange == "multi-value names":
        event["headers"] = None
        event["multiValueHeaders"] = {"Constitution-State": [ohio], "CONSTITUTION-STATE": [texas]}
    else:  # API Gateway's single map keeps the last, but the request carried two
        event["headers"] = {"constitution-state": texas}
        event["multiValueHeaders"] = {"constitution-state": [ohio, texas]}
    response = api_handler(event, None)
    assert response["statusCode"] == 400, response["body"]
    assert "constitution-state" in json_body(response)["message"]
    assert not {ohio, texas} & set(mongo_client.list_database_names())


def test_the_same_state_header_twice_is_fine(app_root, mongo_client, state):
    for kind in ("v1", "v2"):
        event = EVENT_BUILDERS[kind]("GET", "/payloads")
        event["headers"] = {"Constitution-State": state, "constitution-state": state}
        if kind == "v1":
            event["multiValueHeaders"] = {"constitution-state": [state, state]}
        assert api_handler(event, None)["statusCode"] == 200


def test_alb_two_state_headers_are_400(app_root, make_state):
    event = alb_event("GET", "/payloads")
    event["multiValueHeaders"]["constitution-state"] = [make_state("ohio"), make_state("texas")]
    assert api_handler(event, None)["statusCode"] == 400


# -- the local server ----------------------------------------------------------------------

def test_local_server_answers_head_like_get_without_a_body(app_root, state):
    with serve_api(app_root, port=0) as server:
        req = urllib.request.Request(f"{server.url}/payloads/7?q=1", method="HEAD",
                                     headers={"constitution-state": state})
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.status == 200 and response.read() == b""
            assert response.headers["Content-Type"] == "application/json"
            assert "Content-Length" not in response.headers  # 0 would not be the GET's length
        get = urllib.request.Request(f"{server.url}/payloads/7?q=1", headers={"constitution-state": state})
        with urllib.request.urlopen(get, timeout=10) as response:  # the connection still works
            assert json.loads(response.read())["data"] == {"q": "1"}


def test_local_server_gives_repeated_query_keys_and_encoded_ids(app_root, state):
    with serve_api(app_root, port=0) as server:
        req = urllib.request.Request(f"{server.url}/payloads/a%2Fb?tag=x&tag=y&csv=1%2C2",
                                     headers={"constitution-state": state})
        with urllib.request.urlopen(req, timeout=10) as response:
            body = json.loads(response.read())
    assert body["path_parameters"] == ["a/b"]
    assert body["query"] == {"tag": "y", "csv": "1,2"} and body["multi"] == {"tag": ["x", "y"], "csv": ["1,2"]}


@pytest.mark.parametrize("mutate", [
    lambda e: e.update(multiValueHeaders={"constitution-state": "ohio"}),
    lambda e: e.update(multiValueHeaders={"x": [1]}),
    lambda e: e.update(multiValueQueryStringParameters={"a": "b"}),
    lambda e: e.update(multiValueQueryStringParameters={"a": []}),
    lambda e: e.update(queryStringParameters={"a": 1}),
    lambda e: e.update(httpMethod=None),
    lambda e: e.update(path=7),
    lambda e: e.update(body=b"bytes"),
    lambda e: e.update(multiValueHeaders=["constitution-state"]),
])
def test_malformed_alb_events_are_400_in_the_alb_shape(app_root, mutate):
    event = alb_event("GET", "/payloads", headers={"constitution-state": "ohio"})
    mutate(event)
    response = api_handler(event, None)
    assert response["statusCode"] == 400, response
    assert json_body(response)["message"].startswith("malformed event")
    assert response["statusDescription"] == "400 Bad Request"
    json.dumps(response)
