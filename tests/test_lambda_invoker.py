"""LambdaInvoker end to end through the local Lambda Invoke endpoint of ``serve`` (issue 14 §2).

The endpoint runs the sample app's standalone Lambdas (tests/app/lambda) on
SecantusDB; the invoker's client is the library's cached boto3 client, pointed at
it with AWS_ENDPOINT_URL_LAMBDA while AWS_ENDPOINT_URL stays on moto (whose Lambda
would need Docker): so every test also proves the per-service endpoint wins.
"""

from __future__ import annotations

import datetime
import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from bson import Decimal128, ObjectId

from aws_helper_sync import (
    InvalidStateError,
    LambdaInvocationError,
    LambdaInvoker,
    state_scope,
)
from aws_helper_sync.api.local_server import serve_api
from aws_helper_sync.aws import aws_client
from aws_helper_sync.entrypoint import MissingStateError
from aws_helper_sync.lambda_standalone.invoker import (
    MAX_ASYNC_PAYLOAD_BYTES,
    MAX_SYNC_PAYLOAD_BYTES,
    LambdaPayloadTooLargeError,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def endpoint(app_root, mongo_client, aws, monkeypatch):
    """``serve``'s server for tests/app in a thread; Lambda calls go to it, the rest to moto."""
    server = serve_api(app_root, port=0).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
    try:
        yield server
    finally:
        server.stop()


class CallCounter:
    """Counts the Invoke calls that the library's Lambda client really sends."""

    def __init__(self, invoker: LambdaInvoker) -> None:
        self.events = invoker.lambda_client.meta.events
        self.calls = 0
        self.events.register("before-send.lambda.Invoke", self._count, unique_id="count-invoke")

    def _count(self, **_: Any) -> None:
        self.calls += 1

    def close(self) -> None:
        self.events.unregister("before-send.lambda.Invoke", unique_id="count-invoke")


@pytest.fixture
def counted():
    counters: list[CallCounter] = []

    def count(invoker: LambdaInvoker) -> CallCounter:
        counters.append(CallCounter(invoker))
        return counters[-1]

    yield count
    for counter in counters:
        counter.close()


def wait_for(condition, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not true within {timeout}s"
        time.sleep(0.05)


# --- RequestResponse ---


def test_invoke_runs_the_lambda_in_the_callers_state_and_returns_its_data(endpoint, mongo_client, make_state):
    state = make_state("connecticut")

    with state_scope(state):
        data = LambdaInvoker("land_records").invoke({"parcel_id": 7})

    assert data["state"] == state and data["parcel_id"] == 7
    assert data["recorded_at"].startswith("2024-05-06T07:08:09")  # Mongo types serialized by the Lambda
    stored = mongo_client[state].land_records.find_one({"parcel_id": 7})
    assert str(stored["_id"]) == data["_id"] and stored["state"] == state


def test_the_client_is_the_cached_one_on_the_lambda_endpoint_while_others_stay_on_moto(endpoint, aws):
    invoker = LambdaInvoker("echo")

    assert invoker.lambda_client is LambdaInvoker("failing").lambda_client
    assert invoker.lambda_client.meta.endpoint_url == endpoint.url
    assert aws_client("sqs").meta.endpoint_url == aws.endpoint_url


def test_an_explicit_state_overrides_the_current_one_and_is_validated(endpoint, mongo_client, make_state, counted):
    current, explicit = make_state("ohio"), make_state("iowa")
    invoker = LambdaInvoker("land_records")
    counter = counted(invoker)

    with state_scope(current):
        assert invoker.invoke({"parcel_id": 1}, state=explicit)["state"] == explicit
        for bad in ("admin", "Connecticut", "a/b", 7):
            with pytest.raises(InvalidStateError):
                invoker.invoke({"parcel_id": 2}, state=bad)

    assert counter.calls == 1
    assert mongo_client[explicit].land_records.count_documents({}) == 1
    assert current not in mongo_client.list_database_names()


def test_without_a_state_nothing_is_sent(endpoint, counted):
    invoker = LambdaInvoker("echo")
    counter = counted(invoker)

    with pytest.raises(MissingStateError, match="no constitution-state"):
        invoker.invoke({"x": 1})
    with pytest.raises(MissingStateError):
        invoker.invoke_async({"x": 1})

    assert counter.calls == 0


def test_mongo_types_in_the_data_are_encoded(endpoint, make_state):
    oid = ObjectId()
    sent = {"oid": oid, "at": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "amount": Decimal128("12.50"), "price": Decimal("3.25"), "tags": {"b"}, "text": "Hartford ü €"}

    with state_scope(make_state("maine")):
        data = LambdaInvoker("echo").invoke(sent)

    assert data["data"] == {"oid": str(oid), "at": "2026-01-02T03:04:05+00:00", "amount": 12.5, "price": 3.25,
                            "tags": ["b"], "text": "Hartford ü €"}


def test_non_json_data_is_refused_before_the_call(endpoint, counted, make_state):
    invoker = LambdaInvoker("echo")
    counter = counted(invoker)

    with state_scope(make_state("maine")):
        for bad in ({"f": object()}, {"s": "\ud800"}, {"c": 1j}):
            with pytest.raises(ValueError, match="not JSON serializable"):
                invoker.invoke(bad)

    assert counter.calls == 0


# --- failures ---


@pytest.mark.parametrize(("name", "data", "error", "error_type"), [
    ("failing", {}, "recorder offline", "RuntimeError"),
    ("land_records", {}, "parcel_id is required", "ValueError"),
    ("land_records", 5, "not iterable", "TypeError"),   # data validate() cannot read: the Lambda's own error
])
def test_success_false_raises_with_the_lambdas_error(endpoint, make_state, name, data, error, error_type):
    with state_scope(make_state("texas")), pytest.raises(LambdaInvocationError) as caught:
        LambdaInvoker(name).invoke(data)

    assert caught.value.error_type == error_type and error in caught.value.error
    assert caught.value.function_error is None and caught.value.request_id


def test_a_function_that_crashes_raises_with_the_function_error(endpoint, make_state):
    """sys.exit() in process() escapes lambda_handler: Lambda answers FunctionError: Unhandled."""
    with state_scope(make_state("texas")), pytest.raises(LambdaInvocationError) as caught:
        LambdaInvoker("exiting").invoke({})

    assert caught.value.function_error == "Unhandled"
    assert caught.value.error_type == "Runtime.ExitError" and "exit status 3" in caught.value.error


def test_an_unknown_function_is_a_resource_not_found_client_error(endpoint, make_state):
    with state_scope(make_state("texas")), pytest.raises(ClientError) as caught:
        LambdaInvoker("no_such_lambda").invoke({})

    error = caught.value.response["Error"]
    assert error["Code"] == "ResourceNotFoundException"
    assert "Function not found: arn:aws:lambda:us-east-2:000000000000:function:no_such_lambda" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --- Event ---


def test_invoke_async_returns_the_request_id_and_the_lambda_runs_in_its_state(endpoint, mongo_client, make_state):
    state = make_state("vermont")

    with state_scope(state):
        request_id = LambdaInvoker("land_records").invoke_async({"parcel_id": 11})

    assert isinstance(request_id, str) and len(request_id) == 36
    stored = wait_for(lambda: mongo_client[state].land_records.find_one({"parcel_id": 11}))
    assert stored["state"] == state


# --- payload limits ---


def test_oversized_payloads_are_refused_before_the_call(endpoint, counted, make_state):
    invoker = LambdaInvoker("echo")
    counter = counted(invoker)
    envelope = len(json.dumps({"constitution-state": make_state("utah"), "data": {"blob": ""}},
                              separators=(",", ":")))

    with state_scope(make_state("utah")):
        with pytest.raises(LambdaPayloadTooLargeError, match="synchronous limit of 6291456 bytes"):
            invoker.invoke({"blob": "x" * (MAX_SYNC_PAYLOAD_BYTES - envelope + 1)})
        with pytest.raises(LambdaPayloadTooLargeError, match="asynchronous limit of 1048576 bytes"):
            invoker.invoke_async({"blob": "x" * (MAX_ASYNC_PAYLOAD_BYTES - envelope + 1)})
        assert counter.calls == 0
        # exactly at the limits they go out (the sync one is echoed back)
        assert len(invoker.invoke({"blob": "x" * (MAX_ASYNC_PAYLOAD_BYTES - envelope + 1)})["data"]["blob"]) > 0
        assert invoker.invoke_async({"blob": "x" * (MAX_ASYNC_PAYLOAD_BYTES - envelope)})
    assert counter.calls == 2


def test_the_endpoint_refuses_what_lambda_refuses(endpoint, boto_client):
    """A raw boto3 client (no LambdaInvoker checks): the endpoint's own limits and errors, shaped like AWS."""
    import boto3
    from botocore.config import Config

    client = boto3.client("lambda", region_name="us-east-2", endpoint_url=endpoint.url,
                          config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName="echo", InvocationType="Event", Payload=b"{" + b" " * MAX_ASYNC_PAYLOAD_BYTES + b"}")
    assert caught.value.response["Error"]["Code"] == "RequestTooLargeException"
    with pytest.raises(ClientError) as caught:
        client.invoke(FunctionName="echo", Payload=b"{not json")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert client.invoke(FunctionName="echo", InvocationType="DryRun")["StatusCode"] == 204

    response = client.invoke(FunctionName="arn:aws:lambda:us-east-2:000000000000:function:echo",
                             Payload=json.dumps({"constitution-state": "texas", "data": {"n": 1}}))
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    result = json.loads(response["Payload"].read())
    assert result["success"] is True and result["data"]["data"] == {"n": 1}


def test_the_api_routes_still_answer_next_to_the_invoke_endpoint(endpoint):
    request = urllib.request.Request(f"{endpoint.url}/2015-03-31/functions/echo/invocations")  # GET: not Invoke
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code in (400, 404)  # the API's answer (no route / no state), not the Lambda's


# --- threads ---


def test_many_threads_share_one_client_and_each_invocation_gets_its_callers_state(endpoint, make_state):
    invoker = LambdaInvoker("echo")
    start = threading.Barrier(16)
    seen: dict[int, list[str]] = {}
    clients, errors = set(), []

    def work(n: int) -> None:
        try:
            start.wait()
            with state_scope(make_state(f"s{n}")):
                clients.add(id(invoker.lambda_client))
                seen[n] = [invoker.invoke({"n": n, "k": k})["state"] for k in range(3)]
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(clients) == 1
    assert seen == {n: [make_state(f"s{n}")] * 3 for n in range(16)}


# --- the serve command ---


def test_the_serve_command_answers_invoke_for_the_apps_lambdas(app_root, mongo_uri, mongo_client, aws, make_state,
                                                                monkeypatch):
    process = subprocess.Popen(
        [sys.executable, "-m", "aws_helper_sync.cli", "serve", "--app-root", str(app_root), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT,
        env={**os.environ, "MONGODB_URI": mongo_uri},
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "serve printed nothing in 30 s"
        url = process.stdout.readline().split(" at ", 1)[1].split()[0]
        lambdas = process.stdout.readline()
        assert f"AWS_ENDPOINT_URL_LAMBDA={url}" in lambdas and "land_records" in lambdas
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", url)
        state = make_state("oregon")

        with state_scope(state):
            data = LambdaInvoker("land-records").invoke({"parcel_id": 3})  # - for _, as function names go

        assert data["state"] == state
        assert mongo_client[state].land_records.count_documents({"parcel_id": 3}) == 1
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr


def test_a_function_name_cannot_reach_outside_lambda(endpoint):
    """Names become paths: an encoded ../ (or any character a folder name cannot hold) is just not found."""
    for name in ("%2E%2E%2Fapi%2Fusers", "..", "echo%00", "arn%3Aaws%3Alambda%3Aus-east-2%3A1%3Afunction%3A..%2Fecho"):
        request = urllib.request.Request(f"{endpoint.url}/2015-03-31/functions/{name}/invocations",
                                         data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert caught.value.code == 404, name
        assert caught.value.headers["x-amzn-ErrorType"] == "ResourceNotFoundException:"
        assert json.loads(caught.value.read())["message"].startswith("Function not found: arn:aws:lambda:")


@pytest.mark.parametrize(("name", "folder"), [
    ("echo", "echo"),
    ("land-records", "land_records"),
    ("echo:live", "echo"),
    ("arn:aws:lambda:us-east-2:123456789012:function:echo", "echo"),
    ("arn:aws:lambda:us-east-2:123456789012:function:echo:3", "echo"),
    ("123456789012:function:land-records", "land_records"),
    ("nothing", None),
    ("arn:aws:lambda:us-east-2:123456789012:layer:echo", None),
])
def test_function_names_map_to_lambda_folders(app_root, name, folder):
    from aws_helper_sync.lambda_standalone.local_invoke import function_folder

    assert function_folder(name) == folder


def test_the_region_of_a_function_arn_is_used(monkeypatch):
    assert LambdaInvoker("arn:aws:lambda:eu-west-1:123456789012:function:echo").region == "eu-west-1"
    assert LambdaInvoker("echo", "ap-south-1").region == "ap-south-1"
    assert LambdaInvoker("echo").region == "us-east-2"
    with pytest.raises(ValueError, match="function_name is required"):
        LambdaInvoker("")


def test_loading_the_senders_imports_neither_boto3_nor_pymongo():
    code = (
        "import sys, aws_helper_sync; aws_helper_sync.LambdaInvoker; aws_helper_sync.SQSPublisher; "
        "import aws_helper_sync.lambda_standalone.local_invoke; "
        "print(sorted(m for m in ('boto3', 'botocore', 'pymongo', 'bson') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("returned", "error_type", "error"), [
    ({"statusCode": 200, "body": "{}"}, "InvalidResponse", "not a standalone Lambda result"),
    ("plain text", "InvalidResponse", "not a standalone Lambda result"),
    ({"errorType": "TimeoutError", "errorMessage": "upstream timed out"}, "TimeoutError", "upstream timed out"),
    ({"success": False}, "Error", "no error message"),
])
def test_a_foreign_lambdas_answer_is_not_taken_for_data(endpoint, make_state, monkeypatch, returned, error_type,
                                                        error):
    """A function that is not a standalone Lambda of this library (its handler swapped in the endpoint)."""
    from aws_helper_sync.lambda_standalone import handler as handler_module

    monkeypatch.setattr(handler_module, "lambda_handler", lambda name: lambda event, context: returned)

    with state_scope(make_state("idaho")), pytest.raises(LambdaInvocationError) as caught:
        LambdaInvoker("echo").invoke({})

    assert caught.value.error_type == error_type and error in caught.value.error
    assert caught.value.function_error is None
