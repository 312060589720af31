"""API events as AWS sends them: REST (payload 1.0), HTTP API and Function URL (payload 2.0),
ALB (with and without multi-value headers).

Shaped like the live captures of one request through each ingress: REST, ALB and
Function URLs send the path percent-encoded, HTTP API decoded; REST keeps the last
value of a repeated query key in ``queryStringParameters``, HTTP API and Function
URLs join them with commas (``rawQueryString`` has them as sent); ALB passes query
names and values still percent-encoded. ``query`` values may be lists (repeated keys).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Union
from urllib.parse import quote, unquote, urlencode

Query = dict[str, Union[str, list[str]]]


def _lists(query: Query | None) -> dict[str, list[str]]:
    return {k: list(v) if isinstance(v, list) else [v] for k, v in (query or {}).items()}


def _body(body: Any, encode: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    text = body if isinstance(body, str) else json.dumps(body)
    if encode:
        return base64.b64encode(text.encode("utf-8")).decode("ascii"), True
    return text, False


def v1_event(method: str, path: str, *, headers: dict[str, str] | None = None,
             query: Query | None = None, body: Any = None,
             base64_body: bool = False) -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event; ``path`` as the client sent it (percent-encoded)."""
    text, encoded = _body(body, base64_body)
    headers = dict(headers or {})
    multi = _lists(query)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
        "multiValueQueryStringParameters": multi or None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


def v2_event(method: str, path: str, *, headers: dict[str, str] | None = None,
             query: Query | None = None, body: Any = None,
             base64_body: bool = False, stage: str = "$default",
             domain: str = "abcdef1234.execute-api.us-east-2.amazonaws.com") -> dict[str, Any]:
    """An HTTP API (payload 2.0) proxy event; header names arrive lower-cased, ``rawPath``
    decoded (pass the path as the client sent it), repeated query keys comma-joined."""
    text, encoded = _body(body, base64_body)
    decoded = "/".join(unquote(part) for part in path.split("/"))
    raw_path = decoded if stage == "$default" else f"/{stage}{decoded}"
    multi = _lists(query)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": urlencode([(k, v) for k, vs in multi.items() for v in vs]),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "pytest"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": stage,
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in multi.items()}
    if text is not None:
        event["body"] = text
    return event


def function_url_event(method: str, path: str, **kw: Any) -> dict[str, Any]:
    """A Lambda Function URL event: payload 2.0, but ``rawPath`` still percent-encoded and
    the domain ``<url-id>.lambda-url.<region>.on.aws``."""
    event = v2_event(method, path, domain="2cxn22odiwguak4feg4jtt7cwm0z.lambda-url.us-east-2.on.aws", **kw)
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = unquote(path)
    event["requestContext"]["accountId"] = "anonymous"
    return event


def alb_event(method: str, path: str, *, headers: dict[str, str] | None = None,
              query: Query | None = None, body: Any = None, base64_body: bool = False,
              multi_value: bool = True) -> dict[str, Any]:
    """An Application Load Balancer event; ``multi_value``: the target group has
    multi-value headers on (then only the ``multiValue*`` maps are sent). Query names
    and values arrive percent-encoded, the path as the client sent it."""
    text, encoded = _body(body, base64_body)
    multi = {quote(k, safe=""): [quote(v, safe="") for v in vs] for k, vs in _lists(query).items()}
    event: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-2:"
                                                     "123456789012:targetgroup/lambda-tg/4efa1ab384b3474d"}},
        "httpMethod": method,
        "path": path,
        "body": text if text is not None else "",
        "isBase64Encoded": encoded,
    }
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if multi_value:
        event["queryStringParameters"] = None
        event["multiValueQueryStringParameters"] = multi
        event["headers"] = None
        event["multiValueHeaders"] = {k: [v] for k, v in lowered.items()}
    else:
        event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()}
        event["headers"] = lowered
    return event


EVENT_BUILDERS = {"v1": v1_event, "v2": v2_event, "furl": function_url_event, "alb": alb_event,
                  "alb-single": lambda *a, **kw: alb_event(*a, multi_value=False, **kw)}


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
