"""Hooks that would silently not run, index failures, fork-safe locks (issue 10 §9, §10).

- Generator and ``async def`` hooks: for each hook of each entry point (API
  ``process``/``validate``, Lambda ``process``/``validate``, FargateTask
  ``execute``, SQSConsumer ``process_record``/``process_batch``), one class
  whose hook has a stray ``yield`` and one whose hook is ``async def``, each
  delivered through the real entry point (``api_handler``, ``lambda_handler``,
  ``fargate_handler``, ``sqs_handler`` with Lambda-shape records, ``SQSWorker``
  on a moto queue). Every hook body would write a canary document to
  SecantusDB: none may appear, every class is refused at load with a message
  naming the hook, and no SQS message is acknowledged.
- Index failures that are not definition conflicts: a SecantusDB of this module
  started with ``--enable-test-commands`` fails ``createIndexes`` through the
  ``failCommand`` failpoint while 8 threads write through one Repository; the
  declared unique index exists afterwards and refuses duplicates. What was
  written while the index was missing is counted, including the case where a
  failure lasts long enough for duplicates to get in (the index can then not be
  built). Definition conflicts (85, 86) are logged once and never retried.
- Fork while a library lock is held (Repository cache and per-key locks, loader
  lock, boto3 client lock, MongoManager lock): the child uses the component
  and exits; a child that does not exit within 10 s is killed and fails the test.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import textwrap
import threading
import time
from typing import Any

import pytest
from pymongo import monitoring

from aws_helper_sync import (
    Repository,
    aws,
    fargate_handler,
    lambda_handler,
    loading,
    state_scope,
)
from aws_helper_sync.api.handler import api_handler
from aws_helper_sync.database import MongoManager
from aws_helper_sync.loading import AsyncHookError, GeneratorHookError
from aws_helper_sync.sqs.handler import sqs_handler
from aws_helper_sync.sqs.worker import SQSWorker
from tests.api_events import v1_event
from tests.reliability_support import report
from tests.sqs_support import (
    create_queue,
    failed_ids,
    lambda_event,
    lambda_record,
    queue_depth,
    send,
)
from tests.test_fork_safety import CHILD_TIMEOUT_S, fork_while_held
from tests.thread_support import run_together

MODULE = "hooks-indexes"

# --- §9 hooks that would silently not run -----------------------------------------

# (entry point, hook): the file, class name and body of a user class whose ``hook`` is bad
HOOKS = (
    ("API", "process"), ("API", "validate"),
    ("Lambda", "process"), ("Lambda", "validate"),
    ("FargateTask", "execute"),
    ("SQSConsumer", "process_record"), ("SQSConsumer", "process_batch"),
)
KINDS = ("generator", "async def")
MESSAGES_PER_CONSUMER = 3

CANARY_HELPER = '''
from aws_helper_sync.database import MongoManager


def canary(where):
    """Proof that a hook body ran: one document in the canary database."""
    MongoManager.get_client()[{db!r}]["canary"].insert_one({{"where": where}})
'''


def _hook_source(entry: str, hook: str, kind: str, class_name: str, canary_module: str) -> str:
    args = {"process_record": "self, record", "process_batch": "self, records"}.get(hook, "self")
    prefix = "async def" if kind == "async def" else "def"
    stray = "\n        yield None  # the stray yield" if kind == "generator" else ""
    lines = [
        f"from {canary_module} import canary",
        "",
        f"from aws_helper_sync import {entry}",
        "",
        "",
        f"class {class_name}({entry}):",
    ]
    if hook == "process_batch":
        lines.append('    processing_mode = "batch"')
    lines += [
        f"    {prefix} {hook}({args}):",
        f'        canary("{class_name}.{hook}"){stray}',
        "        return {}",
    ]
    if entry in ("API", "Lambda") and hook == "validate":
        lines += ["", "    def process(self):", '        canary("' + class_name + '.process")', "        return {}"]
    return "\n".join(lines) + "\n"


def _refusal_text(class_name: str, hook: str, kind: str) -> str:
    """What the loader's message says (aws_helper_sync.loading.check_sync_hooks)."""
    if kind == "generator":
        return f"{class_name}.{hook} is a generator function"
    return f"{class_name}.{hook} is defined with 'async def'"


