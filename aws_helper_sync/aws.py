"""Thread-safe, cached boto3 clients.

Creating a client from boto3's default session is not thread-safe, and each
creation costs milliseconds, so clients are made once per (service, region,
endpoint) under a lock and shared (boto3 clients themselves are thread-safe).
``AWS_ENDPOINT_URL`` (LocalStack, moto) is honoured, and a service's own
``AWS_ENDPOINT_URL_<SERVICE>`` (``AWS_ENDPOINT_URL_LAMBDA``, ``..._SQS``) wins over
it, as in boto3 itself: SQS on moto and Lambda on ``aws-helper-sync serve``.

    sns = aws_client("sns")
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, overload

from . import settings

if TYPE_CHECKING:  # boto3-stubs (the test extra): precise clients for the services the library uses
    from typing import Literal

    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

DEFAULT_REGION = "us-east-2"

_lock = threading.Lock()
_session: Any = None
_clients: dict[tuple[str, str, str | None, int | None], Any] = {}


@overload
def aws_client(service: Literal["ecs"], region: str | None = None, *, read_timeout: int | None = None) -> ECSClient: ...
@overload
def aws_client(
    service: Literal["lambda"], region: str | None = None, *, read_timeout: int | None = None
) -> LambdaClient: ...
@overload
def aws_client(service: Literal["sns"], region: str | None = None, *, read_timeout: int | None = None) -> SNSClient: ...
@overload
def aws_client(service: Literal["sqs"], region: str | None = None, *, read_timeout: int | None = None) -> SQSClient: ...
@overload
def aws_client(service: str, region: str | None = None, *, read_timeout: int | None = None) -> Any: ...


def aws_client(service: str, region: str | None = None, *, read_timeout: int | None = None) -> Any:
    """The shared boto3 client for ``service`` in ``region`` (default: AWS_REGION, us-east-2).

    ``read_timeout`` (seconds) gets a client of its own, for calls that may run
    longer than botocore's 60 s default (a synchronous Lambda invoke runs up to 15 minutes).
    """
    region = region or settings.aws_region(DEFAULT_REGION)
    endpoint = endpoint_url(service)
    key = (service, region, endpoint, read_timeout)
    client = _clients.get(key)
    if client is not None:
        return client
    with _lock:
        client = _clients.get(key)
        if client is None:
            global _session
            if _session is None:
                import boto3.session

                _session = boto3.session.Session()
            config = None
            if read_timeout is not None:
                from botocore.config import Config

                config = Config(read_timeout=read_timeout)
            client = _session.client(service, region_name=region, endpoint_url=endpoint, config=config)
            _clients[key] = client
        return client


def endpoint_url(service: str) -> str | None:
    """``AWS_ENDPOINT_URL_<SERVICE>`` (e.g. ``AWS_ENDPOINT_URL_LAMBDA``), else ``AWS_ENDPOINT_URL``, else None.

    The client is built with an explicit ``endpoint_url``, which would hide
    boto3's own per-service variables, so they are read here the way boto3 names
    them (the service id upper-cased, ``-`` and spaces as ``_``).
    """
    specific = settings.env("AWS_ENDPOINT_URL_" + service.upper().replace("-", "_").replace(" ", "_"))
    return specific or settings.aws_endpoint_url()


def reset_clients() -> None:
    """Forget cached clients and the session (after credential or endpoint changes)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def _after_fork_in_child() -> None:
    # The lock may have been held by a parent thread creating a client (it
    # would never be released here), and the parent's clients share its pooled
    # connections: a forked child starts with a fresh lock, session and clients.
    global _lock, _session, _clients
    _lock = threading.Lock()
    _session = None
    _clients = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


RETRYABLE_ERROR_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequestsException",
    "RequestLimitExceeded", "ServiceUnavailable", "InternalError", "InternalFailure",
    "KmsThrottled", "RequestTimeout",
})


def is_retryable_error(exc: BaseException) -> bool:
    """Transient AWS trouble (throttling, 5xx, connection) that a later attempt may get past.

    botocore retries these itself, but how often depends on its version and on
    AWS_RETRY_MODE / AWS_MAX_ATTEMPTS; callers that must not lose work (the
    publisher, the worker) retry again on their own terms.
    """
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code") in RETRYABLE_ERROR_CODES or status >= 500
    return False
