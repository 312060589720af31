"""The Lambda Invoke API for the app's standalone Lambdas, locally (``aws-helper-sync serve``).

    POST /2015-03-31/functions/<name>/invocations   ->  lambda_handler(<name>)(event, context)

As ``sam local start-lambda`` does, so a boto3 Lambda client (or ``LambdaInvoker``)
pointed at the local server with ``endpoint_url`` / ``AWS_ENDPOINT_URL_LAMBDA``
invokes ``<app root>/lambda/<name>/main.py`` without AWS or Docker:

- ``X-Amz-Invocation-Type: RequestResponse`` (default): 200 with the handler's
  result as JSON; when the function raised out of the handler (``sys.exit`` in
  ``process()``, say) 200 with ``X-Amz-Function-Error: Unhandled`` and
  ``{"errorMessage", "errorType", "stackTrace"}``, as Lambda answers;
- ``Event``: 202 at once, the handler runs in a background thread;
- ``DryRun``: 204 when the function exists;
- ``X-Amz-Tenant-Id`` (Invoke's ``TenantId``, tenant isolation mode) becomes
  ``context.tenant_id`` (None without it, as the Python runtime has it), so
  the handler takes it as a state source that must agree with the event's;
- an unknown function: 404 ``ResourceNotFoundException``; a body that is not
  JSON: 400 ``InvalidRequestContentException``; over the payload limit: 413
  ``RequestTooLargeException`` (errors shaped like AWS's, so botocore raises
  the same ``ClientError``).

A function name may be the folder name, the same with ``-`` for ``_``
(``parcel-report`` -> ``lambda/parcel_report``), or an ARN / ``name:qualifier``.
Development only, like the rest of the local server.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .. import settings
from .invoker import MAX_ASYNC_PAYLOAD_BYTES, MAX_SYNC_PAYLOAD_BYTES

if TYPE_CHECKING:
    from email.message import Message

logger = logging.getLogger("aws_helper_sync.lambda.local")

INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations/?\Z")
ACCOUNT_ID = "000000000000"
LOCAL_TIMEOUT_MS = 15 * 60 * 1000
TENANT_HEADER = "X-Amz-Tenant-Id"

Answer = tuple[int, list[tuple[str, str]], bytes]
HandlerFactory = Callable[[str], Callable[[Any, Any], Any]]


class LocalLambdaContext:
    """The parts of the Lambda context object a handler reads, for a local invocation."""

    def __init__(self, function_name: str, request_id: str, region: str, tenant_id: str | None = None) -> None:
        self.function_name = function_name
        self.tenant_id = tenant_id  # Invoke's TenantId (X-Amz-Tenant-Id); None without, as the runtime has it
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = "128"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + LOCAL_TIMEOUT_MS / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_folder(function: str) -> str | None:
    """The ``lambda/`` folder name for ``function`` (name, ``name:qualifier`` or ARN), or None."""
    name = unquote(function)
    if name.startswith("arn:"):
        parts = name.split(":")
        name = parts[6] if len(parts) >= 7 and parts[5] == "function" else ""
    else:
        parts = name.split(":")
        if len(parts) in (3, 4) and parts[1] == "function":  # 123456789012:function:name[:qualifier]
            name = parts[2]
        else:
            name = parts[0]  # name[:qualifier]
    lambdas = settings.app_root() / "lambda"
    for candidate in dict.fromkeys((name, name.replace("-", "_"))):
        if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", candidate) and (lambdas / candidate / "main.py").is_file():
            return candidate
    return None


def _json(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Answer:
    return status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(body).encode("utf-8")


def _aws_error(status: int, code: str, message: str, request_id: str) -> Answer:
    """An error as Lambda's REST-JSON protocol sends it (botocore reads the code from the header)."""
    return _json(status, {"Type": "User", "message": message},
                 [("x-amzn-ErrorType", f"{code}:"), ("x-amzn-RequestId", request_id)])


