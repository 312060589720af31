"""The cost per call of ``idempotent_call`` (claim + store) vs the bare call vs one ``insert_one``.

Variants, each over CALLS calls in one state's database:
- bare call: the body alone (a function returning a small dict);
- insert_one: one plain ``insert_one`` of a small document, the cheapest durable write;
- first call: ``idempotent_call`` with a new key each time (insert the claim, run, store the result);
- repeat: ``idempotent_call`` with a completed key (the claim insert fails, the record is read);
- body = insert_one: a first call whose body is the insert_one above, vs that insert_one alone.

The machine is shared and SecantusDB's latency drifts, so the variants run in
turn in every round and the figures are medians over rounds.
Starts its own SecantusDB (aws_helper_sync.devservers) unless MONGODB_URI is set.

    python benchmarks/bench_idempotency.py [--calls 300] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from typing import Any, Callable

STATE = "bench_idempotency_ohio"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="calls per variant and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    server = None
    if not os.environ.get("MONGODB_URI"):
        from aws_helper_sync.devservers import SecantusServer

        server = SecantusServer().start()
        os.environ["MONGODB_URI"] = server.uri

    from aws_helper_sync import idempotent_call, state_scope
    from aws_helper_sync.database import MongoManager

    client = MongoManager.get_client()
    client.drop_database(STATE)
    plain = client[STATE]["plain"]

    def body(payload: Any) -> dict[str, Any]:
        return {"ok": True, "n": payload["n"]}

    def writing_body(payload: Any) -> Any:
        return plain.insert_one({"n": payload["n"]}).inserted_id

    repeated = {"n": -1, "run": "repeat"}

    def variants(round_id: str) -> dict[str, Callable[[int], Any]]:
        return {
            "bare call": lambda n: body({"n": n}),
            "insert_one": lambda n: plain.insert_one({"n": n}),
            "first call": lambda n: idempotent_call(body, {"n": n, "run": round_id}),
            "repeat": lambda n: idempotent_call(body, repeated),
            "body = insert_one": lambda n: idempotent_call(writing_body, {"n": n, "run": round_id}),
        }

    timings: dict[str, list[float]] = {}
    try:
        with state_scope(STATE):
            idempotent_call(body, repeated)  # the completed key of "repeat"; warms the collection cache
            for _ in range(args.rounds):
                for name, call in variants(uuid.uuid4().hex).items():
                    started = time.perf_counter()
                    for n in range(args.calls):
                        call(n)
                    timings.setdefault(name, []).append((time.perf_counter() - started) / args.calls * 1e6)
    finally:
        client.drop_database(STATE)
        MongoManager.close()
        if server is not None:
            server.stop()

    us = {name: statistics.median(values) for name, values in timings.items()}
    print(f"microseconds per call, {args.calls} calls x {args.rounds} rounds (medians), one thread, "
          f"MongoDB: {'SecantusDB' if server else 'MONGODB_URI'}\n")
    print(f"{'variant':<20} {'us/call':>10} {'calls/s':>10} {'x insert_one':>13}")
    for name, value in us.items():
        print(f"{name:<20} {value:10,.0f} {1e6 / value:10,.0f} {value / us['insert_one']:13.2f}")
    print(f"\nclaim + store per first call: {us['first call'] - us['bare call']:,.0f} us "
          f"({(us['first call'] - us['bare call']) / us['insert_one']:.1f} insert_one); "
          f"a repeat: {us['repeat']:,.0f} us; with a body that writes: "
          f"{us['body = insert_one'] / us['insert_one']:.1f}x the write alone")


if __name__ == "__main__":
    main()
