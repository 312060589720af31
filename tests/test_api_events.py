"""API Gateway events in (v1 and v2), proxy responses out (SPEC §5); no server needed."""

from __future__ import annotations

import base64
import json

import pytest
from bson import ObjectId

from aws_helper_sync.api.events import (
    Headers,
    build_response,
    cors_headers,
    parse_event,
)
from aws_helper_sync.api.exceptions import BadRequestError
from tests.api_events import v1_event, v2_event


@pytest.mark.parametrize("build", [v1_event, v2_event])
def test_both_formats_give_the_same_request(build):
    request = parse_event(build("post", "/users/7/posts", headers={"X-Trace": "abc"},
                                query={"page": "2"}, body={"title": "t"}))
    assert request.method == "POST"
    assert request.segments == ("users", "7", "posts")
    assert request.headers["x-trace"] == "abc" and request.headers.get("X-TRACE") == "abc"
    assert request.query_parameters == {"page": "2"}
    assert request.json_body() == {"title": "t"}
    assert request.request_id


def test_v2_named_stage_is_not_part_of_the_route():
    request = parse_event(v2_event("GET", "/users/1", stage="dev"))
    assert request.path == "/users/1" and request.segments == ("users", "1")


def test_v2_raw_path_is_percent_decoded_per_segment():
    request = parse_event(v2_event("GET", "/users/a%40b.com"))
    assert request.segments == ("users", "a@b.com")


def test_v2_cookies_become_a_cookie_header():
    event = v2_event("GET", "/users")
    event["cookies"] = ["a=1", "b=2"]
    assert parse_event(event).headers["Cookie"] == "a=1; b=2"


def test_v1_multi_value_headers_are_used_when_single_values_are_absent():
    event = v1_event("GET", "/users")
    event["headers"] = None
    event["multiValueHeaders"] = {"Constitution-State": ["ohio"]}
    assert parse_event(event).headers["constitution-state"] == "ohio"


def test_headers_are_case_insensitive_and_hide_secrets_in_repr():
    headers = Headers({"Authorization": "Bearer s3cret", "X-A": "1"})
    assert headers["AUTHORIZATION"] == "Bearer s3cret" and "x-a" in headers and "X-A" in headers
    assert "s3cret" not in repr(headers)
    assert sorted(headers) == ["authorization", "x-a"]


@pytest.mark.parametrize("event", [
    None,
    [],
    "GET /users",
    {},
    {"httpMethod": "GET"},
    {"path": "/users"},
    {"httpMethod": 5, "path": "/users"},
    {"httpMethod": "GET", "path": ["users"]},
    {"httpMethod": "GET", "path": "/users", "headers": "x"},
    {"httpMethod": "GET", "path": "/users", "headers": {"a": 1}},
    {"httpMethod": "GET", "path": "/users", "multiValueHeaders": {"a": "b"}},
    {"httpMethod": "GET", "path": "/users", "queryStringParameters": ["a"]},
    {"httpMethod": "GET", "path": "/users", "queryStringParameters": {"a": None}},
    {"httpMethod": "POST", "path": "/users", "body": {"a": 1}},
    {"httpMethod": "POST", "path": "/users", "body": "{}", "isBase64Encoded": "yes"},
    {"httpMethod": "GET", "path": "/users", "requestContext": "ctx"},
    {"version": "2.0", "rawPath": "/users", "requestContext": {"http": "GET"}},
    {"version": "2.0", "rawPath": "/users", "requestContext": {}},
    {"version": "2.0", "requestContext": {"http": {"method": "GET"}}, "rawPath": None},
    {"version": "2.0", "rawPath": "/u", "requestContext": {"http": {"method": "GET"}}, "cookies": "a=1"},
])
def test_malformed_events_are_bad_requests(event):
    with pytest.raises(BadRequestError):
        parse_event(event)


