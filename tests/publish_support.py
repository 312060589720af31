"""Helpers of the concurrent-publish tests: latency and an in-flight count on the library's clients.

``InFlight`` hooks a botocore client (the library's own cached one): every call
of the chosen operations sleeps ``latency`` seconds before it is handled (so the
requests of one list overlap, as they do against a distant endpoint), and the
most calls in flight at once is recorded, with the thread and state each call
ran in, and each batch entry the service accepted with the id it gave it
(``sent``). Registered first, it sees every call, also those a later hook
answers without sending.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from aws_helper_sync import get_state

if TYPE_CHECKING:
    from typing_extensions import Self

POOL_THREAD_PREFIX = "aws-helper-sync-send"


class InFlight:
    """Counts the calls of ``operations`` on ``client`` in flight (peak overall and from the send pool)."""

    def __init__(self, client: Any, operations: tuple[str, ...], latency: float = 0.02) -> None:
        self.client = client
        self.latency = latency
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.pool_now = self.pool_peak = 0
        self.calls: list[tuple[str, str | None]] = []  # (thread name, state) of each call
        self.sent: list[tuple[dict[str, Any], str]] = []  # (batch entry as sent, its message id)
        self._uid = uuid.uuid4().hex
        service = client.meta.service_model.endpoint_prefix
        self._hooks = []
        for operation in operations:
            self._hooks += [(f"provide-client-params.{service}.{operation}", self._params),
                            (f"before-call.{service}.{operation}", self._start),
                            (f"after-call.{service}.{operation}", self._end),
                            (f"after-call-error.{service}.{operation}", self._end)]

    def __enter__(self) -> Self:
        for event, hook in self._hooks:
            self.client.meta.events.register_first(event, hook, unique_id=f"{self._uid}-{event}")
        return self

    def __exit__(self, *exc: object) -> None:
        for event, hook in self._hooks:
            self.client.meta.events.unregister(event, hook, unique_id=f"{self._uid}-{event}")

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["in_flight_entries"] = params.get("PublishBatchRequestEntries") or params.get("Entries") or []

    def _start(self, **_: Any) -> None:
        name = threading.current_thread().name
        with self.lock:
            self.calls.append((name, get_state()))
            self.now += 1
            self.peak = max(self.peak, self.now)
            if name.startswith(POOL_THREAD_PREFIX):
                self.pool_now += 1
                self.pool_peak = max(self.pool_peak, self.pool_now)
        time.sleep(self.latency)

    def _end(self, context: dict[str, Any], parsed: dict[str, Any] | None = None, **_: Any) -> None:
        entries = {entry["Id"]: entry for entry in context.get("in_flight_entries", [])}
        accepted = [(entries[item["Id"]], item["MessageId"]) for item in (parsed or {}).get("Successful", [])
                    if item["Id"] in entries]
        with self.lock:
            self.sent += accepted
            self.now -= 1
            if threading.current_thread().name.startswith(POOL_THREAD_PREFIX):
                self.pool_now -= 1

    @property
    def threads(self) -> set[str]:
        return {name for name, _ in self.calls}
