"""Smoke test of benchmarks/bench_anchors.py: the comparison still runs end to end.

Tiny sizes (``--quick``), no timing assertions (TESTING.md: benchmarks are not
tests). The anchor venvs are created on first use from PyPI and reused from the
cache dir (``AWS_HELPER_SYNC_BENCH_CACHE`` or ``~/.cache/aws-helper-sync-bench``)
afterwards; without network on the first run the test fails and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DRIVER = REPO / "benchmarks" / "bench_anchors.py"
COMMITTED_RESULTS = REPO / "benchmarks" / "RESULTS.md"

ROW_TITLES = (
    "cold start: import the API handler module",
    "cold start: import the SQS batch module",
    "cold start: fresh process to first find_one response",
    "API handler: trivial route",
    "API handler: one find_one",
    "SQS batch: 3 states x 4 records",
    "SNS: publish 25 messages",
    # the goal rows of issue 15
    "cold start: API handler import over a bare interpreter",
    "cold start: SQS handler import over a bare interpreter",
    "cold start: fresh process to first trivial (GET /ping) response",
    "API CPU: REST v1 trivial route, 15 headers",
    "API CPU: HTTP API v2 trivial route, 15 headers",
    "API CPU: REST v1 POST, small JSON body parsed",
    "SQS single mode: 1000 records of 1 state, no-op consumer",
    "SQS batch mode: 10 records over 8 states, no-op consumer",
    "SQS batch fan-out: 10 records over 8 states, 20 ms I/O per group",
    "SQS batch fan-out: 1000 records over 8 states, 20 ms I/O per group",
    "Repository hit path, 1 thread",
    "Repository hit path, 8 threads",
    "SNS: publish(list) of 100 messages, +20 ms per request",
)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def test_quick_run_prints_every_row_and_writes_results(tmp_path):
    results = tmp_path / "RESULTS.md"
    committed_before = COMMITTED_RESULTS.read_bytes() if COMMITTED_RESULTS.exists() else None
    try:
        done = subprocess.run(
            [sys.executable, str(DRIVER), "--quick", "--results", str(results)],
            check=False, cwd=REPO, env=dict(os.environ), capture_output=True, text=True, timeout=900,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        pytest.fail(f"bench_anchors.py --quick did not finish in {exc.timeout}s:\n{_tail(stderr)}")
    if done.returncode != 0:
        hint = ""
        if "benchmark venv" in done.stderr:
            hint = ("\nThe anchor venvs could not be created: the first run needs pip access "
                    "to PyPI (aws-python-helper==0.32.0, aws-lambda-powertools 3.x).")
        pytest.fail(f"bench_anchors.py --quick exited {done.returncode}{hint}\n"
                    f"--- stdout ---\n{_tail(done.stdout)}\n--- stderr ---\n{_tail(done.stderr)}")

    table = done.stdout
    for title in ROW_TITLES:
        assert title in table, f"row {title!r} missing from the table:\n{table}"
    assert "ours/async" in table and "ours/PT" in table and "ours/floor" in table
    assert "failed" not in table.split("\n\n")[0], table
    goals = table.split("Issue 15 goals", 1)[1].split("\n\n")[0]
    verdicts = [line for line in goals.splitlines() if line.rstrip().endswith(("met", "not measurable on this tree"))]
    assert len(verdicts) >= 15, goals  # every goal of issue 15 has its line
    assert "failed" not in goals, goals
    assert "pymongo" in table  # the cold start line saying how much of the first request is pymongo's import

    text = results.read_text()
    for heading in ("## Reproduce", "## Machine", "## Versions", "## Results", "## Issue 15 goals",
                    "## What each row measures, and how it is kept fair"):
        assert heading in text
    assert "python benchmarks/bench_anchors.py --quick" in text
    assert "aws-python-helper 0.32.0" in text and "aws-lambda-powertools 3." in text
    assert all(title in text for title in ROW_TITLES)
    committed_after = COMMITTED_RESULTS.read_bytes() if COMMITTED_RESULTS.exists() else None
    assert committed_after == committed_before, "the smoke run must not touch the committed RESULTS.md"


def test_rows_aliases_and_unknown_groups():
    """``--rows goals`` is the issue 15 set; an unknown group is refused with the list of choices."""
    sys.path.insert(0, str(DRIVER.parent))
    import bench_anchors

    assert bench_anchors.parse_args(["--rows", "goals"]).rows == [
        "cold", "api_cpu", "sqs_single", "sqs_batch", "repo", "sns_proxy"]
    assert bench_anchors.parse_args(["--rows", "sns,api_cpu,sns"]).rows == ["sns", "api_cpu"]
    with pytest.raises(SystemExit):
        bench_anchors.parse_args(["--rows", "api_gpu"])