def _import_without_loader(path: Any) -> Any:
    """The user's module imported directly, as a program handing the class to SQSWorker would."""
    spec = importlib.util.spec_from_file_location(f"relfig_direct_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_and_async_hooks_are_refused_at_load_and_nothing_is_acknowledged(
    tmp_path, monkeypatch, caplog, mongo_client, boto_client, make_state, unique
):
    state = make_state("ohio")
    canary_db = make_state("canary")
    canary_module = f"relfig_canary_{unique}"
    (tmp_path / f"{canary_module}.py").write_text(CANARY_HELPER.format(db=canary_db))
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    loading.clear_cache()
    sqs = boto_client("sqs")
    caplog.set_level(logging.ERROR)

    deliveries: dict[str, int] = {}
    refused: dict[str, int] = {}
    unclear: list[str] = []
    answers: dict[str, list[Any]] = {"api_handler": [], "lambda_handler": [], "fargate_handler": []}
    sqs_records = sqs_reported_failed = 0
    queued = worker_deleted = worker_left = 0
    by_class = {"classes": 0, "received": 0, "failed": 0, "deleted": 0, "left_in_queue": 0}
    classes = 0

    def delivered(entry_point: str, ok: bool, class_name: str, hook: str, kind: str, said: str) -> None:
        """Count one delivery; refused when the entry point failed it and ``said`` names the hook."""
        deliveries[entry_point] = deliveries.get(entry_point, 0) + 1
        if ok and _refusal_text(class_name, hook, kind) in said:
            refused[entry_point] = refused.get(entry_point, 0) + 1
        else:
            unclear.append(f"{entry_point}: {class_name}.{hook} ({kind})")

    try:
        for entry, hook in HOOKS:
            for kind in KINDS:
                classes += 1
                tag = ("gen" if kind == "generator" else "async") + "_" + hook
                pascal = loading.to_pascal_case(tag)
                caplog.clear()
                if entry == "API":
                    class_name = f"{pascal}List"
                    path = tmp_path / "api" / tag / "list.py"
                elif entry == "Lambda":
                    class_name, path = f"{pascal}Lambda", tmp_path / "lambda" / tag / "main.py"
                elif entry == "FargateTask":
                    class_name, path = f"{pascal}Task", tmp_path / "task" / tag / "task.py"
                else:
                    class_name, path = f"{pascal}Consumer", tmp_path / "consumer" / f"{tag}.py"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_hook_source(entry, hook, kind, class_name, canary_module))

                if entry == "API":
                    response = api_handler(v1_event("GET", f"/{tag}", headers={"constitution-state": state}))
                    answers["api_handler"].append(response["statusCode"])
                    delivered("api_handler", response["statusCode"] == 500, class_name, hook, kind, caplog.text)
                elif entry == "Lambda":
                    result = lambda_handler(tag)({"constitution-state": state}, None)
                    answers["lambda_handler"].append(result.get("error_type"))
                    delivered("lambda_handler", result["success"] is False, class_name, hook, kind,
                              result.get("error", ""))
                elif entry == "FargateTask":
                    code = fargate_handler(tag)
                    answers["fargate_handler"].append(code)
                    delivered("fargate_handler", code == 1, class_name, hook, kind, caplog.text)
                else:
                    # sqs_handler: Lambda-shape records of a standard queue
                    records = [lambda_record({"n": n}, state=state) for n in range(MESSAGES_PER_CONSUMER)]
                    response = sqs_handler(tag)(lambda_event(*records), None)
                    sqs_records += len(records)
                    sqs_reported_failed += len(failed_ids(response) & {r["messageId"] for r in records})
                    delivered("sqs_handler", response["successful"] == 0, class_name, hook, kind, caplog.text)

                    # SQSWorker by name, on a real moto queue
                    caplog.clear()
                    url = create_queue(sqs, f"{unique}-{tag.replace('_', '-')}")
                    for n in range(MESSAGES_PER_CONSUMER):
                        send(sqs, url, {"n": n}, state=state)
                    queued += MESSAGES_PER_CONSUMER
                    try:
                        SQSWorker(tag, url, wait_time_seconds=0, handle_signals=False).poll_once()
                        ok, said = False, ""
                    except (GeneratorHookError, AsyncHookError) as exc:
                        ok, said = True, str(exc)
                    delivered("SQSWorker(name)", ok, class_name, hook, kind, said)
                    worker_left += sum(queue_depth(sqs, url))

                    # SQSWorker given the class itself: no loader on the way
                    caplog.clear()
                    cls = getattr(_import_without_loader(path), class_name)
                    worker = SQSWorker(cls, url, wait_time_seconds=0, handle_signals=False)
                    received = worker.poll_once()
                    by_class["classes"] += 1
                    by_class["received"] += received
                    by_class["failed"] += worker.stats.failed
                    by_class["deleted"] += worker.stats.deleted
                    by_class["left_in_queue"] += sum(queue_depth(sqs, url))
                    if _refusal_text(class_name, hook, kind) not in caplog.text:
                        unclear.append(f"SQSWorker(class): {class_name}.{hook} ({kind})")
    finally:
        loading.clear_cache()
    worker_deleted = queued - worker_left
    canaries = mongo_client[canary_db]["canary"].count_documents({})
    refused_total = sum(refused.values())
    report(
        MODULE, "Generator and async def hooks through every entry point (each hook body writes a canary)",
        classes_tried=f"{classes} ({len(HOOKS)} hooks x generator / async def)",
        deliveries=deliveries,
        refused_at_load=refused_total,
        refused_at_load_by_entry_point=refused,
        refusals_without_a_message_naming_the_hook=len(unclear),
        hook_bodies_run_canary_documents=canaries,
        api_handler_status=answers["api_handler"],
        lambda_handler_error_type=sorted(set(answers["lambda_handler"])),
        fargate_handler_exit_codes=answers["fargate_handler"],
        sqs_handler_records=sqs_records,
        sqs_handler_reported_in_batchItemFailures=sqs_reported_failed,
        worker_by_name_messages_queued=queued,
        worker_by_name_messages_deleted=worker_deleted,
        worker_by_name_messages_still_in_queue=worker_left,
        worker_given_the_class_refused_at_first_batch=(
            f"{by_class['classes']} classes: {by_class['received']} received, {by_class['failed']} failed, "
            f"{by_class['deleted']} deleted, {by_class['left_in_queue']} still in queue"
        ),
    )

    assert not unclear, unclear
    assert sum(deliveries.values()) == refused_total == 4 + 4 + 2 + 4 + 4
    assert canaries == 0
    assert sqs_reported_failed == sqs_records == 4 * MESSAGES_PER_CONSUMER
    assert worker_deleted == 0 and worker_left == queued == 4 * MESSAGES_PER_CONSUMER
    assert by_class["deleted"] == 0 and by_class["failed"] == by_class["received"] == queued
    assert by_class["left_in_queue"] == queued