@pytest.mark.parametrize(("body", "encoded"), [
    ("{not json", False),
    ('{"a": 1', False),
    ("[1, 2]", False),
    ('"text"', False),
    ("42", False),
    ("null", False),
    ('{"a": NaN}', False),
    ("[" * 100_000 + "]" * 100_000, False),
    ("@@@not base64@@@", True),
    (base64.b64encode(b"\xff\xfe").decode(), True),
    (base64.b64encode(b"[1]").decode(), True),
])
def test_bodies_that_are_not_a_json_object_are_bad_requests(body, encoded):
    request = parse_event({"httpMethod": "POST", "path": "/x", "body": body, "isBase64Encoded": encoded})
    with pytest.raises(BadRequestError):
        request.json_body()


@pytest.mark.parametrize("body", [None, "", "  \n"])
def test_no_body_is_an_empty_object(body):
    assert parse_event({"httpMethod": "POST", "path": "/x", "body": body}).json_body() == {}


def test_base64_body_is_decoded():
    text = base64.b64encode('{"name": "Zoë"}'.encode()).decode()
    request = parse_event({"httpMethod": "POST", "path": "/x", "body": text, "isBase64Encoded": True})
    assert request.json_body() == {"name": "Zoë"}


def test_build_response_merges_headers_case_insensitively_and_encodes_mongo_types():
    oid = ObjectId()
    response = build_response(201, {"_id": oid}, {"X-Request-Id": "r1"},
                              {"content-type": "application/problem+json", "x-request-id": "mine"})
    assert response["statusCode"] == 201
    assert response["headers"] == {"content-type": "application/problem+json", "x-request-id": "mine"}
    assert json.loads(response["body"]) == {"_id": str(oid)}
    assert response["isBase64Encoded"] is False


def test_build_response_sends_text_and_bytes_as_is_for_non_json_types():
    csv = build_response(200, "a,b\n1,2\n", {}, {"Content-Type": "text/csv"})
    assert csv["body"] == "a,b\n1,2\n" and csv["isBase64Encoded"] is False
    pdf = build_response(200, b"%PDF-1", {}, {"Content-Type": "application/pdf"})
    assert base64.b64decode(pdf["body"]) == b"%PDF-1" and pdf["isBase64Encoded"] is True
    assert build_response(204, None, {})["body"] == ""


def test_cors_single_origin_and_list():
    assert cors_headers("*", None)["Access-Control-Allow-Origin"] == "*"
    listed = cors_headers("https://a.example, https://b.example", "https://b.example")
    assert listed["Access-Control-Allow-Origin"] == "https://b.example" and listed["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in cors_headers("https://a.example,https://b.example",
                                                              "https://evil.example")


@pytest.mark.parametrize("event", [None, [], "x", {}, {"requestContext": "x"}, {"requestContext": {"elb": 1}},
                                   {"requestContext": {"elb": {}}, "multiValueHeaders": "x"},
                                   {"version": "2.0", "requestContext": {"http": "GET"}},
                                   {"version": "2.0", "requestContext": {"http": {"method": 5}}}])
def test_shape_response_never_raises_on_junk_events(event):
    from aws_helper_sync.api.events import shape_response

    response = build_response(400, {"error": True}, {"Set-Cookie": ["a=1", "b=2"], "X": "1"})
    shaped = shape_response(response, event)
    assert shaped["statusCode"] == 400 and json.loads(shaped["body"]) == {"error": True}
    json.dumps(shaped)


def test_v1_and_alb_paths_are_decoded_per_segment_like_v2():
    from tests.api_events import alb_event, function_url_event

    for build in (v1_event, v2_event, function_url_event, alb_event):
        request = parse_event(build("GET", "/users/a%40b.com/posts/x%2Fy"))
        assert request.segments[:2] == ("users", "a@b.com"), build.__name__
        if build is not v2_event:  # HTTP API decodes %2F into a separator before we see it
            assert request.segments[2:] == ("posts", "x/y"), build.__name__


def test_state_header_conflict_is_seen_in_every_map():
    event = v1_event("GET", "/users")
    event["headers"] = {"constitution-state": "ohio"}
    event["multiValueHeaders"] = {"Constitution-State": ["ohio"], "constitution-state": ["ohio"]}
    assert parse_event(event).state_header() == "ohio"
    event["multiValueHeaders"]["CONSTITUTION-STATE"] = ["texas"]
    with pytest.raises(BadRequestError, match="several times"):
        parse_event(event).state_header()
