"""Repository.collection hit path vs a plain dict lookup, at 1 and 8 threads (issue 15).

Each thread sets its own state, then does LOOKUPS accesses in a tight loop; the
time per access is the time over all threads divided by all accesses (the GIL
runs one thread at a time, so this is the cost each access adds to a busy
process), by two clocks: the threads' own CPU time (``time.thread_time``, not
disturbed by other processes of a shared machine) and wall time. The loop is the same for every variant, so the ratios compare the
lookups alone. Variants, interleaved round by round, medians of the rounds:

- ``repository``: ``repo.collection`` on a warm cache (the hit path);
- ``dict[state]``: a plain dict lookup keyed by the current state,
  ``cache[get_state()]`` (what a hand-written per-state cache does; the goal's
  reference: hit path <= 3x this);
- ``dict[key]``: a bare subscript with a prebuilt key, ``cache[key]`` (no state
  read at all: the floor of any lookup in Python);
- ``lock-always``: the naive alternative, a dict read under one lock;
- ``raw pymongo``: ``client[get_state()]["records"]`` (no cache).

The hit path does not touch the server, so none is needed (connect=False).

    python benchmarks/bench_repository.py [--lookups 20000] [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Callable

from aws_helper_sync import Repository, get_state, state_scope
from aws_helper_sync.database import MongoManager

THREADS = (1, 8)
VARIANTS = ("repository", "dict[state]", "dict[key]", "lock-always", "raw pymongo")


class Records(Repository):
    collection_name = "records"


def loop_for(variant: str, state: str, lookups: int) -> Callable[[], None]:
    """The measured loop of one thread; every variant pays the same loop overhead."""
    repo = Records()
    client = MongoManager.get_client()
    collection = client[state]["records"]
    by_state = {state: collection}
    key = (state, "records")
    by_key = {key: collection}
    lock = threading.Lock()
    steps = range(lookups)

    def repository() -> None:
        for _ in steps:
            repo.collection  # noqa: B018 - the measured access

    def dict_state() -> None:
        for _ in steps:
            by_state[get_state()]  # type: ignore[index]

    def dict_key() -> None:
        for _ in steps:
            by_key[key]

    def lock_always() -> None:
        for _ in steps:
            with lock:
                by_state[get_state()]  # type: ignore[index]

    def raw() -> None:
        for _ in steps:
            client[get_state()]["records"]  # type: ignore[index]

    return {"repository": repository, "dict[state]": dict_state, "dict[key]": dict_key,
            "lock-always": lock_always, "raw pymongo": raw}[variant]


def ns_per_lookup(variant: str, threads: int, lookups: int) -> tuple[float, float]:
    """(wall, CPU) ns per access over all threads; CPU is the threads' own time (time.thread_time)."""
    barrier = threading.Barrier(threads + 1)
    cpu: list[float] = []

    def worker(index: int) -> None:
        state = f"bench_state_{index:02d}"
        with state_scope(state):
            loop = loop_for(variant, state, lookups)
            Records().collection  # noqa: B018 - warm this thread's key
            barrier.wait()
            barrier.wait()
            start = time.thread_time()
            loop()
            cpu.append(time.thread_time() - start)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()  # all set up
    start = time.perf_counter()
    barrier.wait()  # go
    for t in pool:
        t.join()
    ops = threads * lookups
    return (time.perf_counter() - start) / ops * 1e9, sum(cpu) / ops * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lookups", type=int, default=20000, help="accesses per thread per round")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    os.environ["AUTO_CREATE_INDEXES"] = "false"
    MongoManager.configure("mongodb://127.0.0.1:1", connect=False)
    samples: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for threads in THREADS:
            for variant in VARIANTS:
                samples.setdefault((threads, variant), []).append(ns_per_lookup(variant, threads, args.lookups))
    print(f"ns per access (lower is better), {args.lookups} accesses per thread, "
          f"median of {args.rounds} interleaved rounds")
    for clock, name in ((1, "CPU time of the threads (robust on a shared machine)"), (0, "wall time")):
        print(f"\n{name}:")
        print(f"{'threads':>7} " + " ".join(f"{v:>12}" for v in VARIANTS)
              + f" {'repo/dict[state]':>17} {'repo/dict[key]':>15}")
        for threads in THREADS:
            ns = {v: statistics.median(s[clock] for s in samples[(threads, v)]) for v in VARIANTS}
            print(f"{threads:7d} " + " ".join(f"{ns[v]:12.1f}" for v in VARIANTS)
                  + f" {ns['repository'] / ns['dict[state]']:17.2f} {ns['repository'] / ns['dict[key]']:15.2f}")
    print("\ngoal (issue 15): repository <= 3x a plain dict lookup (dict[state]) at 1 and 8 threads")
    MongoManager.close()


if __name__ == "__main__":
    main()