DECORATORS = {
    "functools.wraps decorator": (
        "def logged(fn):\n"
        "    @functools.wraps(fn)\n"
        "    def wrapper(*args, **kwargs):\n"
        "        return fn(*args, **kwargs)\n"
        "    return wrapper\n"
    ),
    "plain decorator": (
        "def logged(fn):\n"
        "    def wrapper(*args, **kwargs):\n"
        "        return fn(*args, **kwargs)\n"
        "    return wrapper\n"
    ),
}
DECORATED_HOOKS = (
    ("SQSConsumer", "process_record", "generator"),
    ("SQSConsumer", "process_batch", "async def"),
    ("Lambda", "validate", "generator"),
    ("FargateTask", "execute", "async def"),
    ("API", "validate", "async def"),
)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.parametrize("decorator", list(DECORATORS))
def test_decorated_generator_and_async_hooks_never_succeed_without_running(
    tmp_path, monkeypatch, caplog, mongo_client, make_state, unique, decorator
):
    state = make_state("ohio")
    canary_db = make_state("canary")
    helper = f"relfig_wrap_{unique}"
    (tmp_path / f"{helper}.py").write_text(
        "import functools\n" + CANARY_HELPER.format(db=canary_db) + "\n\n" + DECORATORS[decorator])
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    loading.clear_cache()
    caplog.set_level(logging.ERROR)
    outcomes: dict[str, str] = {}
    silent = acknowledged_unprocessed = 0
    try:
        for entry, hook, kind in DECORATED_HOOKS:
            tag = "wrapped_" + hook
            suffix = {"API": "List", "SQSConsumer": "Consumer", "FargateTask": "Task"}.get(entry, entry)
            class_name = loading.to_pascal_case(tag) + suffix
            source = _hook_source(entry, hook, kind, class_name, helper).replace(
                f"from {helper} import canary", f"from {helper} import canary, logged").replace(
                f"    {'async def' if kind == 'async def' else 'def'} {hook}(",
                f"    @logged\n    {'async def' if kind == 'async def' else 'def'} {hook}(")
            path = {
                "API": tmp_path / "api" / tag / "list.py",
                "Lambda": tmp_path / "lambda" / tag / "main.py",
                "FargateTask": tmp_path / "task" / tag / "task.py",
                "SQSConsumer": tmp_path / "consumer" / f"{tag}.py",
            }[entry]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
            if entry == "API":
                status = api_handler(v1_event("GET", f"/{tag}", headers={"constitution-state": state}))["statusCode"]
                succeeded, shown = status == 200, f"HTTP {status}"
            elif entry == "Lambda":
                result = lambda_handler(tag)({"constitution-state": state}, None)
                succeeded, shown = result["success"] is True, f"success {result['success']}"
            elif entry == "FargateTask":
                code = fargate_handler(tag)
                succeeded, shown = code == 0, f"exit {code}"
            else:
                records = [lambda_record({"n": n}, state=state) for n in range(MESSAGES_PER_CONSUMER)]
                response = sqs_handler(tag)(lambda_event(*records), None)
                succeeded = response["successful"] > 0
                shown = f"{response['successful']} of {len(records)} acknowledged"
            ran = mongo_client[canary_db]["canary"].count_documents({"where": f"{class_name}.{hook}"})
            if succeeded and not ran:
                silent += 1
                if entry == "SQSConsumer":
                    acknowledged_unprocessed += response["successful"]
            outcomes[f"{entry}.{hook} ({kind})"] = f"{shown}, hook body ran {ran} times"
    finally:
        loading.clear_cache()
    report(
        MODULE, f"Generator and async def hooks behind a {decorator}",
        **outcomes,
        deliveries=len(DECORATED_HOOKS),
        succeeded_without_running_the_hook=silent,
        sqs_records_acknowledged_unprocessed=acknowledged_unprocessed,
    )

    assert silent == 0 and acknowledged_unprocessed == 0


