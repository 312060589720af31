"""Batch-mode fan-out: state groups on a thread pool vs one after another.

An SQS batch of STATES x PER_STATE records goes through ``sqs_handler`` with a
batch consumer whose ``process_batch`` does one ``bulk_write`` per state group
on MongoDB plus a fixed downstream wait (standing for an HTTP call). Wall time:

- sequential: ``max_workers = 1`` (the groups one after another)
- fan-out:    ``max_workers = 8`` (the groups concurrently)
- ideal:      the slowest group processed alone (nothing can beat it)

Goal: fan-out within 1.3x of the ideal. Uses MONGODB_URI when set, else
starts a SecantusDB of its own (aws_helper_sync.devservers).

    python benchmarks/bench_sqs_batch.py [--wait-ms 50] [--states 8] [--per-state 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

CONSUMER = '''
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
    use_db = os.environ["BENCH_USE_DB"] == "1"
    write_seconds = []  # one entry per bulk_write, for the server-bound floor

    def process_batch(self, records):
        if self.use_db:
            start = time.perf_counter()
            BenchRecords().collection.bulk_write(
                [InsertOne({"_id": r["messageId"], "body": self.parse_body(r)}) for r in records], ordered=False
            )
            self.write_seconds.append(time.perf_counter() - start)
        time.sleep(self.wait_seconds)  # the downstream call of each group
'''


def make_event(states: list[str], per_state: int) -> dict:
    records = []
    for i in range(per_state):
        for state in states:  # interleaved, as a real batch arrives
            records.append({
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "bench",
                "body": f'{{"i": {i}, "payload": "{"x" * 200}"}}',
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {"constitution-state": {"stringValue": state, "dataType": "String"}},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:bench",
                "awsRegion": "us-east-2",
            })
    return {"Records": records}


def timed(handler_for, workers: int, event: dict) -> tuple[float, float]:
    """(wall seconds, summed bulk_write seconds) of one handler call."""
    handler, consumer_class = handler_for(workers)
    start = time.perf_counter()
    response = handler(event, None)
    elapsed = time.perf_counter() - start
    if response["batchItemFailures"]:
        raise RuntimeError(f"benchmark batch failed: {response}")
    return elapsed, sum(consumer_class.write_seconds)


def measure(handler_for, states: list[str], per_state: int, rounds: int) -> dict[str, float]:
    """Median wall ms of each variant over ``rounds`` interleaved rounds."""
    samples: dict[str, list[float]] = {"sequential": [], "fan-out": [], "ideal": [], "floor": []}
    for _ in range(rounds):
        wall, writes = timed(handler_for, 1, make_event(states, per_state))
        samples["sequential"].append(wall)
        wait = handler_for(1)[1].wait_seconds
        samples["floor"].append(writes + wait)  # every write one after another, then one wait
        samples["fan-out"].append(timed(handler_for, 8, make_event(states, per_state))[0])
        samples["ideal"].append(max(timed(handler_for, 1, make_event([s], per_state))[0] for s in states))
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def print_table(title: str, ms: dict[str, float], with_floor: bool) -> None:
    best, fan = ms["ideal"], ms["fan-out"]
    print(title)
    print(f"  {'variant':40} {'wall ms':>9} {'x ideal':>9} {'x fan-out':>10}")
    rows = [
        ("sequential (max_workers=1)", ms["sequential"]),
        ("fan-out (max_workers=8)", fan),
        ("ideal (slowest group alone)", best),
    ]
    if with_floor:
        rows.append(("server floor (all writes serial + 1 wait)", ms["floor"]))
    for label, value in rows:
        print(f"  {label:40} {value:9.1f} {value / best:9.2f} {value / fan:10.2f}")
    verdict = "met" if fan / best <= 1.3 else "NOT met"
    print(f"  fan-out / ideal = {fan / best:.2f} (goal <= 1.30: {verdict}); "
          f"sequential / fan-out = {ms['sequential'] / fan:.2f}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wait-ms", type=float, default=50.0, help="downstream wait per group (default 50)")
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--per-state", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        if not os.environ.get("MONGODB_URI"):
            from aws_helper_sync.devservers import SecantusServer

            os.environ["MONGODB_URI"] = stack.enter_context(SecantusServer()).uri
            server = "SecantusDB (started by the benchmark)"
        else:
            server = "MONGODB_URI"
        app_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sqs-")))
        (app_root / "consumer").mkdir()
        (app_root / "consumer" / "bench_batch.py").write_text(textwrap.dedent(CONSUMER))
        os.environ["APP_ROOT"] = str(app_root)
        os.environ["BENCH_WAIT_MS"] = str(args.wait_ms)

        from aws_helper_sync import loading
        from aws_helper_sync.database import MongoManager
        from aws_helper_sync.sqs.handler import load_consumer_class, sqs_handler

        def handler_for(workers: int):
            os.environ["BENCH_MAX_WORKERS"] = str(workers)
            loading.clear_cache()  # reload the class with this max_workers (and fresh write_seconds)
            return sqs_handler("bench_batch"), load_consumer_class("bench_batch")

        prefix = f"bench_sqs_{uuid.uuid4().hex[:6]}"
        states = [f"{prefix}_{i}" for i in range(args.states)]
        stack.callback(lambda: [MongoManager.get_client().drop_database(s) for s in states])

        print(f"SQS batch mode through sqs_handler: {args.states} states x {args.per_state} records, "
              f"{args.wait_ms:g} ms downstream wait per group; median of {args.rounds} rounds")
        print(f"MongoDB: {server}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs\n")

        os.environ["BENCH_USE_DB"] = "1"
        timed(handler_for, args.states, make_event(states, 5))  # warm-up: databases, client pool
        print_table("one bulk_write per group + the wait",
                    measure(handler_for, states, args.per_state, args.rounds), with_floor=True)
        os.environ["BENCH_USE_DB"] = "0"
        print_table("the wait only (no database: the framework's own fan-out cost)",
                    measure(handler_for, states, args.per_state, args.rounds), with_floor=False)


if __name__ == "__main__":
    main()
