"""SQS through ``sqs_handler``: framework cost per record and per invocation, and batch fan-out.

Prints, in one run (same-run ratios, medians of interleaved rounds):

1. single mode, one state, no-op ``process_record``: microseconds per record,
   ours vs a hand-written loop doing the same state check (the
   ``constitution-state`` attribute validated, each record run in its own
   context with the state set, failures collected into ``batchItemFailures``).
2. batch mode, 10 records over 8 states, no-op ``process_batch``: one
   invocation vs submitting 8 no-op tasks to a warm ``ThreadPoolExecutor``
   and waiting for them (the floor of any fan-out). Goal: <= 2.5x.
3. batch mode fan-out: every state group waits a fixed time (standing for its
   I/O); efficiency = that wait / the invocation's wall time (1.0 is ideal:
   all groups overlap and the framework costs nothing). Goals: >= 0.93 with
   8 states and 10 records, >= 0.90 with 1,000 records.

``--mongo`` adds the older table: one ``bulk_write`` per group on MongoDB
(MONGODB_URI, else a SecantusDB started here) plus the wait, sequential vs fan-out.

    python benchmarks/bench_sqs_batch.py [--rounds 15] [--wait-ms 20] [--mongo]

No registry is configured (any well-formed state), as in the comparison rows of
bench_anchors.py. Figures are noisy on a shared machine: compare the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import logging
import os
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

CONSUMERS = {
    "bench_single.py": '''
from aws_helper_sync import SQSConsumer


class BenchSingleConsumer(SQSConsumer):
    def process_record(self, record):
        pass
''',
    "bench_noop_batch.py": '''
from aws_helper_sync import SQSConsumer


class BenchNoopBatchConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        pass
''',
    "bench_wait_batch.py": '''
import os
import time

from aws_helper_sync import SQSConsumer


class BenchWaitBatchConsumer(SQSConsumer):
    processing_mode = "batch"
    wait_seconds = float(os.environ["BENCH_WAIT_MS"]) / 1000

    def process_batch(self, records):
        time.sleep(self.wait_seconds)  # the I/O of one state group
''',
    "bench_batch.py": '''
import os
import time

from pymongo import InsertOne

from aws_helper_sync import Repository, SQSConsumer


class BenchRecords(Repository):
    collection_name = "bench_records"


class BenchBatchConsumer(SQSConsumer):
    processing_mode = "batch"
    max_workers = int(os.environ["BENCH_MAX_WORKERS"])
    wait_seconds = float(os.environ["BENCH_WAIT_MS"]) / 1000

    def process_batch(self, records):
        BenchRecords().collection.bulk_write(
            [InsertOne({"_id": r["messageId"], "body": self.parse_body(r)}) for r in records], ordered=False
        )
        time.sleep(self.wait_seconds)
''',
}


def make_event(states: list[str], per_state: int, body_bytes: int = 20) -> dict:
    records = []
    for i in range(per_state):
        for state in states:  # interleaved, as a real batch arrives
            records.append({
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": f'{{"i": {i}, "payload": "{"x" * body_bytes}"}}',
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
                "messageAttributes": {"constitution-state": {"stringValue": state, "dataType": "String"}},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:bench",
                "awsRegion": "us-east-2",
            })
    return {"Records": records}


def hand_written_handler(process_record: Callable[[dict], None]) -> Callable[[dict, Any], dict]:
    """The least a framework must do per record: read and check the state, own context, collect failures."""
    from aws_helper_sync.context.state import _state, validate_state

    def run(state: str, record: dict) -> None:
        _state.set(state)
        process_record(record)

    def handler(event: dict, context: Any) -> dict:
        failures = []
        for record in event["Records"]:
            try:
                state = validate_state(record["messageAttributes"]["constitution-state"]["stringValue"])
                contextvars.copy_context().run(run, state, record)
            except Exception:  # noqa: BLE001 - the record fails alone, as in the framework
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return handler


def hand_written_fan_out(pool: ThreadPoolExecutor, process_batch: Callable[[list], None]) -> Callable[[dict, Any], dict]:
    """The least a batch-mode framework must do: read and check each state, group, run the groups on a warm pool."""
    from aws_helper_sync.context.state import _state, validate_state

    def run(state: str, records: list) -> None:
        _state.set(state)
        process_batch(records)

    def handler(event: dict, context: Any) -> dict:
        groups: dict[str, list] = {}
        for record in event["Records"]:
            state = validate_state(record["messageAttributes"]["constitution-state"]["stringValue"])
            groups.setdefault(state, []).append(record)
        futures = [pool.submit(contextvars.copy_context().run, run, state, records) for state, records in groups.items()]
        for future in futures:
            future.result()
        return {"batchItemFailures": []}

    return handler


def interleaved(variants: dict[str, Callable[[], Any]], rounds: int, repeat: int) -> dict[str, float]:
    """Median seconds of one call of each variant; each round times ``repeat`` calls of every variant in turn."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()  # warm: classes loaded, pool threads started
    for _ in range(rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            samples[name].append((time.perf_counter() - start) / repeat)
    return {name: statistics.median(values) for name, values in samples.items()}


def checked(handler: Callable[[dict, Any], dict], event: dict) -> Callable[[], dict]:
    def call() -> dict:
        response = handler(event, None)
        if response["batchItemFailures"]:
            raise RuntimeError(f"benchmark records failed: {response['batchItemFailures'][:3]}")
        return response
    return call


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def single_mode(rounds: int) -> None:
    from aws_helper_sync.sqs.handler import sqs_handler

    event = make_event(["connecticut"], 1000)
    ms = interleaved({
        "ours": checked(sqs_handler("bench_single"), event),
        "hand": checked(hand_written_handler(lambda record: None), event),
    }, rounds, repeat=3)
    ours, hand = (ms[k] * 1e6 / 1000 for k in ("ours", "hand"))
    print("1. single mode, 1,000 records of one state, no-op process_record (us per record)")
    print(f"  {'sqs_handler':44} {ours:8.2f}")
    print(f"  {'hand-written loop, same state check':44} {hand:8.2f}")
    print(f"  ours / hand-written = {ours / hand:.2f} (the Powertools BatchProcessor row is in bench_anchors.py)\n")


def batch_overhead(rounds: int) -> None:
    from aws_helper_sync.sqs.handler import sqs_handler

    states = [f"bench_state_{i}" for i in range(8)]
    event = make_event(states, 2)
    event["Records"] = event["Records"][:10]  # 10 records over 8 states
    pool = ThreadPoolExecutor(max_workers=8)

    def eight_noop_tasks() -> None:
        for future in [pool.submit(lambda: None) for _ in range(8)]:
            future.result()

    try:
        sec = interleaved({"ours": checked(sqs_handler("bench_noop_batch"), event), "pool": eight_noop_tasks},
                          rounds, repeat=50)
    finally:
        pool.shutdown()
    ours, floor = sec["ours"] * 1e6, sec["pool"] * 1e6
    print("2. batch mode, 10 records over 8 states, no-op process_batch (us per invocation)")
    print(f"  {'sqs_handler':44} {ours:8.1f}")
    print(f"  {'8 no-op tasks on a warm ThreadPoolExecutor':44} {floor:8.1f}")
    print(f"  ours / warm pool = {ours / floor:.2f} (goal <= 2.5: {verdict(ours / floor <= 2.5)})\n")


def fan_out(rounds: int, wait_ms: float) -> None:
    from aws_helper_sync.sqs.handler import sqs_handler

    handler = sqs_handler("bench_wait_batch")
    states = [f"bench_state_{i}" for i in range(8)]
    small = make_event(states, 2)
    small["Records"] = small["Records"][:10]
    cases = [("8 states, 10 records", small, 0.93), ("8 states, 1,000 records", make_event(states, 125), 0.90)]
    pool = ThreadPoolExecutor(max_workers=8)
    floor = hand_written_fan_out(pool, lambda records: time.sleep(wait_ms / 1000))
    variants = {}
    for label, event, _ in cases:
        variants[label] = checked(handler, event)
        variants[label + " floor"] = checked(floor, event)
    samples: dict[str, list[float]] = {label: [] for label in variants}
    for call in variants.values():
        call()
    for _ in range(rounds):
        for label, call in variants.items():
            start = time.perf_counter()
            call()
            samples[label].append(time.perf_counter() - start)
    pool.shutdown()
    print(f"3. batch mode fan-out, every state group waits {wait_ms:g} ms (efficiency = wait / wall time;")
    print("   median of the rounds, the best round (least disturbed by other processes), and the")
    print("   hand-written floor: states read and checked, grouped, groups on a warm 8-thread pool)")
    print(f"  {'case':26} {'wall ms':>8} {'efficiency':>10} {'best ms':>8} {'best eff.':>9} {'floor ms':>9} {'floor eff.':>10}")
    for label, _, goal in cases:
        median, fastest = statistics.median(samples[label]) * 1000, min(samples[label]) * 1000
        floor_ms = statistics.median(samples[label + " floor"]) * 1000
        efficiency = wait_ms / median
        print(f"  {label:26} {median:8.2f} {efficiency:10.3f} {fastest:8.2f} {wait_ms / fastest:9.3f}"
              f" {floor_ms:9.2f} {wait_ms / floor_ms:10.3f}  (goal >= {goal}: {verdict(efficiency >= goal)})")
    print()


def mongo_table(stack: contextlib.ExitStack, rounds: int, wait_ms: float) -> None:
    """One bulk_write per state group plus the wait: sequential (max_workers=1) vs fan-out (8)."""
    if not os.environ.get("MONGODB_URI"):
        from aws_helper_sync.devservers import SecantusServer

        os.environ["MONGODB_URI"] = stack.enter_context(SecantusServer()).uri
    from aws_helper_sync import loading
    from aws_helper_sync.database import MongoManager
    from aws_helper_sync.sqs.handler import sqs_handler

    prefix = f"bench_sqs_{uuid.uuid4().hex[:6]}"
    states = [f"{prefix}_{i}" for i in range(8)]
    stack.callback(lambda: [MongoManager.get_client().drop_database(s) for s in states])

    def run(workers: int, event_states: list[str]) -> float:
        os.environ["BENCH_MAX_WORKERS"] = str(workers)
        loading.clear_cache()  # reload the class with this max_workers
        call = checked(sqs_handler("bench_batch"), make_event(event_states, 50, 200))
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    run(8, states)  # warm-up: databases, client pool
    samples: dict[str, list[float]] = {"sequential": [], "fan-out": [], "ideal": []}
    for _ in range(rounds):
        samples["sequential"].append(run(1, states))
        samples["fan-out"].append(run(8, states))
        samples["ideal"].append(max(run(1, [s]) for s in states))
    ms = {k: statistics.median(v) * 1000 for k, v in samples.items()}
    print(f"4. MongoDB: 8 states x 50 records, one bulk_write per group + {wait_ms:g} ms (wall ms)")
    for label, key in (("sequential (max_workers=1)", "sequential"), ("fan-out (max_workers=8)", "fan-out"),
                       ("ideal (slowest group alone)", "ideal")):
        print(f"  {label:44} {ms[key]:8.1f} {ms[key] / ms['ideal']:6.2f}x ideal")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per table (default 15)")
    parser.add_argument("--wait-ms", type=float, default=20.0, help="wait per state group in table 3 (default 20)")
    parser.add_argument("--mongo", action="store_true", help="add the MongoDB bulk_write table")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        app_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sqs-")))
        (app_root / "consumer").mkdir()
        for filename, source in CONSUMERS.items():
            (app_root / "consumer" / filename).write_text(textwrap.dedent(source))
        os.environ["APP_ROOT"] = str(app_root)
        os.environ["BENCH_WAIT_MS"] = str(args.wait_ms)
        logging.getLogger().setLevel(logging.WARNING)  # Lambda's default level: no per-invocation INFO line
        logging.getLogger("aws_helper_sync.registry").setLevel(logging.ERROR)  # the no-registry warning

        print(f"SQS through sqs_handler; medians of {args.rounds} interleaved rounds; "
              f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs\n")
        single_mode(args.rounds)
        batch_overhead(args.rounds)
        fan_out(args.rounds, args.wait_ms)
        if args.mongo:
            mongo_table(stack, max(3, args.rounds // 3), args.wait_ms)


if __name__ == "__main__":
    main()