# --- §10 index failures that are not definition conflicts -------------------------

class _IndexEvents(monitoring.CommandListener):
    """A pymongo CommandListener: createIndexes and insert outcomes on one namespace, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, Any]] = []  # (command, outcome, collection, code)
        self._requests: dict[int, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def started(self, event: Any) -> None:
        if event.command_name in ("createIndexes", "insert"):
            with self._lock:
                self._requests[event.request_id] = (event.command_name, event.command[event.command_name])

    def _finished(self, event: Any, outcome: str, code: Any) -> None:
        with self._lock:
            request = self._requests.pop(event.request_id, None)
            if request is not None:
                self.events.append((request[0], outcome, request[1], code))

    def succeeded(self, event: Any) -> None:
        reply = event.reply or {}
        failed = reply.get("writeErrors") or reply.get("writeConcernError")
        self._finished(event, "failed" if failed else "succeeded", None)

    def failed(self, event: Any) -> None:
        self._finished(event, "failed", (getattr(event, "failure", None) or {}).get("code"))

    def of(self, collection: str) -> list[tuple[str, str, Any]]:
        with self._lock:
            return [(name, outcome, code) for name, outcome, coll, code in self.events if coll == collection]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


@pytest.fixture(scope="module")
def failpoint_server():
    """This module's own SecantusDB, with configureFailPoint enabled (off on the session's)."""
    from aws_helper_sync.devservers import SecantusServer

    with SecantusServer(extra_args=("--enable-test-commands",)) as server:
        yield server


@pytest.fixture
def client_options() -> dict[str, Any]:
    """Extra MongoClient options of the library's client (a test parametrizes it to change them)."""
    return {}


