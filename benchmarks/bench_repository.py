"""Repository.collection hit path vs a lock-always cache vs raw ``client[db][coll]``.

Each thread walks 50 states and does LOOKUPS lookups per state. All variants
pick the database from the current state the same way, so the difference is
the cache. The hit path does not touch the server, so no server is needed
(the client is created with connect=False).

    python benchmarks/bench_repository.py [--lookups 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

from aws_helper_sync import Repository, get_state, set_state
from aws_helper_sync.database import MongoManager

STATES = [f"state_{i:02d}" for i in range(50)]


class Records(Repository):
    collection_name = "records"


class LockAlwaysRecords(Repository):
    """The naive alternative: every access takes the lock."""

    collection_name = "records"
    _lock = threading.Lock()
    _cache: dict = {}  # noqa: RUF012 - benchmark-local cache

    @property
    def collection(self):
        key = (self.database_name, self.collection_name)
        with self._lock:
            coll = self._cache.get(key)
            if coll is None:
                coll = self._cache[key] = MongoManager.get_client()[key[0]][key[1]]
            return coll


def raw_lookup(client):
    return client[get_state()]["records"]


def run(variant: str, threads: int, lookups: int) -> float:
    """Lookups per second over all threads."""
    client = MongoManager.get_client()
    repo = Records() if variant == "repository" else LockAlwaysRecords()
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for state in STATES:
            set_state(state)
            if variant == "raw":
                for _ in range(lookups):
                    raw_lookup(client)
            else:
                for _ in range(lookups):
                    repo.collection  # noqa: B018 - the measured access

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return threads * len(STATES) * lookups / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ["AUTO_CREATE_INDEXES"] = "false"
    MongoManager.configure("mongodb://127.0.0.1:1", connect=False)
    for variant in ("repository", "lock-always"):  # warm every cache key once
        run(variant, 1, 1)
    print(f"collection lookups/s, 50 states x {args.lookups} lookups per thread, "
          f"median of {args.rounds} rounds\n")
    print(f"{'threads':>7} {'repository':>12} {'lock-always':>12} {'raw pymongo':>12} "
          f"{'repo/raw':>9} {'repo/lock':>10}")
    for threads in (1, 8):
        medians = {
            variant: statistics.median(run(variant, threads, args.lookups) for _ in range(args.rounds))
            for variant in ("repository", "lock-always", "raw")
        }
        repo, lock, raw = medians["repository"], medians["lock-always"], medians["raw"]
        print(f"{threads:7d} {repo:12,.0f} {lock:12,.0f} {raw:12,.0f} {repo / raw:9.2f} {repo / lock:10.2f}")
    print("\ngoals: repo/raw >= 0.5 (hit path within 2x of raw), repo/lock > 1 at 8 threads")
    MongoManager.close()


if __name__ == "__main__":
    main()
