"""Cold-start cost of ``import aws_helper_sync``.

Runs each import in fresh interpreters (median of N) and prints a table beside
the interpreter floor (``pass``) and the heavy modules the package avoids.

    python benchmarks/bench_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = [
    ("python -c pass (floor)", "pass"),
    ("import aws_helper_sync", "import aws_helper_sync"),
    ("from aws_helper_sync import state_scope, Repository", "from aws_helper_sync import state_scope, Repository"),
    ("import boto3", "import boto3"),
    ("import pymongo", "import pymongo"),
]
HEAVY = ("boto3", "botocore", "pymongo", "bson")


def wall_ms_all(codes: list[str], runs: int) -> dict[str, float]:
    """Median wall time per snippet; runs are interleaved so machine noise hits all alike."""
    samples: dict[str, list[float]] = {code: [] for code in codes}
    for _ in range(runs):
        for code in codes:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples[code].append((time.perf_counter() - start) * 1000)
    return {code: statistics.median(values) for code, values in samples.items()}


def self_ms(module_code: str, runs: int) -> float:
    """In-process import time (no interpreter start-up), from perf_counter around the import."""
    probe = f"import time; t=time.perf_counter(); {module_code}; print((time.perf_counter()-t)*1000)"
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
        samples.append(float(out.stdout))
    return statistics.median(samples)


def loaded_heavy(code: str) -> str:
    probe = f"{code}; import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return out.stdout.strip() or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    walls = wall_ms_all([code for _, code in CASES], args.runs)
    floor = walls["pass"]
    print(f"fresh-process import, median of {args.runs} ({sys.version.split()[0]})\n")
    print(f"{'case':55} {'wall ms':>8} {'-floor':>8} {'in-proc':>8}  heavy modules loaded")
    for label, code in CASES:
        wall = walls[code]
        inproc = 0.0 if code == "pass" else self_ms(code, args.runs)
        heavy = "" if code == "pass" else loaded_heavy(code)
        print(f"{label:55} {wall:8.1f} {wall - floor:8.1f} {inproc:8.1f}  {heavy}")
    ours = self_ms("import aws_helper_sync", args.runs)
    boto = self_ms("import boto3", args.runs)
    mongo = self_ms("import pymongo", args.runs)
    print(f"\nimport aws_helper_sync in-process: {ours:.1f} ms (goal < 20 ms); "
          f"ratio to boto3 {ours / boto:.3f}, to pymongo {ours / mongo:.3f}")


if __name__ == "__main__":
    main()