@pytest.fixture
def failpoint_client(failpoint_server, mongo_uri, client_options):
    """The library's client on the failpoint server, with an _IndexEvents listener."""
    listener = _IndexEvents()
    MongoManager.close()
    MongoManager.configure(failpoint_server.uri, event_listeners=[listener], **client_options)
    client = MongoManager.get_client()
    before = set(client.list_database_names())
    yield client, listener
    client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
    for name in set(client.list_database_names()) - before - {"admin", "local", "config"}:
        client.drop_database(name)
    MongoManager.close()
    MongoManager.initialize(mongo_uri)


def _fail_create_indexes(client: Any, mode: Any, data: dict[str, Any]) -> None:
    client.admin.command({"configureFailPoint": "failCommand", "mode": mode,
                          "data": {"failCommands": ["createIndexes"], **data}})


class LedgerEntries(Repository):
    collection_name = "ledger_entries"
    indexes = ({"key": [("entry_id", 1)], "unique": True},)


THREADS = 8
WRITES_PER_THREAD = 15
INJECTED_FAILURES = 5
TRANSIENT = {
    "MaxTimeMSExpired (50)": {"errorCode": 50},
    # the server builds the index, then reports that replication was not confirmed in time
    "WriteConcernTimeout (64)": {"writeConcernError": {
        "code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": True}}},
    "Interrupted (11601)": {"errorCode": 11601},
    # pymongo raises NotPrimaryError and marks the server Unknown: with no real step-down behind
    # the injected error, its streaming monitor finds the primary again only at the next
    # heartbeat (10 s by default), so this case runs with heartbeatFrequencyMS=500
    "InterruptedDueToReplStateChange (11602)": {"errorCode": 11602},
}
TRANSIENT_CLIENT_OPTIONS = {"InterruptedDueToReplStateChange (11602)": {"heartbeatFrequencyMS": 500}}


def _writes_before_ensured(events: list[tuple[str, str, Any]]) -> int:
    """Inserts acknowledged before the first createIndexes that succeeded."""
    count = 0
    for name, outcome, _ in events:
        if name == "createIndexes" and outcome == "succeeded":
            return count
        if name == "insert" and outcome == "succeeded":
            count += 1
    return count


@pytest.mark.parametrize(("failure", "client_options"),
                         [(name, TRANSIENT_CLIENT_OPTIONS.get(name, {})) for name in TRANSIENT], ids=list(TRANSIENT))
