"""``aws-helper-sync demo``: the README's first command, run as users run it.

The demo starts its own SecantusDB and moto, so these tests need none of the
session's servers; they check the summary numbers against what the demo
posted, and that nothing it started survives it, also when a step fails; and
that it runs from an installed wheel as well as from a checkout.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aws_helper_sync.demo import DemoSummary, format_summary
from tests.conftest import EXAMPLE_ROOT

REPOSITORY = EXAMPLE_ROOT.parents[1]
EXPECTED_DOCUMENTS = {
    "connecticut": {"parcels": 3, "parcel_history": 3},
    "new_jersey": {"parcels": 2, "parcel_history": 2},
    "core": {"parcel_reports": 2},
}

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
    assert summary["documents"] == EXPECTED_DOCUMENTS
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


def outside_the_checkout_env(bin_dir: Path) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH into a checkout, no APP_ROOT."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APP_ROOT", "REPORTS_DATABASE")}
    # secantusd-py is installed next to this interpreter (the demo extra); the venv's own bin first
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def build_wheel(into: Path) -> Path:
    """``pip wheel`` of a copy of the sources (an in-tree build would leave build/ in the checkout)."""
    source = into / "aws-helper-sync"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info")
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(REPOSITORY / name, source / name)
    for name in ("aws_helper_sync", "examples"):
        shutil.copytree(REPOSITORY / name, source / name, ignore=skip)
    dist = into / "dist"
    subprocess.run(  # no index: the build needs nothing beyond the test extra (setuptools, wheel)
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(dist), str(source)],
        check=True, capture_output=True, text=True, timeout=300, env=outside_the_checkout_env(dist),
    )
    (wheel,) = dist.glob("aws_helper_sync-*.whl")
    return wheel


def install_in_fresh_venv(wheel: Path, venv: Path) -> Path:
    """A venv with the wheel alone installed in it; the other packages (boto3, moto, SecantusDB)
    come from this interpreter's site-packages by a .pth path, so no checkout and no editable
    install of aws-helper-sync can be imported there. Returns the venv's bin directory."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=60).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
         str(wheel)], check=True, capture_output=True, text=True, timeout=300,
        env=outside_the_checkout_env(bin_dir),
    )
    return bin_dir


@pytest.mark.slow  # about 20 s: a wheel build, a venv and a whole demo run
def test_the_demo_runs_from_an_installed_wheel(tmp_path):
    wheel = build_wheel(tmp_path)
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if "/_example/" in name}
    example_files = {f"aws_helper_sync/_example/land_records/{p.relative_to(EXAMPLE_ROOT).as_posix()}"
                     for p in EXAMPLE_ROOT.rglob("*.py") if "__pycache__" not in p.parts}
    assert shipped == example_files
    bin_dir = install_in_fresh_venv(wheel, tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = subprocess.run([str(bin_dir / "aws-helper-sync"), "demo", "--json"], cwd=elsewhere,
                            env=outside_the_checkout_env(bin_dir), capture_output=True, text=True,
                            timeout=180, check=False)

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["documents"] == EXPECTED_DOCUMENTS
    assert (summary["messages_processed"], summary["task_exit_code"]) == (5, 0)
    used = re.search(r"aws-helper-sync demo: (\S+)", result.stderr).group(1)
    assert Path(used).is_relative_to(tmp_path / "venv") and used.endswith("_example/land_records")
    assert_stopped(summary["servers"]["mongo_pid"], summary["servers"]["mongo_data_dir"])
