"""SQS warm paths: the batch-mode pool shared by every invocation of a process, the consumer class cache.

Batch mode runs state groups on one pool per process (``context.threads.run_all``):
created on first use, reused by warm invocations, fresh in a forked child, joined
by the calling thread (one group runs there, no pool), never waited for from
inside itself. ``load_consumer_class`` caches the class per process; a consumer
that cannot be loaded is reported with its own error on every invocation.
Consumers are written into a temporary app root per test.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from contextvars import ContextVar
from pathlib import Path

import pytest

from aws_helper_sync import get_state, loading, state_scope
from aws_helper_sync.context import threads
from aws_helper_sync.loading import EntryPointNotFoundError
from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler
from tests import sqs_pool_support as support
from tests.sqs_support import failed_ids, lambda_event, lambda_record
from tests.test_fork_safety import fork_while_held
from tests.thread_support import run_together

RECORDER = '''
import time

from aws_helper_sync import Repository, SQSConsumer, get_state, set_state
from tests import sqs_pool_support as support

support.IMPORTS.append(__name__)


class PoolRecords(Repository):
    collection_name = "pool_records"


class RecorderConsumer(SQSConsumer):
    processing_mode = "batch"
    max_workers = None
    sleep = 0.0
    write = False

    def process_batch(self, records):
        leaked = support.MARKER.get()
        support.MARKER.set(f"set by the group of {get_state()}")  # must not reach any later group
        support.record_call(get_state(), [r["messageId"] for r in records], leaked)
        try:
            for record in records:
                expected = self.parse_body(record).get("state")
                if expected != get_state():
                    self.add_message_failed(record["messageId"], f"ran under {get_state()!r}, not {expected!r}")
            if self.write and get_state() is not None:
                PoolRecords().collection.insert_many([{"_id": r["messageId"]} for r in records])
            if self.sleep:
                time.sleep(self.sleep)
        finally:
            support.group_done()
        if get_state() is not None:
            set_state(None)  # a group clearing its state must not clear anybody else's
'''

NESTED = '''
from aws_helper_sync import SQSConsumer, get_state
from aws_helper_sync.sqs.handler import sqs_handler
from tests import sqs_pool_support as support


class NestedConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        inner = support.NESTED_EVENTS[get_state()]
        response = sqs_handler("recorder")(inner, None)  # from a pool thread, or from the caller's
        support.record_nested(get_state(), response)
'''


@pytest.fixture
def pool_app(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "consumer").mkdir()
    (tmp_path / "consumer" / "recorder.py").write_text(textwrap.dedent(RECORDER))
    (tmp_path / "consumer" / "nested.py").write_text(textwrap.dedent(NESTED))
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    loading.clear_cache()
    support.reset()
    yield tmp_path
    loading.clear_cache()
    support.reset()


def _event(states: list[str | None], per_state: int = 2) -> tuple[dict, dict[str | None, list[str]]]:
    records, ids = [], {s: [] for s in states}
    for i in range(per_state):
        for state in states:  # interleaved, as SQS delivers them
            record = lambda_record({"i": i, "state": state}, state=state)
            records.append(record)
            ids[state].append(record["messageId"])
    return lambda_event(*records), ids


def _thread_idents() -> set[int | None]:
    return {thread.ident for thread in threading.enumerate()}


# --- the pool: one per process, reused ---


def test_warm_invocations_reuse_the_pool_threads(pool_app, make_state):
    consumer = load_consumer_class("recorder")
    consumer.sleep = 0.01  # long enough for the helpers to take groups
    states = [make_state(f"p{i}") for i in range(8)]
    handler = sqs_handler("recorder")
    for _ in range(2):  # warm-up: the pool's threads start
        event, _ = _event(states)
        assert handler(event, None)["batchItemFailures"] == []
    warm_threads = _thread_idents()
    pool = threads._GROUPS.current[0]
    support.reset()

    for _ in range(10):
        event, _ = _event(states)
        assert handler(event, None)["batchItemFailures"] == []

    assert threads._GROUPS.current[0] is pool  # the same pool object
    assert _thread_idents() - warm_threads == set()  # no thread started
    used = {ident for _, _, _, ident in support.CALLS}
    assert used <= warm_threads
    assert len(used) > 1  # the groups did fan out
    assert len(support.CALLS) == 80


def test_a_single_state_group_runs_in_the_callers_thread(pool_app, make_state):
    state = make_state("solo")
    before = _thread_idents()

    response = sqs_handler("recorder")(_event([state], per_state=5)[0], None)

    assert response["batchItemFailures"] == []
    assert [(s, ident) for s, _, _, ident in support.CALLS] == [(state, threading.get_ident())]
    assert _thread_idents() - before == set()  # no pool needed, no thread started


def test_max_workers_one_runs_every_group_in_the_callers_thread(pool_app, make_state):
    load_consumer_class("recorder").max_workers = 1
    states = [make_state(f"one{i}") for i in range(3)]

    response = sqs_handler("recorder")(_event(states)[0], None)

    assert response["batchItemFailures"] == []
    assert {ident for _, _, _, ident in support.CALLS} == {threading.get_ident()}


def test_a_smaller_max_workers_is_honoured_by_the_grown_pool(pool_app, make_state):
    consumer = load_consumer_class("recorder")
    consumer.sleep = 0.02
    states = [make_state(f"w{i}") for i in range(8)]
    assert sqs_handler("recorder")(_event(states)[0], None)["batchItemFailures"] == []  # pool of 7 helpers
    consumer.max_workers = 2
    support.reset()

    assert sqs_handler("recorder")(_event(states)[0], None)["batchItemFailures"] == []

    assert support.max_concurrent() <= 2
    assert len(support.CALLS) == 8


def test_the_pool_grows_for_a_larger_max_workers_and_the_old_threads_exit(pool_app, make_state, monkeypatch):
    monkeypatch.setattr(threads._GROUPS, "current", (None, 0))  # this process's pool as if never used
    consumer = load_consumer_class("recorder")
    consumer.sleep = 0.02
    consumer.max_workers = 2
    assert sqs_handler("recorder")(_event([make_state("g1"), make_state("g2")])[0], None)["batchItemFailures"] == []
    small_pool, size = threads._GROUPS.current
    assert size == 1  # the caller plus one helper
    small_threads = {t.ident for t in small_pool._threads}  # (ThreadPoolExecutor's own record of its threads)
    assert len(small_threads) == 1
    consumer.max_workers = None
    support.reset()

    assert sqs_handler("recorder")(_event([make_state(f"big{i}") for i in range(8)])[0], None)["batchItemFailures"] == []

    assert threads._GROUPS.current[1] == 7 and threads._GROUPS.current[0] is not small_pool
    assert support.max_concurrent() > 2
    del small_pool
    deadline = time.monotonic() + 5
    while small_threads & _thread_idents() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not small_threads & _thread_idents()  # the replaced pool's idle threads are gone


# --- no state leaks, under concurrent invocations ---


def test_concurrent_invocations_keep_every_group_to_its_own_state(pool_app, make_state, mongo_client):
    load_consumer_class("recorder").write = True  # each group writes to its state's database
    expected: dict[str | None, set[str]] = {}
    lock = threading.Lock()

    def invoke(n: int) -> None:
        for round_ in range(4):
            states = [make_state(f"t{n}r{round_}g{g}") for g in range(3)] + [None]
            event, ids = _event(states)
            with state_scope(make_state(f"caller{n}")) as caller_state:  # the caller's own state
                response = sqs_handler("recorder")(event, None)
                assert get_state() == caller_state  # not changed by any group
            assert response["batchItemFailures"] == [], response
            with lock:
                for state, state_ids in ids.items():
                    expected.setdefault(state, set()).update(state_ids)

    errors = run_together(invoke, 12)

    assert errors == []
    assert all(leaked is None for _, _, leaked, _ in support.CALLS)  # no group saw another's context
    seen: dict[str | None, set[str]] = {}
    for state, ids, _, _ in support.CALLS:
        seen.setdefault(state, set()).update(ids)
    assert seen == expected  # every record ran once, in its own state's group (None: no state)
    for state, ids in expected.items():
        if state is not None:
            assert {d["_id"] for d in mongo_client[state]["pool_records"].find()} == ids


# --- nested invocations ---


def test_an_invocation_from_inside_a_group_does_not_deadlock(pool_app, make_state):
    outer_states = [make_state(f"out{i}") for i in range(8)]
    load_consumer_class("recorder").sleep = 0.005
    for state in outer_states:
        support.NESTED_EVENTS[state] = _event([make_state(f"in{state[-1]}{i}") for i in range(4)])[0]
    outcome: dict[str, dict] = {}

    def outer() -> None:
        outcome["response"] = sqs_handler("nested")(_event(outer_states, per_state=1)[0], None)

    caller = threading.Thread(target=outer, daemon=True)
    caller.start()
    caller.join(20)

    assert not caller.is_alive(), "the nested invocation deadlocked"
    assert outcome["response"]["batchItemFailures"] == []
    assert sorted(state for state, _ in support.NESTED) == sorted(outer_states)
    assert all(response["batchItemFailures"] == [] and response["successful"] == 8  # 4 states x 2
               for _, response in support.NESTED)
    pool_threads = {t.ident for t in threading.enumerate() if t.name.startswith("aws-helper-sync")}
    inner_in_pool = [ident for state, _, _, ident in support.CALLS if ident in pool_threads]
    assert inner_in_pool  # some inner groups ran inside pool threads (inline there)


# --- fork ---


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_fresh_pool_that_works(pool_app, make_state):
    consumer = load_consumer_class("recorder")
    consumer.sleep = 0.03  # time for the child's fresh threads to start and take groups
    states = [make_state(f"f{i}") for i in range(4)]
    assert sqs_handler("recorder")(_event(states)[0], None)["batchItemFailures"] == []
    parent_pool = threads._GROUPS.current[0]
    assert parent_pool is not None

    def child() -> None:
        assert threads._GROUPS.current == (None, 0)  # the parent's pool (its threads are not here) is forgotten
        support.reset()
        response = sqs_handler("recorder")(_event(states)[0], None)
        assert response["batchItemFailures"] == [], response
        assert threads._GROUPS.current[0] is not None and threads._GROUPS.current[0] is not parent_pool
        assert len({ident for _, _, _, ident in support.CALLS}) > 1  # the fresh pool fanned out

    assert fork_while_held(threads._GROUPS.lock, child) == 0  # even with the pool lock held at fork


# --- run_all itself ---


def test_run_all_returns_results_in_order_and_raises_the_first_error():
    assert threads.run_all([lambda i=i: i * i for i in range(10)], 4) == [i * i for i in range(10)]
    assert threads.run_all([], 4) == []

    def boom() -> None:
        raise LookupError("call 3")

    done: list[int] = []
    calls = [lambda i=i: done.append(i) for i in range(6)]
    calls[3] = boom
    with pytest.raises(LookupError, match="call 3"):
        threads.run_all(calls, 3)
    assert sorted(done) == [0, 1, 2, 4, 5]  # the others still ran


def test_run_all_runs_each_call_in_a_copy_of_the_callers_context():
    var: ContextVar[str] = ContextVar("test_run_all_var", default="unset")
    var.set("caller")

    def call() -> str:
        seen = var.get()
        var.set("changed by a call")
        time.sleep(0.002)
        return seen

    assert threads.run_all([call] * 6, 3) == ["caller"] * 6
    assert var.get() == "caller"


def test_run_all_hammered_from_many_threads_keeps_every_result_and_context_apart():
    # 12 callers at once share the pool (7 helpers at most): every call's result reaches its own caller, in
    # order, under its caller's context; nobody deadlocks waiting for a busy pool; no second pool is made.
    var: ContextVar[int] = ContextVar("test_run_all_hammer", default=-1)
    threads.run_all([lambda: None] * 8, 8)  # the pool exists
    pool = threads._GROUPS.current[0]

    def caller(n: int) -> None:
        var.set(n)
        for round_ in range(30):
            calls = [lambda i=i: (var.get(), i, time.sleep(0.0005 * (i % 3)))[:2] for i in range(1 + (n + round_) % 9)]
            assert threads.run_all(calls, 8) == [(n, i) for i in range(len(calls))]
            assert var.get() == n

    assert run_together(caller, 12) == []  # (a stuck caller is reported as a TimeoutError)
    assert threads._GROUPS.current[0] is pool and len(pool._threads) <= 8  # one pool, bounded


def test_run_all_raises_a_base_exception_of_a_helper_in_the_caller_and_the_pool_survives():
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.05)
        return "slow"

    def stop() -> None:
        started.wait(5)  # (run by a helper while the caller runs the slow call)
        raise SystemExit("from a helper")

    with pytest.raises(SystemExit, match="from a helper"):
        threads.run_all([slow, stop], 2)
    assert threads.run_all([lambda i=i: i for i in range(8)], 8) == list(range(8))  # the pool still serves


def test_run_all_starts_no_call_after_the_caller_is_interrupted():
    started: list[int] = []
    caller = threading.get_ident()

    def call(i: int) -> None:
        started.append(i)
        if threading.get_ident() == caller:
            raise KeyboardInterrupt  # the caller's first call
        time.sleep(0.05)

    with pytest.raises(KeyboardInterrupt):
        threads.run_all([lambda i=i: call(i) for i in range(40)], 4)
    time.sleep(0.3)  # what the helpers had taken is done by now
    assert len(started) <= 4  # the caller's call and at most one of each of the three helpers


# --- the consumer class cache ---


def test_class_cache_hammered_from_many_threads(pool_app):
    classes: list[type] = []

    def load(index: int) -> None:
        for _ in range(300):
            classes.append(load_consumer_class("recorder"))

    assert run_together(load, 16, timeout=30) == []
    assert len(classes) == 16 * 300
    assert len({id(c) for c in classes}) == 1
    assert len(support.IMPORTS) == 1  # the file was imported once


def test_class_cache_with_clear_cache_racing(pool_app):
    stop = threading.Event()
    names: set[str] = set()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            while not stop.is_set():
                names.add(load_consumer_class("recorder").__name__)
                time.sleep(0)  # let the clearing thread in
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    for _ in range(10):
        loading.clear_cache()
        time.sleep(0.002)
    stop.set()
    for worker in workers:
        worker.join(10)

    assert errors == []
    assert names == {"RecorderConsumer"}


def test_warm_lookups_touch_no_file_and_clear_cache_looks_again(pool_app):
    cls = load_consumer_class("recorder")
    (pool_app / "consumer" / "recorder.py").rename(pool_app / "consumer" / "moved.py")

    assert load_consumer_class("recorder") is cls  # served from the cache: no stat, no import

    loading.clear_cache()
    with pytest.raises(EntryPointNotFoundError, match=r"consumer/recorder\.py or consumer/recorder_consumer\.py"):
        load_consumer_class("recorder")


def test_the_cache_is_per_app_root(pool_app, tmp_path_factory, monkeypatch):
    first = load_consumer_class("recorder")
    other = tmp_path_factory.mktemp("other_app")
    (other / "consumer").mkdir()
    (other / "consumer" / "recorder.py").write_text(textwrap.dedent(RECORDER))
    monkeypatch.setenv("APP_ROOT", str(other))

    second = load_consumer_class("recorder")

    assert second is not first and second.__name__ == "RecorderConsumer"


def test_a_broken_consumer_is_reported_precisely_on_every_invocation_until_fixed(pool_app, make_state):
    path = pool_app / "consumer" / "flaky.py"
    path.write_text("from aws_helper_sync import SQSConsumer\n\nclass FlakyConsumer(SQSConsumer)\n    pass\n")
    handler = sqs_handler("flaky")
    record = lambda_record({"state": None})

    for _ in range(2):  # a failure is not cached: each call says what is wrong
        response = handler(lambda_event(record), None)
        assert failed_ids(response) == {record["messageId"]}
        assert "expected ':'" in response["error"] and "flaky.py, line 3" in response["error"]

    path.write_text("from aws_helper_sync import SQSConsumer\n\nclass Flaky(SQSConsumer):\n    pass\n")
    response = handler(lambda_event(record), None)
    assert "consumer/flaky.py must define class FlakyConsumer(SQSConsumer)" in response["error"]

    path.write_text(
        "from aws_helper_sync import SQSConsumer\n\n"
        "class FlakyConsumer(SQSConsumer):\n    def process_record(self, record):\n        pass\n"
    )
    assert handler(lambda_event(record), None)["batchItemFailures"] == []  # fixed: no restart needed


def test_a_changed_consumer_file_is_loaded_again_after_clear_cache(pool_app):
    path = pool_app / "consumer" / "versioned.py"
    source = "from aws_helper_sync import SQSConsumer\n\nclass VersionedConsumer(SQSConsumer):\n    version = {}\n"
    path.write_text(source.format(1))
    assert load_consumer_class("versioned").version == 1
    path.write_text(source.format(2))
    os.utime(path, (time.time() + 5, time.time() + 5))

    assert load_consumer_class("versioned").version == 1  # warm: the class loaded in this process

    loading.clear_cache()
    assert load_consumer_class("versioned").version == 2


def test_a_hook_made_async_after_the_class_was_accepted_is_still_refused(pool_app):
    path = pool_app / "consumer" / "plain.py"
    path.write_text(
        "from aws_helper_sync import SQSConsumer\n\n"
        "class PlainConsumer(SQSConsumer):\n    def process_record(self, record):\n        pass\n"
    )
    handler = sqs_handler("plain")
    record = lambda_record({})
    assert handler(lambda_event(record), None)["batchItemFailures"] == []  # accepted, and remembered as such

    async def process_record(self, record):  # swapped in on the cached, already checked class
        pass

    load_consumer_class("plain").process_record = process_record
    response = handler(lambda_event(record), None)

    assert failed_ids(response) == {record["messageId"]}  # refused when called: never acknowledged