def test_transient_index_failures_under_8_writing_threads_end_with_the_unique_index(
    failpoint_client, make_state, caplog, failure, client_options
):
    from pymongo.errors import DuplicateKeyError

    client, listener = failpoint_client
    state = make_state("ledger")
    collection_name = LedgerEntries.collection_name
    repo = LedgerEntries()
    _fail_create_indexes(client, {"times": INJECTED_FAILURES}, TRANSIENT[failure])

    def write_distinct(thread: int) -> None:
        with state_scope(state):
            for n in range(WRITES_PER_THREAD):
                repo.collection.insert_one({"entry_id": f"e-{thread}-{n:02d}", "thread": thread})

    with caplog.at_level(logging.WARNING):
        errors = run_together(write_distinct, THREADS)
    events = listener.of(collection_name)
    attempts = [e for e in events if e[0] == "createIndexes"]
    failed_attempts = [e for e in attempts if e[1] == "failed"]
    info = client[state][collection_name].index_information()
    index_exists = info.get("entry_id_1", {}).get("unique") is True
    written_before = _writes_before_ensured(events)

    refused: list[str] = []
    accepted: list[str] = []

    def write_duplicates(thread: int) -> None:
        with state_scope(state):
            for n in range(5):
                entry_id = f"e-{(thread + 1) % THREADS}-{n:02d}"  # another thread's entries
                try:
                    repo.collection.insert_one({"entry_id": entry_id, "thread": thread})
                    accepted.append(entry_id)
                except DuplicateKeyError:
                    refused.append(entry_id)

    listener.clear()
    errors += run_together(write_duplicates, THREADS)
    later_attempts = [e for e in listener.of(collection_name) if e[0] == "createIndexes"]
    documents = client[state][collection_name].count_documents({})
    distinct = len(client[state][collection_name].distinct("entry_id"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "retried" in r.getMessage()]
    conflicts = [r for r in caplog.records if "conflicts" in r.getMessage()]
    report(
        MODULE, f"createIndexes fails {INJECTED_FAILURES} times with {failure}; 8 threads write distinct keys",
        threads=THREADS,
        client_options=client_options or "the library's defaults",
        documents_written=THREADS * WRITES_PER_THREAD,
        injected_failures=len(failed_attempts),
        createIndexes_attempts_until_ensured=len(attempts),
        warnings_logged_retried_later=len(warnings),
        logged_as_conflicts=len(conflicts),
        writes_acknowledged_before_the_index_was_ensured=written_before,
        duplicates_written_in_that_window="0 (distinct keys by design; see the next scenario for duplicates)",
        unique_index_exists_afterwards=index_exists,
        duplicate_inserts_after_it_exists=len(refused) + len(accepted),
        duplicates_refused=len(refused),
        duplicates_accepted=len(accepted),
        createIndexes_after_ensured=len(later_attempts),
        documents_in_collection=documents,
        distinct_keys_in_collection=distinct,
        thread_errors=len(errors),
    )

    assert not errors, errors[:3]
    assert len(failed_attempts) == INJECTED_FAILURES and len(attempts) == INJECTED_FAILURES + 1
    assert len(warnings) == INJECTED_FAILURES and not conflicts
    assert index_exists
    assert len(refused) == THREADS * 5 and not accepted
    assert not later_attempts
    assert documents == distinct == THREADS * WRITES_PER_THREAD


def test_duplicates_written_while_index_creation_fails_leave_the_unique_index_unbuilt_and_retried(
    failpoint_client, make_state, caplog
):
    """A failure that lasts while the same keys are written: the honest cost of the window.

    The Repository does not hold writes back while its indexes are not ensured
    (SPEC §4: reads and writes go on, a later access retries). Duplicates
    written in that window make the unique index unbuildable (E11000 on every
    build): the key stays unensured, every later access retries and logs.
    """
    client, listener = failpoint_client
    state = make_state("window")
    collection_name = LedgerEntries.collection_name
    repo = LedgerEntries()
    keys = 5
    _fail_create_indexes(client, "alwaysOn", TRANSIENT["MaxTimeMSExpired (50)"])

    def write_shared_keys(thread: int) -> None:
        with state_scope(state):
            for n in range(keys):
                repo.collection.insert_one({"entry_id": f"shared-{n}", "thread": thread})

    with caplog.at_level(logging.WARNING):
        errors = run_together(write_shared_keys, THREADS)
        during = len([e for e in listener.of(collection_name) if e[0] == "createIndexes"])
        written = client[state][collection_name].count_documents({})
        _fail_create_indexes(client, "off", {})  # the transient failure ends
        listener.clear()
        caplog.clear()
        accesses_after = 10
        with state_scope(state):
            for _ in range(accesses_after):
                repo.collection.find_one({})
    after = [e for e in listener.of(collection_name) if e[0] == "createIndexes"]
    codes = sorted({e[2] for e in after if e[1] == "failed"})
    info = client[state][collection_name].index_information()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "retried" in r.getMessage()]
    report(
        MODULE, "createIndexes fails for as long as 8 threads write the same 5 keys, then recovers",
        threads=THREADS,
        inserts=THREADS * keys,
        createIndexes_failed_while_writing=during,
        documents_written_while_the_index_was_missing=written,
        duplicates_written_in_that_window=written - keys,
        unique_index_exists_after_the_failure_ends="entry_id_1" in info,
        accesses_after_recovery=accesses_after,
        createIndexes_retried_after_recovery=len(after),
        build_error_codes_after_recovery=codes,
        warnings_logged_after_recovery=len(warnings),
        thread_errors=len(errors),
    )

    assert not errors, errors[:3]
    assert written == THREADS * keys  # nothing held the writes back while the index was missing
    assert "entry_id_1" not in info  # the duplicates make it unbuildable ...
    assert len(after) == accesses_after and codes == [11000]  # ... so every access retries, never "ensured"
    assert len(warnings) == accesses_after


