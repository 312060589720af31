"""LambdaInvoker: call a standalone Lambda from code, with the current state (SPEC §13).

    reports = LambdaInvoker("parcel-report")
    with state_scope("connecticut"):
        report = reports.invoke({"county": "Hartford"})     # the Lambda's data, or LambdaInvocationError
        request_id = reports.invoke_async({"county": "Hartford"})   # queued by Lambda, not awaited

The payload is the event ``lambda_handler`` reads: ``{"constitution-state": <state>,
"data": <data>}`` (plus ``"session": {"state": <state>}`` with ``PROPAGATE_SESSION=true``,
and the state as ``TenantId`` with ``tenant_isolation=True``), the state taken from the context (or ``state=``, validated),
JSON with the Mongo-aware encoder (ObjectId, datetime, Decimal128...). A payload
over Lambda's limit is refused before the call. ``invoke`` unwraps the
``{"success": ..., "data": ...}`` result: ``data`` when ``success`` is true,
else ``LambdaInvocationError`` with the Lambda's ``error`` and ``error_type``;
a function that crashed (``FunctionError`` in the response) raises it too.

The boto3 client is the library's cached one (``AWS_ENDPOINT_URL_LAMBDA``, else
``AWS_ENDPOINT_URL``), with a read timeout longer than a Lambda can run, so a
long synchronous invocation is not cut off (and retried) by botocore's 60 s
default. ``invoke`` is not retried by this class: an invocation has effects, and
only the caller knows whether running it twice is safe. Locally, ``aws-helper-sync
serve`` answers the Invoke API for the app's standalone Lambdas
(``AWS_ENDPOINT_URL_LAMBDA=http://127.0.0.1:8000``).
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from .. import settings
from ..aws import DEFAULT_REGION, aws_client
from ..context.sources import SESSION_EVENT_KEY, session_event, session_to_write
from ..context.state import get_state, validate_state
from ..entrypoint import MissingStateError
from ..errors import ConfigurationError
from ..utils.json_encoder import mongo_json_dumps

STATE_KEY = "constitution-state"

# Invoke payload limits, as AWS documents them for the Invoke API
# (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html: "For synchronous
# invocations, the maximum payload size is 6 MB. For asynchronous invocations, the
# maximum payload size is 1 MB."; the asynchronous limit was raised from 256 KB to
# 1 MB in October 2025: https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb).
# Lambda counts them in binary units: a synchronous request must be smaller than
# 6,291,456 bytes.
MAX_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD_BYTES = 1024 * 1024
# a Lambda runs at most 15 minutes; the client waits a little longer than that
READ_TIMEOUT_SECONDS = 15 * 60 + 10

_FUNCTION_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):")

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

logger = logging.getLogger("aws_helper_sync.lambda.invoker")


class LambdaInvocationError(Exception):
    """The Lambda ran and failed: ``success: false``, or the function itself errored.

    ``error`` and ``error_type`` are the Lambda's (``error_type`` is the
    exception class name inside the Lambda, e.g. ``ValueError``); ``function_error``
    is Lambda's ``FunctionError`` (``Unhandled``) when the function crashed
    rather than answering, else None; ``request_id`` is the invocation's.
    """

    def __init__(self, function_name: str, error: str, error_type: str, *,
                 function_error: str | None = None, request_id: str | None = None) -> None:
        self.function_name = function_name
        self.error = error
        self.error_type = error_type
        self.function_error = function_error
        self.request_id = request_id
        crashed = f" (FunctionError: {function_error})" if function_error else ""
        super().__init__(f"Lambda {function_name} failed{crashed}: {error_type}: {error}")


class LambdaPayloadTooLargeError(ValueError):
    """The encoded payload is over Lambda's limit for the invocation type; nothing was sent."""


