"""Requests per second through ``api_handler`` vs the same route as a plain PyMongo function.

Two routes: ``GET /ping`` (no database) and ``GET /parcels/<id>`` (one
``find_one`` by ``_id`` in the state's database, through a Repository). The
floor is the same work in a plain function over raw PyMongo: read the state
header, parse the id, ``find_one`` on a collection cached per state,
``json.dumps``, build the proxy response.

The machine is shared and SecantusDB's latency drifts, so each round runs the
floor and api_handler in ABBA order on the same events, and the overhead is the
median of the per-round ratios (req/s columns: medians over rounds).

Starts its own SecantusDB (aws_helper_sync.devservers) unless MONGODB_URI is set.

    python benchmarks/bench_api.py [--requests 500] [--rounds 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

STATE = "bench_api_connecticut"
PARCELS = 1000

ROUTES = {
    "api/ping/list.py": """
        from aws_helper_sync import API


        class PingList(API):
            def process(self):
                self.set_body({"ok": True})
    """,
    "api/parcels/get.py": """
        from aws_helper_sync import API, Repository


        class ParcelsRepository(Repository):
            collection_name = "parcels"


        PARCELS = ParcelsRepository()


        class ParcelsGet(API):
            def process(self):
                self.set_body(PARCELS.collection.find_one({"_id": int(self.path_parameters[0])}))
    """,
}


def event(path: str) -> dict:
    """A REST API (1.0) proxy event, as API Gateway sends it."""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Constitution-State": STATE, "Accept": "application/json",
                    "User-Agent": "bench", "X-Forwarded-For": "127.0.0.1"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": {"requestId": "bench", "stage": "prod", "httpMethod": "GET"},
        "body": None,
        "isBase64Encoded": False,
    }


# -- the floor: the same routes as plain functions over raw PyMongo ----------

def raw_ping(evt: dict) -> dict:
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"ok": True})}


def make_raw_parcel(client):
    collections: dict = {}  # the floor caches too: client[db][coll] costs a few microseconds

    def raw_parcel(evt: dict) -> dict:
        state = evt["headers"]["Constitution-State"]
        parcel_id = int(evt["path"].rsplit("/", 1)[1])
        coll = collections.get(state)
        if coll is None:
            coll = collections[state] = client[state]["parcels"]
        doc = coll.find_one({"_id": parcel_id})
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps(doc)}

    return raw_parcel


# -- measurement ---------------------------------------------------------------

def measure(fn, events: list[dict], threads: int) -> tuple[float, float]:
    """Requests per second of ``fn`` over ``events`` split across ``threads``, and this
    process's CPU microseconds per request (unaffected by the server's latency)."""
    chunks = [events[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    failures = []

    def worker(chunk):
        barrier.wait()
        for evt in chunk:
            if fn(evt, None)["statusCode"] != 200:
                failures.append(evt["path"])

    pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in pool:
        t.start()
    barrier.wait()
    start, cpu_start = time.perf_counter(), time.process_time()
    for t in pool:
        t.join()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return len(events) / elapsed, cpu / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="requests per variant and round")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    server = None
    if not os.environ.get("MONGODB_URI"):
        from aws_helper_sync.devservers import SecantusServer

        server = SecantusServer().start()
        os.environ["MONGODB_URI"] = server.uri
    app_root = tempfile.mkdtemp(prefix="bench-api-")
    for relative, source in ROUTES.items():
        path = Path(app_root, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    os.environ["APP_ROOT"] = app_root
    os.environ.pop("REQUIRE_AUTH", None)

    from aws_helper_sync import api_handler
    from aws_helper_sync.database import MongoManager

    client = MongoManager.get_client()
    try:
        client.drop_database(STATE)
        client[STATE].parcels.insert_many(
            [{"_id": i, "parcel": f"P-{i:05d}", "owner": f"owner {i}", "acres": i % 40 + 0.5}
             for i in range(PARCELS)])
        ping_events = [event("/ping")] * args.requests
        parcel_events = [event(f"/parcels/{i % PARCELS}") for i in range(args.requests)]
        raw_parcel = make_raw_parcel(client)
        routes = {
            "trivial (no database)": (lambda e, c: raw_ping(e), ping_events),
            "one find_one": (lambda e, c: raw_parcel(e), parcel_events),
        }
        for floor, events in routes.values():  # warm up: imports, loader cache, connections
            measure(floor, events[:200], args.threads)
            measure(api_handler, events[:200], args.threads)
        results: dict[str, dict[str, list[float]]] = {
            route: {"floor": [], "api": [], "ratio": [], "floor_cpu": [], "api_cpu": []}
            for route in routes}
        for _ in range(args.rounds):
            for route, (floor, events) in routes.items():
                (a1, ca1), (b1, cb1) = measure(floor, events, args.threads), measure(api_handler, events, args.threads)
                (b2, cb2), (a2, ca2) = measure(api_handler, events, args.threads), measure(floor, events, args.threads)
                result = results[route]
                result["floor"] += [a1, a2]
                result["api"] += [b1, b2]
                result["floor_cpu"] += [ca1, ca2]
                result["api_cpu"] += [cb1, cb2]
                result["ratio"].append((b1 + b2) / (a1 + a2))
    finally:
        client.drop_database(STATE)
        MongoManager.close()
        if server is not None:
            server.stop()

    print(f"api_handler vs the floor: {args.requests} requests x {args.rounds} rounds, "
          f"{args.threads} thread(s), median req/s; Python {sys.version.split()[0]}, "
          f"MongoDB: {'SecantusDB' if server else 'MONGODB_URI'}")
    med = statistics.median
    header = (f"{'route':<22}{'floor req/s':>12}{'api req/s':>11}{'ratio':>7}{'overhead':>10}"
              f"{'floor CPU us':>14}{'api CPU us':>12}{'CPU added':>11}{'CPU-based':>11}")
    print(header)
    print("-" * len(header))
    for route, result in results.items():
        floor, ours, ratio = med(result["floor"]), med(result["api"]), med(result["ratio"])
        floor_cpu, api_cpu = med(result["floor_cpu"]), med(result["api_cpu"])
        added = api_cpu - floor_cpu
        # the framework's added CPU as a share of the floor's wall time per request
        cpu_based = added / (added + 1e6 / floor) * 100
        print(f"{route:<22}{floor:>12,.0f}{ours:>11,.0f}{ratio:>7.3f}{(1 - ratio) * 100:>9.1f}%"
              f"{floor_cpu:>14.1f}{api_cpu:>12.1f}{added:>11.1f}{cpu_based:>10.1f}%")
    low, high = (statistics.quantiles(results["one find_one"]["ratio"], n=4)[i] for i in (0, 2))
    print(f"ratio: median of per-round api_handler/floor req/s (database route quartiles {low:.3f}..{high:.3f});"
          " overhead = 1 - ratio")
    print("CPU us: this process's CPU time per request; CPU-based overhead = CPU added / "
          "(CPU added + floor wall time per request), immune to server latency drift")
    print("goal: overhead under 10% on the database route")


if __name__ == "__main__":
    main()
