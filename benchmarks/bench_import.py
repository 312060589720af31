"""Cold start: our handler imports beside Powertools', and the first request after them.

Every case runs in a fresh interpreter; cases are interleaved run by run, so
machine noise hits all alike, and medians are printed. Two clocks per process:
wall (spawn to exit) and CPU (the child's user + sys time, far less disturbed
by other processes on a shared machine). Each side is shown over its own bare
interpreter (``python -c pass``), and the goal is the ratio of those deltas
(issue 15: ours <= 0.30x Powertools for both handler modules).

When the clean benchmark venvs exist (``benchmarks/anchors/envs.py``: one with
only our runtime dependencies, our package taken from this working tree through
``PYTHONPATH``; one with Powertools, from the same interpreter) the two sides are
compared there: the project's dev environment preloads modules at start-up that
a Lambda would not have. Without them, only our rows run, in this interpreter.
Our bytecode is compiled first, as pip did for Powertools' site-packages.

The first-request rows import the API handler and answer ``GET /ping`` (no
database) in a fresh process, then one ``find_one`` through the library (which
imports pymongo and connects; a SecantusDB is started unless MONGODB_URI is set,
or ``--no-mongo``): pymongo's import dominates that one.

``--instructions`` adds one more clock where valgrind is installed: the
instructions each import executes (callgrind), deterministic, so the ratio does
not move with the machine's load.

    python benchmarks/bench_import.py [--runs 31] [--no-mongo] [--instructions]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / "anchors"))

import envs

OURS, POWERTOOLS = "ours", "Powertools"
API_IMPORTS = {OURS: "import aws_helper_sync.api.handler",
               POWERTOOLS: "from aws_lambda_powertools.event_handler import APIGatewayRestResolver"}
SQS_IMPORTS = {OURS: "import aws_helper_sync.sqs.handler",
               POWERTOOLS: "from aws_lambda_powertools.utilities.batch import "
                           "BatchProcessor, EventType, process_partial_response"}
REFERENCES = ("import aws_helper_sync", "import pymongo", "import boto3")
# What the handler imports must not load (tests/test_import.py checks the same).
HEAVY = ("pymongo", "bson", "boto3", "botocore", "http.client", "email", "ssl", "logging",
         "concurrent.futures", "uuid", "urllib.parse", "dataclasses", "inspect")

FIRST_REQUEST = r"""
import json, os, sys, time
marks = [(time.perf_counter(), time.process_time())]
from aws_helper_sync.api.handler import api_handler
marks.append((time.perf_counter(), time.process_time()))
headers = {"Accept": "application/json", "Host": "api.example.com", "constitution-state": "bench_cold"}
event = {"resource": "/{proxy+}", "path": "/ping", "httpMethod": "GET", "headers": headers,
         "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
         "multiValueQueryStringParameters": None, "pathParameters": {"proxy": "ping"},
         "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "GET", "path": "/prod/ping",
                            "stage": "prod", "requestId": "req-1"},
         "body": None, "isBase64Encoded": False}
response = api_handler(event, None)
marks.append((time.perf_counter(), time.process_time()))
assert response["statusCode"] == 200, response
names = ["import", "ping"]
if os.environ.get("MONGODB_URI"):
    import pymongo
    marks.append((time.perf_counter(), time.process_time()))
    from aws_helper_sync.database import MongoManager
    MongoManager.get_database("bench_cold").items.find_one({})
    marks.append((time.perf_counter(), time.process_time()))
    names += ["pymongo", "rest of find_one"]
out = {}
for name, (start, end) in zip(names, zip(marks, marks[1:])):
    out[name] = (end[0] - start[0]) * 1000
    out[name + " cpu"] = (end[1] - start[1]) * 1000
sys.stdout.write(json.dumps(out) + "\n")
sys.stdout.flush()
os._exit(0)  # the clock stops at the answer: no joining pymongo's monitor threads on the way out
"""


def run_once(python: str, code: str, env: dict[str, str]) -> tuple[float, float, str]:
    """(wall ms, child CPU ms, stdout) of one fresh ``python -c code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # cwd: not the repository root, whose package would shadow PYTHONPATH's (sys.path[0] is the cwd for -c)
    done = subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True, cwd=HERE)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000
    return wall, cpu, done.stdout


def instructions(python: str, code: str, env: dict[str, str]) -> int:
    """Instructions executed by a fresh ``python -c code`` (valgrind's callgrind)."""
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-c", code],
                          env=env, check=True, capture_output=True, text=True, cwd=HERE)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind: {done.stderr[-500:]}")
    return int(found.group(1))