CONFLICTS = {
    # the declared index is entry_id_1 {unique: true}; what already exists on the server, and its code
    "IndexOptionsConflict (85)": ([("entry_id", 1)], {"name": "by_entry", "unique": True}, 85),
    "IndexKeySpecsConflict (86)": ([("entry_id", 1)], {"name": "entry_id_1"}, 86),
}


class ConflictedLedger(Repository):
    collection_name = "conflicted_ledger"
    indexes = ({"key": [("entry_id", 1)], "unique": True}, {"key": [("thread", 1)]})


@pytest.mark.parametrize("conflict", list(CONFLICTS))
def test_a_definition_conflict_is_logged_once_and_not_retried_under_8_threads(
    failpoint_client, make_state, caplog, conflict
):
    client, listener = failpoint_client
    state = make_state("conflict")
    collection_name = ConflictedLedger.collection_name
    keys, options, expected_code = CONFLICTS[conflict]
    client[state][collection_name].create_index(keys, **options)
    listener.clear()
    repo = ConflictedLedger()

    def write(thread: int) -> None:
        with state_scope(state):
            for n in range(10):
                repo.collection.insert_one({"entry_id": f"e-{thread}-{n}", "thread": thread})

    with caplog.at_level(logging.WARNING):
        errors = run_together(write, THREADS)
        with state_scope(state):
            for _ in range(10):
                repo.collection.find_one({})
    attempts = [e for e in listener.of(collection_name) if e[0] == "createIndexes"]
    codes = sorted({e[2] for e in attempts if e[1] == "failed"})
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and "conflicts" in r.getMessage()]
    retried = [r for r in caplog.records if "retried" in r.getMessage()]
    info = client[state][collection_name].index_information()
    report(
        MODULE, f"{conflict}: the declared unique index clashes with an existing one; 8 threads write",
        existing_index=f"{options['name']} on {dict(keys)}" + (" unique" if options.get("unique") else " not unique"),
        declared_indexes="entry_id_1 on {'entry_id': 1} unique; thread_1",
        threads=THREADS,
        accesses=THREADS * 10 + 10,
        createIndexes_commands=f"{len(attempts)} (the whole list, then each of the 2 indexes once)",
        server_codes=codes,
        conflict_logged=len(logged),
        logged_as_retried_later=len(retried),
        other_declared_index_created="thread_1" in info,
        thread_errors=len(errors),
    )

    assert not errors, errors[:3]
    assert len(attempts) == 3 and codes == [expected_code]
    assert len(logged) == 1 and not retried
    assert "thread_1" in info


