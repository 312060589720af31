"""Memory over many warm invocations: does anything grow with the number of calls?

The goal of issue 15: every warm path allocates nothing that grows with the
number of invocations. This runs, in one process, 100,000 API requests (the
trivial route ``GET /ping`` through ``api_handler``, REST v1 events with the
15 API Gateway headers) and 10,000 SQS invocations in each mode (``sqs_handler``
with a no-op consumer, batch mode and single mode, 10 small records over 8
states per event), every event fresh, every response checked. The process's
resident set (``VmRSS`` from ``/proc/self/status``; elsewhere ``ru_maxrss``, a
peak) and the number of objects the garbage collector tracks are read after
``gc.collect()`` every N calls. Flat is the goal: the growth after the warm-up
stays under a threshold (allocator noise is a few hundred KiB). Then, with
``tracemalloc`` on, a shorter run per path shows the source lines whose
allocations grew most between the end of a warm-up and the end of the run.

No server is needed (the routes and consumers do not touch MongoDB).

    python benchmarks/bench_memory.py                  # 100,000 API requests, 10,000 SQS calls per mode
    python benchmarks/bench_memory.py --quick          # a tenth of that
    python benchmarks/bench_memory.py --no-tracemalloc --api-requests 200000
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANCHORS = HERE / "anchors"
sys.path.insert(0, str(ANCHORS))  # common.py: the same event builders as bench_anchors.py

import common

SQS_STATES = 8
SQS_RECORDS = 10


def rss_mb() -> float:
    """The resident set size now, in MB (``ru_maxrss``, the peak, where /proc is missing)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class Phase:
    """One warm path: its RSS and object-count readings, (calls done, MB, objects)."""

    name: str
    calls: int
    every: int
    readings: list = field(default_factory=list)
    seconds: float = 0.0

    def reading(self, done: int) -> None:
        gc.collect()
        self.readings.append((done, rss_mb(), len(gc.get_objects())))

    def at(self, index: int) -> tuple[int, float, int]:
        return self.readings[index]


def make_paths() -> dict:
    """name -> call(n): one invocation on a fresh event, its response checked."""
    os.environ["APP_ROOT"] = str(ANCHORS / "app_ours")
    for name in ("REQUIRE_AUTH", "ALLOWED_STATES", "STATES_COLLECTION"):
        os.environ.pop(name, None)
    from aws_helper_sync.api.handler import api_handler
    from aws_helper_sync.sqs.handler import sqs_handler

    batch = sqs_handler("bench-noop-batch")
    single = sqs_handler("bench-noop")

    def api(n: int) -> None:
        response = api_handler(common.cpu_case_event("rest_trivial", n), None)
        if response.get("statusCode") != 200:
            common.check_cpu_case_response("rest_trivial", n, response)

    def sqs(handler):
        def call(n: int) -> None:
            response = handler(common.sqs_state_event(SQS_RECORDS, SQS_STATES, 0, n), None)
            if response.get("batchItemFailures") or response.get("successful") != SQS_RECORDS:
                raise RuntimeError(f"invocation {n}: not every record succeeded: {str(response)[:300]}")
        return call

    return {"API trivial route (api_handler)": api,
            f"SQS batch mode ({SQS_RECORDS} records, {SQS_STATES} states)": sqs(batch),
            f"SQS single mode ({SQS_RECORDS} records, {SQS_STATES} states)": sqs(single)}


def run_phase(name: str, call, calls: int, every: int, warmup: int) -> Phase:
    phase = Phase(name, calls, every)
    phase.reading(0)
    start = time.perf_counter()
    for n in range(calls):
        call(n)
        done = n + 1
        if done == warmup or done % every == 0 or done == calls:
            phase.reading(done)
    phase.seconds = time.perf_counter() - start
    return phase