def find_venvs() -> dict[str, str]:
    """The clean venvs' pythons when both exist (never built here: that needs PyPI)."""
    cache = envs.default_cache_dir()
    pythons = {OURS: envs._python_of(cache / envs.OURS_CLEAN), POWERTOOLS: envs._python_of(cache / envs.POWERTOOLS)}
    if all(path.exists() for path in pythons.values()):
        return {side: str(path) for side, path in pythons.items()}
    return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--no-mongo", action="store_true", help="skip the first find_one row")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "APP_ROOT", "REQUIRE_AUTH", "ALLOWED_STATES")}
    ours_env = dict(env, PYTHONPATH=str(REPO), APP_ROOT=str(HERE / "anchors" / "app_ours"))
    pythons = find_venvs()
    if not pythons:
        print("clean venvs not found (python benchmarks/anchors/envs.py builds them): ours only, this interpreter\n")
        pythons = {OURS: sys.executable}
    subprocess.run([pythons[OURS], "-m", "compileall", "-q", str(REPO / "aws_helper_sync")],
                   env=env, check=False, capture_output=True)

    cases: list[tuple[str, str, str]] = [(f"{side} bare interpreter", side, "pass") for side in pythons]
    for kind, imports in (("API", API_IMPORTS), ("SQS", SQS_IMPORTS)):
        cases += [(f"{side}: {kind} handler import", side, code) for side, code in imports.items() if side in pythons]
    cases += [(f"reference: {code}", OURS, code) for code in REFERENCES]

    with ExitStack() as stack:
        if not args.no_mongo and not os.environ.get("MONGODB_URI"):
            try:
                from aws_helper_sync.devservers import SecantusServer

                ours_env["MONGODB_URI"] = stack.enter_context(SecantusServer()).uri
            except Exception as exc:  # noqa: BLE001 - the row is optional
                print(f"no MongoDB for the find_one row ({exc}); use MONGODB_URI or --no-mongo\n")
        elif os.environ.get("MONGODB_URI") and args.no_mongo:
            ours_env.pop("MONGODB_URI", None)

        wall: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        cpu: dict[str, list[float]] = {label: [] for label, _, _ in cases}
        first: list[dict[str, float]] = []
        for _ in range(args.runs):
            for label, side, code in cases:
                w, c, _ = run_once(pythons[side], code, ours_env if side == OURS else env)
                wall[label].append(w)
                cpu[label].append(c)
            first.append(json.loads(run_once(pythons[OURS], FIRST_REQUEST, ours_env)[2]))

    med = {label: (statistics.median(wall[label]), statistics.median(cpu[label])) for label in wall}
    floor = {side: med[f"{side} bare interpreter"] for side in pythons}
    print(f"fresh-process cold start, median of {args.runs} interleaved runs "
          f"({sys.version.split()[0]}; the machine may be shared: read ratios, not absolutes)\n")
    print(f"{'case':34} {'wall ms':>8} {'-bare':>7} {'cpu ms':>7} {'-bare':>7}")
    for label, side, _ in cases:
        (w, c), (fw, fc) = med[label], floor[side]
        print(f"{label:34} {w:8.1f} {w - fw:7.1f} {c:7.1f} {c - fc:7.1f}")
    for kind, imports in (("API", API_IMPORTS), ("SQS", SQS_IMPORTS)):
        print(f"  {kind} handler import: " + "  vs  ".join(f"{side} `{code}`" for side, code in imports.items()))

    if POWERTOOLS in pythons:
        print("\nours / Powertools, each over its bare interpreter (goal <= 0.30):")
        for name, imports in (("API handler", API_IMPORTS), ("SQS handler", SQS_IMPORTS)):
            ratios = []
            for clock in (0, 1):
                ours = med[f"{OURS}: {name} import"][clock] - floor[OURS][clock]
                theirs = med[f"{POWERTOOLS}: {name} import"][clock] - floor[POWERTOOLS][clock]
                ratios.append(ours / theirs)
            print(f"  {name:12} wall {ratios[0]:.2f}   cpu {ratios[1]:.2f}")

    print(f"\nfirst request in a fresh process (ours; in-process perf_counter / process_time, median of {args.runs}):")
    parts = {key: statistics.median(run[key] for run in first) for key in first[0]}
    for name in [key for key in first[0] if not key.endswith(" cpu")]:
        what = {"import": "import the API handler", "ping": "then the first GET /ping (no database)",
                "pymongo": "then import pymongo", "rest of find_one": "then the first find_one (client, connect)"}[name]
        print(f"  {what:42} wall {parts[name]:7.1f} ms   cpu {parts[name + ' cpu']:7.1f} ms")
    if "pymongo" in parts:
        total = sum(parts[f"{name} cpu"] for name in ("import", "ping", "pymongo", "rest of find_one"))
        print(f"  {'total to the first find_one':42} {'':16} cpu {total:7.1f} ms "
              f"(pymongo's import: {parts['pymongo cpu'] / total:.0%})")

    if args.instructions and shutil.which("valgrind"):
        print("\ninstructions executed (callgrind, one run each: deterministic), millions:")
        counts = {label: instructions(pythons[side], code, ours_env if side == OURS else env) / 1e6
                  for label, side, code in cases if "reference" not in label}
        for label, side, _ in cases:
            if label in counts:
                print(f"  {label:34} {counts[label]:8.1f} {counts[label] - counts[f'{side} bare interpreter']:8.1f}")
        if POWERTOOLS in pythons:
            for name in ("API", "SQS"):
                ours = counts[f"{OURS}: {name} handler import"] - counts[f"{OURS} bare interpreter"]
                theirs = counts[f"{POWERTOOLS}: {name} handler import"] - counts[f"{POWERTOOLS} bare interpreter"]
                print(f"  ours / Powertools, {name} handler: {ours / theirs:.2f}")
    elif args.instructions:
        print("\n--instructions: valgrind not found")

    probe = f"import sys; {{}}; print(','.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')"
    for imports in (API_IMPORTS, SQS_IMPORTS):
        loaded = run_once(pythons[OURS], probe.format(imports[OURS]), ours_env)[2].strip()
        print(f"\nheavy modules loaded by `{imports[OURS]}`: {loaded}", end="")
    print()


if __name__ == "__main__":
    main()
