"""Isolated virtual environments for the frameworks we benchmark against.

The async ``aws-python-helper`` pins ``motor==3.3.2`` and ``pymongo==4.6.1``, and
Powertools brings its own stack, so neither may ever enter the project's own
environment. Each anchor gets a venv under a cache dir, built from the same
interpreter as the project (identical start-up cost), and reused while its
requirement list is unchanged. pymongo and boto3 are pinned to the project's
installed versions wherever the anchor does not pin them itself, so the rows
compare frameworks, not drivers. A third venv holds only our runtime
dependencies, for the cold-start rows (see ``requirements``).

    python benchmarks/anchors/envs.py [--cache-dir DIR]   # create or reuse, print paths

Cache dir: ``--cache-dir``, else ``AWS_HELPER_SYNC_BENCH_CACHE``, else
``~/.cache/aws-helper-sync-bench``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

OURS_CLEAN = "aws_helper_sync_clean"
ASYNC_FRAMEWORK = "aws_python_helper"
POWERTOOLS = "powertools"
MARKER = "anchor-env.json"


class AnchorEnvError(RuntimeError):
    """A venv could not be built (usually: no access to PyPI on the first run)."""


@dataclass(frozen=True)
class AnchorEnv:
    """A ready venv: its python and the versions installed in it."""

    name: str
    path: Path
    python: Path
    versions: dict


def default_cache_dir() -> Path:
    override = os.environ.get("AWS_HELPER_SYNC_BENCH_CACHE")
    if override:
        return Path(override).expanduser()
    return Path("~/.cache/aws-helper-sync-bench").expanduser()


def requirements() -> dict[str, list[str]]:
    """The pip requirements of each anchor venv (part of its cache key)."""
    boto3 = metadata.version("boto3")
    pymongo = metadata.version("pymongo")
    return {
        # Only our runtime dependencies: the cold-start rows import our package
        # from the working tree (PYTHONPATH) in this clean interpreter, because
        # the project's dev environment preloads modules at start-up (site
        # hooks, the editable-install finder) that a Lambda would not have.
        OURS_CLEAN: [f"boto3=={boto3}", f"pymongo=={pymongo}"],
        # boto3 is not declared by aws-python-helper (Lambda ships it) but its
        # package __init__ imports it; pymongo/motor stay at the anchor's own pins.
        ASYNC_FRAMEWORK: ["aws-python-helper==0.32.0", f"boto3=={boto3}"],
        POWERTOOLS: ["aws-lambda-powertools>=3,<4", f"pymongo=={pymongo}"],
    }


REPORTED = {
    OURS_CLEAN: ("boto3", "pymongo"),
    ASYNC_FRAMEWORK: ("aws-python-helper", "motor", "pymongo", "boto3"),
    POWERTOOLS: ("aws-lambda-powertools", "pymongo"),
}


def _python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _installed_versions(python: Path, names: tuple[str, ...]) -> dict:
    probe = (
        "import json, sys\nfrom importlib import metadata\n"
        "print(json.dumps({n: metadata.version(n) for n in sys.argv[1:]}))"
    )
    out = subprocess.run([str(python), "-c", probe, *names], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def _read_marker(venv: Path) -> dict | None:
    try:
        return json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(cache_dir: Path):
    """One builder at a time per cache dir (the driver and the smoke test may race)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(name: str, venv: Path, reqs: list[str], log) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    log(f"creating venv {venv} ({' '.join(reqs)}) ...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = _python_of(venv)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs],
        check=False, capture_output=True, text=True,
    )
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise AnchorEnvError(
            f"could not create the {name} benchmark venv: pip install {' '.join(reqs)} failed "
            f"(exit {result.returncode}). The anchors need network access to PyPI once; "
            f"after that the venvs under {venv.parent} are reused.\n{tail}"
        )
    marker = {"requirements": reqs, "python": sys.version, "versions": _installed_versions(python, REPORTED[name])}
    (venv / MARKER).write_text(json.dumps(marker, indent=2))


def ensure_envs(cache_dir: Path | None = None, log=print) -> dict[str, AnchorEnv]:
    """Create the anchor venvs that are missing or stale; return all of them."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    envs = {}
    with _locked(cache_dir):
        for name, reqs in requirements().items():
            venv = cache_dir / name
            marker = _read_marker(venv)
            if not marker or marker.get("requirements") != reqs or marker.get("python") != sys.version:
                _build(name, venv, reqs, log)
                marker = _read_marker(venv)
            envs[name] = AnchorEnv(name, venv, _python_of(venv), marker["versions"])
    return envs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    for env in ensure_envs(args.cache_dir).values():
        versions = ", ".join(f"{k}=={v}" for k, v in env.versions.items())
        print(f"{env.name:20} {env.python}  {versions}")


if __name__ == "__main__":
    main()