def top_growth(call, warmup: int, calls: int, limit: int) -> list[str]:
    """The source lines whose live allocations grew most from the end of a warm-up to the end of ``calls``."""
    tracemalloc.start()
    try:
        for n in range(warmup):
            call(n)
        gc.collect()
        before = tracemalloc.take_snapshot()
        for n in range(warmup, warmup + calls):
            call(n)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ignore = (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"))
    stats = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    grown = [stat for stat in stats if stat.size_diff > 0][:limit]
    if not grown:
        return ["    nothing grew"]
    lines = []
    for stat in grown:
        frame = stat.traceback[0]
        where = _short(frame.filename)
        lines.append(f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {where}:{frame.lineno}")
    return lines


def _short(filename: str) -> str:
    for marker in ("/aws_helper_sync/", "/site-packages/", "/benchmarks/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1]
    return filename


def table(phases: list[Phase], warmup_index: int, flat_mb: float) -> str:
    header = ("path", "calls", "RSS start MB", "after warm-up", "end", "growth MB", "per 10k calls",
              "objects warm -> end", "verdict")
    rows = []
    for phase in phases:
        _, start, _ = phase.at(0)
        warm_done, warm, warm_objects = phase.at(warmup_index)
        done, end, end_objects = phase.at(-1)
        growth = end - warm
        per_10k = growth / max(1, done - warm_done) * 10_000
        verdict = "flat" if growth < flat_mb else "GROWS"
        rows.append((phase.name, f"{phase.calls:,}", f"{start:.1f}", f"{warm:.1f}", f"{end:.1f}",
                     f"{growth:+.2f}", f"{per_10k:+.3f}", f"{warm_objects:,} -> {end_objects:,}", verdict))
    return common.aligned_table(header, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the calls (smoke test)")
    parser.add_argument("--api-requests", type=int, help="API requests (default 100000; quick 10000)")
    parser.add_argument("--sqs-invocations", type=int, help="SQS invocations per mode (default 10000; quick 1000)")
    parser.add_argument("--samples", type=int, default=10, choices=range(2, 1001), metavar="2..1000", help="RSS readings per path after the warm-up (default 10)")
    parser.add_argument("--flat-mb", type=float, default=2.0, help="growth after warm-up still called flat (default 2)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--top", type=int, default=5, help="lines shown per path by tracemalloc (default 5)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    api_requests = args.api_requests or 100_000 // scale
    sqs_invocations = args.sqs_invocations or 10_000 // scale

    paths = make_paths()
    counts = dict(zip(paths, (api_requests, sqs_invocations, sqs_invocations)))
    phases = []
    for name, call in paths.items():
        calls = counts[name]
        every = max(1, calls // args.samples)
        print(f"{name}: {calls:,} calls, RSS read every {every:,}", file=sys.stderr, flush=True)
        phases.append(run_phase(name, call, calls, every, warmup=every))

    print(f"Memory over warm invocations; Python {platform.python_version()}, {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()} (shared machine: RSS is per process, unaffected)\n")
    print(table(phases, 1, args.flat_mb))
    print(f"\nflat: growth from the end of the warm-up (the first tenth) to the end < {args.flat_mb:g} MB; "
          f"threads alive at the end: {threading.active_count()}")
    for phase in phases:
        series = ", ".join(f"{mb:.1f}" for _, mb, _ in phase.readings)
        rate = phase.calls / phase.seconds if phase.seconds else 0
        print(f"- {phase.name}: RSS MB at 0, then every {phase.every:,} calls: "
              f"{series} ({rate:,.0f} calls/s with the readings)")

    if not args.no_tracemalloc:
        print(f"\ntracemalloc: live allocations grown between the end of a warm-up and the end of a shorter "
              f"run (top {args.top} lines per path)")
        for name, call in paths.items():
            calls = max(1, counts[name] // 10)
            print(f"  {name}, {calls:,} calls after {calls // 5:,} of warm-up:")
            for line in top_growth(call, calls // 5, calls, args.top):
                print(line)
    grows = [p.name for p in phases if p.at(-1)[1] - p.at(1)[1] >= args.flat_mb]
    if grows:
        print(f"\nnot flat: {', '.join(grows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
