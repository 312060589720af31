"""The real Lambda runtime client (awslambdaric) driven by a fake Lambda Runtime API on 127.0.0.1.

Lambda runs a Python function as ``python -m awslambdaric <module>.<function>``:
the client imports the handler module from the task root, then loops on
``GET /2018-06-01/runtime/invocation/next`` and answers each invocation with
``POST .../invocation/<id>/response`` or ``.../error`` (``/init/error`` when the
handler cannot be loaded). ``FakeRuntimeAPI`` is that HTTP API: ``invoke(event)``
hands one event to the runtime, with the headers Lambda sends (request id,
deadline, function ARN, trace id, tenant id), and returns what the runtime
posted back. ``lambda_runtime(...)`` starts the client in a subprocess of its own
session and kills the whole process group (forked workers included) on exit.

What awslambdaric (4.2.x) does with them, read from its source:
- ``AWS_LAMBDA_RUNTIME_API`` (host:port) is read by the native client at import;
- the context is ``LambdaContext(request id, client context, cognito identity,
  Lambda-Runtime-Deadline-Ms, Lambda-Runtime-Invoked-Function-Arn,
  tenant_id=Lambda-Runtime-Aws-Tenant-Id)``; ``get_remaining_time_in_millis()``
  is the deadline minus the wall clock;
- with ``AWS_LAMBDA_MAX_CONCURRENCY=N`` (Lambda Managed Instances) the parent
  forks N worker processes, each polling ``/next`` on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-2:123456789012:function:land-records"
START_TIMEOUT = 20.0  # seconds for a runtime to import its handler and poll (a loaded 2-core CI box)


@dataclass
class Invocation:
    """One event handed to the runtime, and what the runtime posted back."""

    request_id: str
    event: Any
    headers: dict[str, str]
    outcome: str | None = None  # "response" or "error"
    payload: Any = None
    error_type: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the runtime client (libcurl) expects
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:
        if self.path != f"{PREFIX}/invocation/next":
            self._answer(404)
            return
        api = self.server.api
        invocation = api._next_invocation()
        if invocation is None:  # the fake is closing: the runtime is being killed anyway
            self._answer(500)
            return
        body = json.dumps(invocation.event).encode("utf-8")
        self._answer(200, body, {"Content-Type": "application/json", **invocation.headers})

    def do_POST(self) -> None:
        api = self.server.api
        body = self._body()
        parts = self.path[len(PREFIX):].strip("/").split("/")
        if parts == ["init", "error"]:
            api.init_errors.put({"error_type": self.headers.get("Lambda-Runtime-Function-Error-Type"),
                                 "payload": json.loads(body or b"null")})
            self._answer(202)
            return
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            invocation = api.invocations.get(parts[1])
            if invocation is None or invocation.done.is_set():
                self._answer(400 if invocation is None else 403)
                return
            invocation.outcome = parts[2]
            invocation.payload = json.loads(body or b"null")
            invocation.error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            self._answer(202)
            invocation.done.set()
            return
        self._answer(404)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: FakeRuntimeAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed runtime drops its polls
            super().handle_error(request, client_address)


class FakeRuntimeAPI:
    """The Lambda Runtime API (2018-06-01) on 127.0.0.1, for one runtime (or its forked workers)."""

    def __init__(self) -> None:
        self.pending: queue.Queue[Invocation] = queue.Queue()
        self.invocations: dict[str, Invocation] = {}
        self.init_errors: queue.Queue[dict[str, Any]] = queue.Queue()
        self.polling = 0  # GET /next requests waiting for an event right now
        self._condition = threading.Condition()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-lambda-runtime-api", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """The value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def _next_invocation(self) -> Invocation | None:
        with self._condition:
            self.polling += 1
            self._condition.notify_all()
        try:
            while not self._closing.is_set():
                try:
                    return self.pending.get(timeout=0.05)
                except queue.Empty:
                    continue
            return None
        finally:
            with self._condition:
                self.polling -= 1

    def wait_polling(self, count: int, timeout: float = START_TIMEOUT) -> None:
        """Until ``count`` GET /next wait at once (that many workers are ready)."""
        with self._condition:
            if not self._condition.wait_for(lambda: self.polling >= count, timeout):
                raise AssertionError(f"{self.polling} runtime workers polling after {timeout} s, expected {count}")

    def submit(self, event: Any, *, tenant_id: str | None = None, deadline_in_ms: int = 30_000,
               function_arn: str = FUNCTION_ARN) -> Invocation:
        """Queue ``event`` for the next GET /next, with a deadline ``deadline_in_ms`` from now."""
        request_id = str(uuid.uuid4())
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + deadline_in_ms),
            "Lambda-Runtime-Invoked-Function-Arn": function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};"
                                       f"Parent={uuid.uuid4().hex[:16]};Sampled=0",
        }
        if tenant_id is not None:
            headers["Lambda-Runtime-Aws-Tenant-Id"] = tenant_id
        invocation = Invocation(request_id, event, headers)
        self.invocations[request_id] = invocation
        self.pending.put(invocation)
        return invocation

    def invoke(self, event: Any, *, timeout: float = START_TIMEOUT, **kw: Any) -> Invocation:
        """Hand ``event`` to the runtime and wait for its answer."""
        return self.wait(self.submit(event, **kw), timeout)

    @staticmethod
    def wait(invocation: Invocation, timeout: float = START_TIMEOUT) -> Invocation:
        if not invocation.done.wait(timeout):
            raise AssertionError(f"the runtime did not answer invocation {invocation.request_id} in {timeout} s")
        return invocation

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@dataclass
class Runtime:
    """A running ``python -m awslambdaric <handler>`` and its fake Runtime API."""

    api: FakeRuntimeAPI
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        """What the runtime wrote to stdout and stderr so far (its CloudWatch log)."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def invoke(self, event: Any, **kw: Any) -> Invocation:
        try:
            return self.api.invoke(event, **kw)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; runtime exit code {self.process.poll()}, log:\n{self.output()}") from None

    def response(self, event: Any, **kw: Any) -> Any:
        """The handler's return value for ``event`` (the invocation must succeed)."""
        invocation = self.invoke(event, **kw)
        assert invocation.outcome == "response", (invocation.payload, self.output())
        return invocation.payload


