"""Sixteen threads, twenty states, one process: nothing crosses from one state to another.

For a fixed time, 16 threads mix three kinds of work over 20 states:
- 6 send API requests (``POST /notes`` and, every third time, ``GET`` it back),
- 5 hand 10-record SQS batches spread over several states to ``sqs_handler``
  (batch mode: each batch fans out to a pool of 4 group threads),
- 5 write through one shared ``Repository`` instance inside ``state_scope``.
Every document stores the state its sender meant and the state the framework
had in context. Afterwards: no document anywhere names a state other than its
database's, every write that was acknowledged is there, no thread raised, the
library's one MongoClient kept its pool bounded by the work's concurrency
(counted with a pymongo ConnectionPoolListener), and the RSS after warm-up
grew by less than 20%.

The default run lasts 5 seconds; ``pytest -m slow`` runs the 30-second one.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from pymongo import monitoring

from aws_helper_sync import MongoManager, Repository, get_state, state_scope
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.sqs.handler import sqs_handler
from tests.api_events import json_body, v1_event, v2_event
from tests.reliability_support import report, rss_bytes, use_reliability_app
from tests.sqs_support import lambda_event, lambda_record

STATES = 20
API_THREADS, SQS_THREADS, REPOSITORY_THREADS = 6, 5, 5
SQS_GROUP_THREADS = 4  # LoadWriterConsumer.max_workers
# The most connections the work can hold at once: one per API or repository
# thread, one per group thread of each SQS batch.
CONCURRENCY_BOUND = API_THREADS + REPOSITORY_THREADS + SQS_THREADS * SQS_GROUP_THREADS
MAX_RSS_GROWTH = 0.20
COLLECTIONS = ("notes", "load_records", "load_repository")


class LoadRepository(Repository):
    collection_name = "load_repository"
    indexes = ({"key": [("intended_state", 1)]},)


class PoolCounter(monitoring.ConnectionPoolListener):
    """Connections of every pool the library's client opens: created, closed, open, checked out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pools = 0
        self.created = self.closed = 0
        self.checked_out = self.peak_checked_out = 0

    @property
    def open(self) -> int:
        return self.created - self.closed

    def pool_created(self, event: Any) -> None:
        with self._lock:
            self.pools += 1

    def connection_created(self, event: Any) -> None:
        with self._lock:
            self.created += 1

    def connection_closed(self, event: Any) -> None:
        with self._lock:
            self.closed += 1

    def connection_checked_out(self, event: Any) -> None:
        with self._lock:
            self.checked_out += 1
            self.peak_checked_out = max(self.peak_checked_out, self.checked_out)

    def connection_checked_in(self, event: Any) -> None:
        with self._lock:
            self.checked_out -= 1

    def pool_ready(self, event: Any) -> None: ...
    def pool_cleared(self, event: Any) -> None: ...
    def pool_closed(self, event: Any) -> None: ...
    def connection_ready(self, event: Any) -> None: ...
    def connection_check_out_started(self, event: Any) -> None: ...
    def connection_check_out_failed(self, event: Any) -> None: ...


@pytest.fixture
def reliability_app(monkeypatch):
    yield from use_reliability_app(monkeypatch)


@pytest.fixture
def counted_pool(mongo_client, mongo_uri):
    """The library's client, recreated with a pool listener (and closed again after the test)."""
    counter = PoolCounter()
    MongoManager.close()
    MongoManager.configure(mongo_uri, event_listeners=[counter])
    MongoManager.get_client()
    yield counter
    MongoManager.close()


class Load:
    """The shared bookkeeping of the worker threads: acknowledged writes and errors."""

    def __init__(self, states: list[str], seconds: float) -> None:
        self.states = states
        self.deadline = time.monotonic() + seconds
        self.written: dict[str, Counter[str]] = {name: Counter() for name in COLLECTIONS}
        self.operations: Counter[str] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def record(self, kind: str, collection: str | None = None, counts: Counter[str] | None = None) -> None:
        with self._lock:
            self.operations[kind] += 1
            if collection is not None and counts is not None:
                self.written[collection].update(counts)

    def error(self, where: str, problem: Any) -> None:
        with self._lock:
            if len(self.errors) < 50:
                self.errors.append(f"{where}: {problem}")


def api_worker(load: Load, number: int) -> None:
    states = itertools.cycle(load.states[number % STATES:] + load.states[:number % STATES])
    for request in itertools.count():
        if not load.running():
            return
        state = next(states)
        build = v1_event if request % 2 else v2_event
        headers = {"Constitution-State": state}
        response = api_handler(build("POST", "/notes", headers=headers,
                                     body={"text": f"note {number}-{request}", "intended_state": state}))
        if response["statusCode"] != 201 or json_body(response)["state"] != state:
            load.error(f"api {number}", response)
            continue
        load.record("api POST", "notes", Counter({state: 1}))
        if request % 3 == 0:
            note = api_handler(build("GET", f"/notes/{json_body(response)['_id']}", headers=headers))
            if note["statusCode"] != 200 or json_body(note)["intended_state"] != state:
                load.error(f"api {number} read-back", note)
            else:
                load.record("api GET")


