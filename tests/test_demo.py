"""``aws-helper-sync demo``: the README's first command, run as users run it.

The demo starts its own SecantusDB and moto, so these tests need none of the
session's servers; they check the summary numbers against what the demo
posted, and that nothing it started survives it, also when a step fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aws_helper_sync.demo import DemoSummary, format_summary
from tests.conftest import EXAMPLE_ROOT

SCRIPT = shutil.which("aws-helper-sync", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
STARTED = re.compile(r"SecantusDB pid (\d+) on port \d+, data in (\S+)")


def demo(*args: str) -> subprocess.CompletedProcess:
    assert SCRIPT is not None, "run pip install -e '.[test]' to install the console script"
    return subprocess.run([SCRIPT, "demo", *args], capture_output=True, text=True, timeout=180, check=False)


def assert_stopped(pid: int, data_dir: str) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not Path(data_dir).exists()


def test_demo_summary_matches_what_it_did():
    result = demo("--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["parcels_posted"] == {"connecticut": 3, "new_jersey": 2}
    assert summary["documents"] == {
        "connecticut": {"parcels": 3, "parcel_history": 3},
        "new_jersey": {"parcels": 2, "parcel_history": 2},
        "core": {"parcel_reports": 2},
    }
    assert summary["messages_published"] == summary["messages_processed"] == 5
    assert summary["messages_failed"] == 0
    assert summary["lambda_invocations"] == 2
    assert (summary["tasks_launched"], summary["task_exit_code"]) == (1, 0)
    assert summary["http_requests"] == {"200": 4, "201": 5, "400": 1, "404": 1}
    assert [name for name, _ in summary["steps"]][-1] == "count documents per database"
    assert "WARNING: no state registry configured" in result.stderr  # the demo accepts any state
    assert_stopped(summary["servers"]["mongo_pid"], summary["servers"]["mongo_data_dir"])


def test_a_failing_step_exits_1_names_the_step_and_still_stops_everything(tmp_path):
    app = shutil.copytree(EXAMPLE_ROOT, tmp_path / "land_records")
    (app / "consumer" / "parcel_events.py").write_text(
        "from aws_helper_sync import SQSConsumer\n\n\n"
        "class ParcelEventsConsumer(SQSConsumer):\n"
        "    processing_mode = 'batch'\n\n"
        "    def process_batch(self, records):\n"
        "        raise RuntimeError('history store unavailable')\n"
    )

    result = demo("--app-root", str(app))

    assert result.returncode == 1
    assert result.stdout == ""
    assert "demo failed: SQS worker: drain the queue with the batch consumer: 5 messages failed" in result.stderr
    pid, data_dir = STARTED.search(result.stderr).groups()
    assert_stopped(int(pid), data_dir)


def test_summary_table():
    summary = DemoSummary(
        documents={"connecticut": {"parcels": 3}, "core": {"parcel_reports": 1}},
        http_requests={201: 3, 200: 2}, messages_published=3, messages_processed=3,
        lambda_invocations=1, tasks_launched=1, task_exit_code=0, seconds=9.87,
    )
    assert format_summary(summary).splitlines() == [
        "database      collection        documents",
        "connecticut   parcels                   3",
        "core          parcel_reports            1",
        "",
        "HTTP requests       5 (2 x 200, 3 x 201)",
        "messages published  3",
        "messages processed  3 (failed: 0)",
        "Lambda invocations  1",
        "tasks launched      1 (ran locally, exit code 0)",
        "time taken          9.9 s",
    ]