def runtime_environment(task_root: Path, handler: str, api_address: str, **extra: str) -> dict[str, str]:
    """The environment Lambda gives a function: the task root is the app root (no APP_ROOT)."""
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ROOT", "PYTEST_CURRENT_TEST")}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    env.update(
        AWS_LAMBDA_RUNTIME_API=api_address,
        LAMBDA_TASK_ROOT=str(task_root),
        _HANDLER=handler,
        AWS_EXECUTION_ENV=f"AWS_Lambda_python{version}",
        AWS_LAMBDA_FUNCTION_NAME="land-records",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/land-records",
        AWS_LAMBDA_LOG_STREAM_NAME="2026/12/01/[$LATEST]0123456789abcdef",
        PYTHONPATH=str(ROOT),  # the library under test (on Lambda: installed in the task root)
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def lambda_runtime(handler: str, task_root: Path, *, argv: list[str] | None = None,
                   wait_workers: int = 1, **extra_env: str) -> Iterator[Runtime]:
    """``python -m awslambdaric <handler>`` with cwd and LAMBDA_TASK_ROOT = ``task_root``.

    ``argv`` replaces the command (same environment); the runtime is ready when
    ``wait_workers`` GET /next wait at once. On exit the whole process group is killed.
    """
    task_root = task_root.resolve()
    api = FakeRuntimeAPI()
    log = tempfile.NamedTemporaryFile(prefix="awslambdaric-", suffix=".log", delete=False)  # noqa: SIM115
    command = argv or [sys.executable, "-m", "awslambdaric", handler]
    process = subprocess.Popen(
        command, cwd=task_root, env=runtime_environment(task_root, handler, api.address, **extra_env),
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    runtime = Runtime(api, process, Path(log.name))
    try:
        if wait_workers:
            _wait_ready(runtime, wait_workers)
        yield runtime
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the forked workers too: same process group
        process.wait(10)
        group_gone(process.pid)
        api.close()
        log.close()
        os.unlink(log.name)


def _wait_ready(runtime: Runtime, workers: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if runtime.process.poll() is not None:
            raise AssertionError(f"the runtime exited with {runtime.process.returncode}:\n{runtime.output()}")
        try:
            runtime.api.wait_polling(workers, timeout=0.1)
            return
        except AssertionError:
            continue
    raise AssertionError(f"the runtime is not polling after {START_TIMEOUT} s:\n{runtime.output()}")


def _group_members(pgid: int) -> list[str]:
    """States (R, S, Z...) of the processes of group ``pgid``, from /proc (Linux)."""
    states = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while we looked
        if int(fields[2]) == pgid:
            states.append(fields[0])
    return states


def group_gone(pgid: int, timeout: float = 10.0) -> bool:
    """Whether every process of the group has ended (a zombie waiting for init to reap it has)."""
    deadline = time.monotonic() + timeout
    while True:
        if Path("/proc/self/stat").exists():
            if all(state == "Z" for state in _group_members(pgid)):
                return True
        else:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str = "us-east-2") -> dict[str, Any]:
    """An SQS message as received by boto3 (all attributes) in the shape Lambda's event source delivers it."""
    attributes = {
        name: {"stringValue": value.get("StringValue"), "stringListValues": [], "binaryListValues": [],
               "dataType": value["DataType"]}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sns_envelope(content: Any, state: str, topic_arn: str = "arn:aws:sns:us-east-2:123456789012:parcel-events") -> str:
    """The body of an SQS message delivered by an SNS subscription without raw delivery."""
    return json.dumps({
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Message": json.dumps(content),
        "Timestamp": "2026-12-01T09:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + topic_arn + ":1",
        "MessageAttributes": {"constitution-state": {"Type": "String", "Value": state}},
    })