# --- §10 fork while a library lock is held ----------------------------------------

class ForkLedger(Repository):
    collection_name = "fork_ledger"


def _fork_while_held(lock: Any, child: Any) -> tuple[int | str, float]:
    """Hold ``lock`` in a thread, fork, run ``child`` there: (exit code or "deadlocked", seconds to exit)."""
    started = time.monotonic()
    outcome = fork_while_held(lock, child)
    return outcome, time.monotonic() - started


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_each_library_lock_is_held(mongo_client, make_state, tmp_path, monkeypatch):
    state = make_state("fork")
    monkeypatch.setenv("APP_ROOT", str(tmp_path))
    (tmp_path / "lambda" / "forked").mkdir(parents=True)
    (tmp_path / "lambda" / "forked" / "main.py").write_text(textwrap.dedent("""
        from aws_helper_sync import Lambda

        class ForkedLambda(Lambda):
            def process(self):
                return "loaded in the child"
    """))
    repo = ForkLedger()
    with state_scope(state):
        repo.collection  # noqa: B018 - creates the per-key lock in the parent

    def child_repository() -> None:
        with state_scope(state):
            repo.collection.insert_one({"child": os.getpid()})

    def child_loader() -> None:
        result = lambda_handler("forked")({"constitution-state": state}, None)
        assert result == {"success": True, "data": "loaded in the child"}, result

    def child_boto3() -> None:
        client = aws.aws_client("sqs")
        assert client.meta.service_model.service_name == "sqs"

    def child_mongo() -> None:
        client = MongoManager.get_client()
        client[state]["fork_mongo"].insert_one({"child": os.getpid()})

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the child makes a client, sends nothing
    aws.reset_clients()
    aws.aws_client("sns")
    loading.clear_cache()
    locks = {
        "Repository per-key lock": (lambda: ForkLedger._key_locks[(state, "fork_ledger")], child_repository,
                                    "gets its collection and inserts"),
        "Repository cache lock": (lambda: ForkLedger._cache_lock, child_repository,
                                  "gets its collection and inserts"),
        "loader lock": (lambda: loading._lock, child_loader, "loads a Lambda class and runs it"),
        "boto3 client lock": (lambda: aws._lock, child_boto3, "makes an SQS client"),
        "MongoManager lock": (lambda: MongoManager._lock, child_mongo, "gets the client and inserts"),
    }
    outcomes: dict[str, str] = {}
    codes: dict[str, Any] = {}
    slowest = 0.0
    try:
        for name, (lock_of, child, what) in locks.items():
            code, elapsed = _fork_while_held(lock_of(), child)
            codes[name] = code
            slowest = max(slowest, elapsed)
            outcomes[name] = f"child {what}: exit {code} in {elapsed:.2f} s"
    finally:
        aws.reset_clients()
        loading.clear_cache()
    inserted = (mongo_client[state]["fork_ledger"].count_documents({}),
                mongo_client[state]["fork_mongo"].count_documents({}))
    deadlocks = sum(1 for code in codes.values() if code == "deadlocked")
    report(
        MODULE, "Fork while another thread holds each library lock (the child uses what it guards)",
        **outcomes,
        locks_tried=len(locks),
        children_exited_cleanly=sum(1 for code in codes.values() if code == 0),
        slowest_child_exit_s=round(slowest, 2),
        deadlocks=f"{deadlocks} (a child still running after {CHILD_TIMEOUT_S} s is killed and fails the test)",
        documents_written_by_children=sum(inserted),
    )

    assert codes == {name: 0 for name in locks}, codes
    assert inserted == (2, 1)
