"""Shared pieces of the reliability suite (tests/test_reliability_*.py).

- ``use_reliability_app``: APP_ROOT -> tests/reliability_app for one test.
- ``report``: prints a scenario's figures and, when ``RELIABILITY_FIGURES``
  names a file, appends them there as one JSON line (tests/reliability_report.py
  turns those lines into tests/RELIABILITY.md).
- ``HttpFault``: a botocore ``before-send`` hook that answers chosen calls of
  one client with an HTTP error instead of sending them (the fault happens
  where a real one would: inside botocore's retry loop).
- small probes: a free port, the process RSS, a deadline loop.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from aws_helper_sync import loading

if TYPE_CHECKING:
    from typing_extensions import Self

RELIABILITY_APP = Path(__file__).parent / "reliability_app"
FIGURES_ENV = "RELIABILITY_FIGURES"


def use_reliability_app(monkeypatch: Any) -> Iterator[Path]:
    """Body of a fixture: the sample app of this suite, with the class cache cleared around it."""
    monkeypatch.setenv("APP_ROOT", str(RELIABILITY_APP))
    loading.clear_cache()
    yield RELIABILITY_APP
    loading.clear_cache()



def entry_classes(name: str) -> dict[str, Any]:
    """The sample app's ``name`` class of every entry point (``api``, ``lambda``, ``sqs``,
    ``sqs-batch`` from ``<name>_batch``, ``fargate``), their ``ran`` lists emptied; call it
    inside ``use_reliability_app``."""
    from aws_helper_sync import FargateTask, Lambda
    from aws_helper_sync.api.router import resolve_route
    from aws_helper_sync.entrypoint import load_entry_class
    from aws_helper_sync.sqs.handler import load_consumer_class

    classes = {
        "api": resolve_route("POST", (name,))[0],
        "lambda": load_entry_class(Lambda, "lambda", name, "main.py", "Lambda"),
        "sqs": load_consumer_class(name),
        "sqs-batch": load_consumer_class(f"{name}_batch"),
        "fargate": load_entry_class(FargateTask, "task", name, "task.py", "Task"),
    }
    for cls in classes.values():
        cls.ran.clear()
    return classes


def report(module: str, scenario: str, **figures: Any) -> None:
    """Print the figures of one scenario and keep them for tests/RELIABILITY.md."""
    print(f"\n[{module}] {scenario}")
    for name, value in figures.items():
        print(f"    {name}: {value}")
    target = os.environ.get(FIGURES_ENV)
    if target:
        line = json.dumps({"module": module, "scenario": scenario, "figures": figures}, default=str)
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        resident_pages = int(handle.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def wait_for(condition: Callable[[], bool], timeout: float, describe: Callable[[], str]) -> None:
    """Poll ``condition`` until it holds; fail with ``describe()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:.0f}s: {describe()}")
        time.sleep(0.05)


class _Body:
    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._content


class HttpFault:
    """Answer calls of ``operation`` on ``client`` with an HTTP error, without sending them.

    ``fail``: a predicate over the call number (1-based) and the request;
    True -> the fault response. Registered on ``before-send``, so botocore's
    own retry loop sees it exactly like a server answer. Use as a context
    manager; ``calls`` and ``faults`` count what happened.
    """

    def __init__(
        self,
        client: Any,
        operation: str,
        fail: Callable[[int, Any], bool],
        *,
        status: int = 400,
        code: str = "Throttling",
        message: str = "Rate exceeded",
    ) -> None:
        self.client = client
        self.event = f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}"
        self.fail = fail
        self.status = status
        self.code = code
        self.message = message
        self.calls = 0
        self.faults = 0
        self._lock = threading.Lock()
        self._id = f"http-fault-{id(self)}"

    def __enter__(self) -> Self:
        self.client.meta.events.register(self.event, self, unique_id=self._id)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.meta.events.unregister(self.event, self, unique_id=self._id)

    def __call__(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        with self._lock:
            self.calls += 1
            if not self.fail(self.calls, request):
                return None
            self.faults += 1
        protocol = self.client.meta.service_model.protocol
        if protocol == "query":
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{self.code}</Code><Message>{self.message}</Message></Error>"
                "<RequestId>injected-fault</RequestId></ErrorResponse>"
            ).encode()
            headers = {"Content-Type": "text/xml"}
        else:
            body = json.dumps({"__type": self.code, "message": self.message}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-query-error": f"{self.code};Sender"}
        return AWSResponse(request.url, self.status, headers, _Body(body))
