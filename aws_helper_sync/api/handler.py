"""``api_handler``: the Lambda entry point for API Gateway (REST and HTTP APIs).

    # serverless.yml / SAM: handler: aws_helper_sync.api.handler.api_handler
    # APP_ROOT (or the Lambda task root) holds api/users/get.py, ...

Routes, auth, state and error mapping live in ``dispatcher``; this module only
names the entry point that AWS calls.
"""

from __future__ import annotations

from typing import Any

from .dispatcher import dispatch


def api_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Answer one API Gateway proxy event with a proxy response dict; never raises."""
    return dispatch(event, context)