class LambdaInvoker:
    """Invokes one standalone Lambda (a name, ARN or partial ARN); thread-safe.

    ``region``: the argument, else the region of a function ARN, else
    ``AWS_REGION``/``AWS_DEFAULT_REGION``, else us-east-2. ``qualifier``: a
    version or alias (default: the unqualified function, ``$LATEST``).
    ``tenant_isolation=True``: the function runs in Lambda's tenant isolation
    mode, so every call also passes the state as ``TenantId`` (such a function
    refuses a call without one; here, no state is a MissingStateError before the
    call), and the function reads it back as ``context.tenant_id``.
    """

    def __init__(self, function_name: str, region: str | None = None, *, qualifier: str | None = None,
                 tenant_isolation: bool = False) -> None:
        if not function_name or not isinstance(function_name, str):
            raise ValueError(f"{type(self).__name__}: function_name is required (a Lambda name or ARN)")
        if not isinstance(tenant_isolation, bool):
            raise TypeError(f"tenant_isolation must be True or False, got {tenant_isolation!r}")
        self.function_name = function_name
        arn_region = _FUNCTION_ARN.match(function_name)
        self.region = region or (arn_region.group(1) if arn_region else None) or settings.aws_region(DEFAULT_REGION)
        self.qualifier = qualifier
        self.tenant_isolation = tenant_isolation

    @property
    def lambda_client(self) -> LambdaClient:
        """The shared, cached boto3 Lambda client (AWS_ENDPOINT_URL_LAMBDA, else AWS_ENDPOINT_URL)."""
        return aws_client("lambda", self.region, read_timeout=READ_TIMEOUT_SECONDS)

    def resolve_state(self, state: str | None = None) -> str:
        """``state=`` validated, else the current state; MissingStateError when there is neither."""
        if state is not None:
            return validate_state(state)
        current = get_state()
        if current is None:
            needs = ("; a tenant-isolated function needs a tenant id (TenantId), which is the state"
                     if self.tenant_isolation else "; the standalone Lambda refuses an event without one")
            raise MissingStateError(
                f"invoking {self.function_name}: no constitution-state (set one with state_scope(...) "
                f"or pass state=){needs}")
        return current

    def build_payload(self, data: Any, *, state: str | None = None, limit: int = MAX_SYNC_PAYLOAD_BYTES) -> bytes:
        """The event as JSON bytes: the state (``state=``, else the current one; required) and ``data``.

        With ``PROPAGATE_SESSION=true`` the event also carries ``session``
        (``{"state": ...}``, the async framework's form), counted in the size.
        Raises InvalidStateError/MissingStateError, ValueError for content that is
        not JSON (never a bare NaN: Lambda takes JSON only), and
        LambdaPayloadTooLargeError over ``limit``.
        """
        state = self.resolve_state(state)
        event: dict[str, Any] = {STATE_KEY: state}
        session_state = session_to_write(state)
        if session_state is not None:
            event[SESSION_EVENT_KEY] = session_event(session_state)
        event["data"] = data
        try:
            text = mongo_json_dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            payload = text.encode("utf-8")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError (a lone surrogate) is a ValueError
            raise ValueError(f"invoking {self.function_name}: data is not JSON serializable: {exc}") from exc
        if len(payload) > limit:
            kind = "synchronous" if limit == MAX_SYNC_PAYLOAD_BYTES else "asynchronous"
            raise LambdaPayloadTooLargeError(
                f"invoking {self.function_name}: the payload is {len(payload)} bytes, over Lambda's {kind} limit "
                f"of {limit} bytes; nothing was sent (pass a reference, e.g. an S3 key, instead)")
        return payload

    def invoke(self, data: Any, *, state: str | None = None) -> Any:
        """Invoke and wait (``RequestResponse``); the Lambda's ``data``, or LambdaInvocationError."""
        state = self.resolve_state(state)
        payload = self.build_payload(data, state=state, limit=MAX_SYNC_PAYLOAD_BYTES)
        response = self.lambda_client.invoke(**self._params("RequestResponse", payload, state))
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        body = response["Payload"].read()
        try:
            result = json.loads(body) if body else None
        except ValueError:
            result = None
            if not response.get("FunctionError"):
                raise LambdaInvocationError(self.function_name, f"the response is not JSON: {body[:200]!r}",
                                            "InvalidResponse", request_id=request_id) from None
        if response.get("FunctionError"):
            details = result if isinstance(result, dict) else {}
            error = str(details.get("errorMessage") or body[:500].decode("utf-8", "replace") or "no details")
            raise LambdaInvocationError(self.function_name, error, str(details.get("errorType") or "Unhandled"),
                                        function_error=response["FunctionError"], request_id=request_id)
        if isinstance(result, dict) and "success" not in result and "errorType" in result:
            # Lambda's error shape without the FunctionError header (a proxy or an older runtime in between)
            raise LambdaInvocationError(self.function_name, str(result.get("errorMessage") or "no details"),
                                        str(result["errorType"]), request_id=request_id)
        if not isinstance(result, dict) or not isinstance(result.get("success"), bool):
            raise LambdaInvocationError(
                self.function_name, f"the response is not a standalone Lambda result "
                f"({{'success': ..., 'data': ...}}): {body[:200]!r}", "InvalidResponse", request_id=request_id)
        if not result["success"]:
            raise LambdaInvocationError(self.function_name, str(result.get("error") or "no error message"),
                                        str(result.get("error_type") or "Error"), request_id=request_id)
        return result.get("data")

    def invoke_async(self, data: Any, *, state: str | None = None) -> str:
        """Queue an invocation (``Event``) without waiting for it; Lambda's request id."""
        state = self.resolve_state(state)
        payload = self.build_payload(data, state=state, limit=MAX_ASYNC_PAYLOAD_BYTES)
        response = self.lambda_client.invoke(**self._params("Event", payload, state))
        request_id = response.get("ResponseMetadata", {}).get("RequestId", "")
        logger.debug("queued an invocation of %s (%s)", self.function_name, request_id)
        return request_id

    def _params(self, invocation_type: str, payload: bytes, state: str) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionName": self.function_name, "InvocationType": invocation_type,
                                  "Payload": payload}
        if self.qualifier:
            params["Qualifier"] = self.qualifier
        if self.tenant_isolation:
            # Invoke's TenantId (sent as the X-Amz-Tenant-Id header): the function runs in this tenant's
            # own execution environments and sees it as context.tenant_id
            self._check_tenant_id_support()
            params["TenantId"] = state
        return params

    def _check_tenant_id_support(self) -> None:
        """An older botocore has no ``TenantId`` on Invoke (1.40.0 has none; 1.43 has it): say so clearly."""
        shape = self.lambda_client.meta.service_model.operation_model("Invoke").input_shape
        if shape is None or "TenantId" not in shape.members:
            import botocore

            raise ConfigurationError(
                f"invoking {self.function_name} with tenant_isolation=True needs a botocore whose Lambda Invoke "
                f"takes TenantId; botocore {botocore.__version__} does not: upgrade boto3/botocore")
