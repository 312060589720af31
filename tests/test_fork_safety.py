"""A process forked while another thread holds a library lock does not deadlock (SPEC §3).

A lock held by some thread at ``fork()`` is copied held into the child, where
that thread does not exist: unless the library replaces it after the fork, the
child's first use waits forever. Each test holds one lock in a parent thread,
forks, and lets the child use what the lock guards; the child must finish
within a few seconds (a stuck child is killed and the test fails).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from typing import Callable

import pytest

from aws_helper_sync import Repository, SQSConsumer, aws, loading, state_scope
from aws_helper_sync.database import MongoManager

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILD_TIMEOUT_S = 10
DEADLOCKED = "deadlocked"
APP_CONSUMER = os.path.join(os.path.dirname(__file__), "app", "consumer", "state_recorder.py")


def fork_while_held(lock: threading.Lock | threading.RLock, child: Callable[[], None]) -> int | str:
    """Hold ``lock`` in another thread, fork, run ``child`` there: its exit code, or DEADLOCKED."""
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait(CHILD_TIMEOUT_S * 3)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert held.wait(5)
    try:
        pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                child()
                code = 0
            except BaseException:  # noqa: BLE001 - reported on stderr, exit code 1
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                os._exit(code)
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return DEADLOCKED
            time.sleep(0.02)
    finally:
        release.set()
        thread.join()


class ForkedRecords(Repository):
    collection_name = "forked_records"


@pytest.mark.parametrize("which", ["cache lock", "key lock"])
def test_repository_lock_held_at_fork(mongo_client, make_state, monkeypatch, which):
    monkeypatch.setenv("AUTO_CREATE_INDEXES", "false")  # the child builds objects only: no I/O
    state = make_state("fork")
    repo = ForkedRecords()
    with state_scope(state):
        repo.collection  # noqa: B018 - creates the key lock
    lock = ForkedRecords._cache_lock if which == "cache lock" else ForkedRecords._key_locks[(state, "forked_records")]

    def child() -> None:
        with state_scope(state):
            collection = repo.collection  # the child's own client: a miss, taking both locks
        assert collection.database.client is MongoManager.get_client()

    assert fork_while_held(lock, child) == 0


def test_loader_lock_held_at_fork(app_root):
    loading.clear_cache()

    def child() -> None:
        cls = loading.load_class(APP_CONSUMER, SQSConsumer)
        assert issubclass(cls, SQSConsumer)

    assert fork_while_held(loading._lock, child) == 0


def test_boto3_client_lock_held_at_fork(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    aws.reset_clients()
    parent_client = aws.aws_client("sqs")

    def child() -> None:
        client = aws.aws_client("sns")
        assert client.meta.service_model.service_name == "sns"
        assert aws.aws_client("sqs") is not parent_client  # no pooled connection shared with the parent

    try:
        assert fork_while_held(aws._lock, child) == 0
    finally:
        aws.reset_clients()
