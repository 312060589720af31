"""``lambda_handler(name)``: the Lambda entry point of a standalone Lambda.

    # lambda/land_records/main.py defines LandRecordsLambda
    handler = lambda_handler("land_records")       # module level, in the deployed file

    boto3.client("lambda").invoke(FunctionName=..., Payload=json.dumps(
        {"constitution-state": "connecticut", "data": {"parcel_id": 7}}))
    # -> {"success": true, "data": {...}}  or  {"success": false, "error": ..., "error_type": ...}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any, Callable

from ..context.sources import (
    SESSION_EVENT_KEY,
    TENANT_ID_SOURCE,
    Found,
    session_state_from_object,
    tenant_id,
)
from ..context.state import set_state
from ..entrypoint import (
    check_entry_name,
    lifecycle,
    load_entry_class,
    require_state_from,
    run_unit,
)
from ..utils.serializer import serialize_mongo_types
from .base import Lambda

logger = logging.getLogger("aws_helper_sync.lambda")

STATE_KEYS = ("constitution-state", "constitution_state")


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"success": False, "error": str(exc) or type(exc).__name__, "error_type": type(exc).__name__}


def state_sources(event: Mapping[str, Any], context: Any) -> list[Found]:
    """Where an invocation names its state, in order: ``constitution-state`` (or
    ``constitution_state``) in the event, the event's ``session`` (``{"state": ...}``,
    the async framework's newer releases), then ``context.tenant_id`` (tenant isolation mode).

    A malformed ``session`` raises MalformedSessionError (the invocation fails).
    """
    session = event.get(SESSION_EVENT_KEY)
    return [
        ("constitution-state in the event", next((event[key] for key in STATE_KEYS if key in event), None)),
        ("session.state in the event",
         None if session is None else session_state_from_object(session, "session in the event")),
        (TENANT_ID_SOURCE, tenant_id(context)),
    ]


def _invoke(name: str, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    try:
        state = require_state_from(state_sources(event, context))
        set_state(state)  # this unit's own context: its log lines carry the state
        lambda_class = load_entry_class(Lambda, "lambda", name, "main.py", "Lambda")
        data = serialize_mongo_types(lifecycle(lambda_class(event, context)))
        json.dumps(data)  # fail here, with the type named, rather than in the Lambda runtime
    except ValueError as exc:
        logger.warning("lambda %r refused the invocation: %s", name, exc)
        return _failure(exc)
    except Exception as exc:
        logger.exception("lambda %r failed", name)
        return _failure(exc)
    return {"success": True, "data": data}


def lambda_handler(name: str) -> Callable[[Any, Any], dict[str, Any]]:
    """The handler for ``<app root>/lambda/<name>/main.py``, class ``<PascalName>Lambda``.

    The state comes from the event's ``constitution-state``, its ``session``
    or ``context.tenant_id``; sources that disagree fail the invocation.
    The handler never raises: every failure (missing, invalid or unknown state,
    an unreadable state registry, missing class, a ``ConfigurationError``, an
    exception in ``validate()``/``process()``) is returned as
    ``success: false`` with the error message and type, and logged. A name that
    cannot name a folder is refused here, at deployment, with a ValueError.
    """
    check_entry_name(name, "lambda")

    def handler(event: Any, context: Any = None) -> dict[str, Any]:
        if not isinstance(event, Mapping):
            refusal = TypeError(f"event must be a JSON object, got {type(event).__name__}")
            logger.warning("lambda %r refused the invocation: %s", name, refusal)
            return _failure(refusal)
        return run_unit(None, _invoke, name, event, context)

    handler.__name__ = f"lambda_handler_{name}"
    handler.__qualname__ = handler.__name__
    return handler
