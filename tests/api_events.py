"""API Gateway proxy events as AWS sends them (REST payload 1.0, HTTP API payload 2.0)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any


def _body(body: Any, encode: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    text = body if isinstance(body, str) else json.dumps(body)
    if encode:
        return base64.b64encode(text.encode("utf-8")).decode("ascii"), True
    return text, False


def v1_event(method: str, path: str, *, headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None, body: Any = None,
             base64_body: bool = False) -> dict[str, Any]:
    """A REST API (payload 1.0) proxy event."""
    text, encoded = _body(body, base64_body)
    headers = dict(headers or {})
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in (query or {}).items()} or None,
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
             query: dict[str, str] | None = None, body: Any = None,
             base64_body: bool = False, stage: str = "$default") -> dict[str, Any]:
    """An HTTP API (payload 2.0) proxy event; header names arrive lower-cased."""
    text, encoded = _body(body, base64_body)
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "pytest"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": stage,
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if text is not None:
        event["body"] = text
    return event


EVENT_BUILDERS = {"v1": v1_event, "v2": v2_event}


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