def _run(factory: HandlerFactory, folder: str, event: Any, context: LocalLambdaContext) -> tuple[Any, str | None]:
    """(result, None), or (Lambda's error payload, "Unhandled") when the function raised."""
    try:
        return factory(folder)(event, context), None
    except SystemExit as exc:  # the runtime process would exit: Lambda reports Runtime.ExitError
        message = f"RequestId: {context.aws_request_id} Error: Runtime exited with error: exit status {exc.code}"
        return {"errorMessage": message, "errorType": "Runtime.ExitError"}, "Unhandled"
    except Exception as exc:
        logger.exception("local Lambda %r raised", folder)
        return {"errorMessage": str(exc), "errorType": type(exc).__name__, "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__)}, "Unhandled"


# Invoke's TenantId as the service model has it (1-256 characters of this set)
_TENANT_ID = re.compile(r"[a-zA-Z0-9._:/=+\-@ ]{1,256}\Z")


def _tenant_id(headers: Mapping[str, str] | Message[str, str]) -> tuple[str | None, str | None]:
    """(the ``X-Amz-Tenant-Id`` header, None), or (None, why it is refused).

    The header given twice with different values is refused rather than one of
    them picked, as is a value Lambda's TenantId would not take; the state the
    tenant id names is then checked by the handler like any state source.
    """
    get_all = getattr(headers, "get_all", None)
    given = list(get_all(TENANT_HEADER) or []) if get_all else [headers.get(TENANT_HEADER)]
    values: list[str] = [value for value in given if value is not None]
    if not values:
        return None, None
    if len(set(values)) > 1:
        return None, f"{TENANT_HEADER} is given {len(values)} times with different values"
    if not _TENANT_ID.match(values[0]):
        return None, (f"1 validation error detected: Value {values[0][:80]!r} at 'tenantId' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9\\._:\\/=+\\-@ ]+")
    return values[0], None


def answer_invoke(method: str, target: str, headers: Mapping[str, str] | Message[str, str], body: bytes,
                  factory: HandlerFactory | None = None) -> Answer | None:
    """The HTTP answer to a Lambda Invoke request, or None when ``target`` is not one (the API's then).

    ``headers`` is looked up case-insensitively (``http.client`` headers are).
    ``factory`` builds the handler of a folder name (default ``lambda_handler``).
    """
    split = urlsplit(target)
    match = INVOKE_PATH.match(split.path)
    if method.upper() != "POST" or match is None:
        return None
    if factory is None:
        from .handler import lambda_handler

        factory = lambda_handler
    request_id = str(uuid.uuid4())
    region = settings.aws_region("us-east-2") or "us-east-2"
    folder = function_folder(match.group(1))
    if folder is None:
        arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{unquote(match.group(1))}"
        qualifier = parse_qs(split.query).get("Qualifier")
        return _aws_error(404, "ResourceNotFoundException",
                          f"Function not found: {arn}{':' + qualifier[0] if qualifier else ''}", request_id)
    invocation_type = headers.get("X-Amz-Invocation-Type") or "RequestResponse"
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        return _aws_error(400, "InvalidParameterValueException",
                          f"Unsupported invocation type {invocation_type!r}", request_id)
    limit = MAX_ASYNC_PAYLOAD_BYTES if invocation_type == "Event" else MAX_SYNC_PAYLOAD_BYTES
    if len(body) > limit:
        operation = "Invoke" if invocation_type == "Event" else "InvokeFunction"
        return _aws_error(413, "RequestTooLargeException",
                          f"Request must be smaller than {limit} bytes for the {operation} operation", request_id)
    try:
        event = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        return _aws_error(400, "InvalidRequestContentException",
                          f"Could not parse request body into json: {exc}", request_id)
    tenant, refusal = _tenant_id(headers)
    if refusal:
        return _aws_error(400, "InvalidParameterValueException", refusal, request_id)
    context = LocalLambdaContext(folder, request_id, region, tenant)
    base = [("x-amzn-RequestId", request_id)]
    if invocation_type == "DryRun":
        return 204, base, b""
    if invocation_type == "Event":
        threading.Thread(target=_run, args=(factory, folder, event, context), daemon=True,
                         name=f"local-lambda-{folder}").start()
        return 202, base, b""
    result, function_error = _run(factory, folder, event, context)
    try:
        data = json.dumps(result).encode("utf-8")
    except (TypeError, ValueError) as exc:
        result, function_error = {"errorMessage": f"Unable to marshal response: {exc}",
                                  "errorType": "Runtime.MarshalError"}, "Unhandled"
        data = json.dumps(result).encode("utf-8")
    if len(data) > MAX_SYNC_PAYLOAD_BYTES:
        function_error = "Unhandled"
        data = json.dumps({"errorMessage": f"Response payload size ({len(data)} bytes) exceeded maximum allowed "
                                           f"payload size ({MAX_SYNC_PAYLOAD_BYTES} bytes).",
                           "errorType": "Function.ResponseSizeTooLarge"}).encode("utf-8")
    headers_out = [("Content-Type", "application/json"), *base, ("X-Amz-Executed-Version", "$LATEST")]
    if function_error:
        headers_out.append(("X-Amz-Function-Error", function_error))
    return 200, headers_out, data


def lambda_folders(root: Path | None = None) -> list[str]:
    """The standalone Lambdas the local endpoint answers for (folders with a main.py)."""
    lambdas = (root or settings.app_root()) / "lambda"
    if not lambdas.is_dir():
        return []
    return sorted(p.name for p in lambdas.iterdir() if (p / "main.py").is_file())