def sqs_worker(load: Load, number: int) -> None:
    handler = sqs_handler("load_writer")
    for batch in itertools.count():
        if not load.running():
            return
        states = [load.states[(number * 7 + batch * 3 + i) % STATES] for i in range(4)]
        records = [
            lambda_record({"uid": uuid.uuid4().hex, "intended_state": states[i % 4]}, state=states[i % 4])
            for i in range(10)
        ]
        response = handler(lambda_event(*records))
        if response["batchItemFailures"]:
            load.error(f"sqs {number}", response)
            continue
        load.record("sqs batch", "load_records", Counter(states[i % 4] for i in range(10)))


def repository_worker(load: Load, number: int, repository: LoadRepository) -> None:
    for write in itertools.count():
        if not load.running():
            return
        state = load.states[(number * 11 + write) % STATES]
        with state_scope(state):
            repository.collection.insert_one({"intended_state": state, "written_in_state": get_state()})
            if repository.collection.database.name != state:
                load.error(f"repository {number}", f"collection of {repository.collection.database.name}")
        load.record("repository insert", "load_repository", Counter({state: 1}))


def guarded(load: Load, target: Any, *args: Any) -> Any:
    def run() -> None:
        try:
            target(load, *args)
        except BaseException as exc:  # a thread that dies is an error of the run, never silence
            load.error(threading.current_thread().name, repr(exc))
            raise
    return run


@pytest.mark.parametrize("seconds", [
    pytest.param(5, id="5s"),
    pytest.param(30, id="30s", marks=pytest.mark.slow),
])
def test_sixteen_threads_over_twenty_states_cross_nothing(
    reliability_app, mongo_client, counted_pool, make_state, seconds
):
    states = [make_state(f"s{n:02d}") for n in range(STATES)]
    repository = LoadRepository()  # one instance, shared by every thread and state
    load = Load(states, seconds)
    uncaught: list[str] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda args: uncaught.append(f"{args.thread.name}: {args.exc_value!r}")
    threads = (
        [threading.Thread(target=guarded(load, api_worker, n), name=f"api-{n}") for n in range(API_THREADS)]
        + [threading.Thread(target=guarded(load, sqs_worker, n), name=f"sqs-{n}") for n in range(SQS_THREADS)]
        + [threading.Thread(target=guarded(load, repository_worker, n, repository), name=f"repo-{n}")
           for n in range(REPOSITORY_THREADS)]
    )
    warm_up = seconds * 0.3
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        time.sleep(warm_up)
        gc.collect()
        rss_after_warm_up = rss_bytes()
        rss_peak = rss_after_warm_up
        while any(thread.is_alive() for thread in threads):
            rss_peak = max(rss_peak, rss_bytes())
            for thread in threads:
                thread.join(0.2)
        gc.collect()
        rss_at_end = rss_bytes()
    finally:
        load.deadline = 0
        for thread in threads:
            thread.join(30)
        threading.excepthook = previous_hook
    elapsed = time.monotonic() - started

    client = MongoManager.get_client()
    crossed, stored = 0, {name: Counter() for name in COLLECTIONS}
    for state in states:
        for name in COLLECTIONS:
            collection = client[state][name]
            stored[name][state] = collection.count_documents({})
            crossed += collection.count_documents(
                {"$or": [{"intended_state": {"$ne": state}}, {"written_in_state": {"$ne": state}}]})
    server_connections = client.admin.command("serverStatus").get("connections", {}).get("current")
    growth = (rss_at_end - rss_after_warm_up) / rss_after_warm_up
    report(
        "load", f"16 threads x {seconds} s over {STATES} states",
        threads=f"{API_THREADS} API, {SQS_THREADS} SQS batch (x{SQS_GROUP_THREADS} group threads), "
                f"{REPOSITORY_THREADS} repository",
        operations=dict(sorted(load.operations.items())),
        documents_written=sum(sum(c.values()) for c in stored.values()),
        cross_state_documents=crossed,
        thread_errors=len(load.errors) + len(uncaught),
        pools_created=counted_pool.pools,
        connections_created=counted_pool.created,
        connections_closed=counted_pool.closed,
        peak_connections_checked_out=counted_pool.peak_checked_out,
        concurrency_bound=CONCURRENCY_BOUND,
        server_connections_current=server_connections,
        rss_after_warm_up_mib=round(rss_after_warm_up / 2**20, 1),
        rss_peak_mib=round(rss_peak / 2**20, 1),
        rss_at_end_mib=round(rss_at_end / 2**20, 1),
        rss_growth_pct=round(100 * growth, 1),
        wall_time_s=round(elapsed, 1),
    )

    assert load.errors == [] and uncaught == []
    assert crossed == 0
    assert {name: +stored[name] for name in COLLECTIONS} == {name: +load.written[name] for name in COLLECTIONS}
    assert all(load.operations[kind] > 0 for kind in ("api POST", "api GET", "sqs batch", "repository insert"))
    assert counted_pool.pools == 1  # one client, one server: the library never made a second client
    assert counted_pool.peak_checked_out <= CONCURRENCY_BOUND
    assert counted_pool.open <= CONCURRENCY_BOUND
    assert counted_pool.closed == 0  # connections were reused, not churned
    assert growth < MAX_RSS_GROWTH
