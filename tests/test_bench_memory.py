"""Smoke test of benchmarks/bench_memory.py: every warm path runs, is checked and gets its RSS table.

Tiny counts, no assertion on the figures (TESTING.md: benchmarks are not tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "bench_memory.py"


def test_tiny_run_prints_the_table_and_the_tracemalloc_lines():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--api-requests", "300", "--sqs-invocations", "40", "--samples", "3"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for path in ("API trivial route (api_handler)", "SQS batch mode (10 records, 8 states)",
                 "SQS single mode (10 records, 8 states)"):
        assert out.count(path) >= 2, out  # a table line and a tracemalloc heading
    assert "RSS start MB" in out and "after warm-up" in out and "growth MB" in out
    assert "tracemalloc:" in out
