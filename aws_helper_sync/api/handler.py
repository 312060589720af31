"""``api_handler``: the Lambda entry point for API Gateway (REST and HTTP APIs).

    # serverless.yml / SAM: handler: aws_helper_sync.api.handler.api_handler
    # APP_ROOT (or the Lambda task root) holds api/users/get.py, ...

Routes, auth, state and error mapping live in ``dispatcher``; this module only
names the entry point that AWS calls.
"""

from __future__ import annotations

from .dispatcher import dispatch

api_handler = dispatch
"""``api_handler(event, context)``: answer one API Gateway proxy event with a proxy response
dict; never raises. The dispatcher itself, not a wrapper around it: a call less per request."""
