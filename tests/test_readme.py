"""Every Python example in README.md runs, and prints what its comments say.

The blocks run in order in one namespace (as a reader would paste them), from
the repository root, against SecantusDB and moto with the example service's
AWS resources provisioned. A line ``print(...)  # text`` must print output
that contains ``text``.

The state and database names of the blocks (``connecticut``, ``core``...) get
the session's ``DATABASE_PREFIX`` before they run, comments included, so the
README never writes a database the suite does not own (a ``MONGODB_URI`` server
may hold real ones of those names).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

from aws_helper_sync import loading
from aws_helper_sync.demo import provision_example_resources
from tests.conftest import DATABASE_PREFIX, REPORTS_DATABASE

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PRINT_WITH_EXPECTATION = re.compile(r"^(\s*)print\((.*)\)\s+# (.+)$")
FILE_EXCERPT = re.compile(r"# (examples/\S+\.py)")
# Every state and database name the blocks use (the session-end check in conftest names any missed).
README_DATABASES = ("connecticut", "new_jersey", "ohio", "texas", "maine", "vermont", "core")
DATABASE_NAME = re.compile(r"\b(" + "|".join(README_DATABASES) + r")\b")


def isolated(code: str) -> str:
    """``code`` with each README state/database name prefixed (``core`` -> ``t1a2b_core``)."""
    return DATABASE_NAME.sub(lambda match: f"{DATABASE_PREFIX}_{match.group(1)}", code)


def readme_blocks() -> list[str]:
    return BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def excerpts() -> list[tuple[str, str]]:
    """(file, block) for blocks that quote a file of the example service."""
    found = []
    for block in readme_blocks():
        match = FILE_EXCERPT.match(block)
        if match:
            found.append((match.group(1), block))
    return found


def with_checks(code: str) -> str:
    """Turn ``print(x)  # expected`` into a checked print."""
    lines = []
    for line in code.splitlines():
        match = PRINT_WITH_EXPECTATION.match(line)
        if match:
            indent, args, expected = match.groups()
            line = f"{indent}_expect({expected.strip()!r}, {args})"
        lines.append(line)
    return "\n".join(lines)


def _expect(expected: str, *values: object) -> None:
    out = io.StringIO()
    print(*values, file=out)
    assert expected in out.getvalue(), f"printed {out.getvalue()!r}, README says {expected!r}"


@pytest.fixture
def readme_environment(mongo_client, aws, monkeypatch):
    # The blocks set os.environ themselves (APP_ROOT, CONSTITUTION_STATE, TASK_NAME...): put it
    # back whole afterwards. monkeypatch.delenv of an unset name records nothing to restore.
    saved = dict(os.environ)
    monkeypatch.chdir(ROOT)
    resources = provision_example_resources()
    for name, value in resources.items():
        monkeypatch.setenv(name, value)
    for name in ("APP_ROOT", "CONSTITUTION_STATE", "TASK_NAME"):
        monkeypatch.delenv(name, raising=False)
    # the library's default database names, as isolated() renames them in the blocks
    monkeypatch.setenv("AUTH_DB_NAME", isolated("core"))
    assert REPORTS_DATABASE == isolated("core")  # the example's ParcelReportRepository
    loading.clear_cache()
    yield
    loading.clear_cache()
    os.environ.clear()
    os.environ.update(saved)


def test_readme_has_examples():
    assert len(readme_blocks()) >= 10


@pytest.mark.parametrize(("path", "block"), excerpts())
def test_readme_excerpts_are_the_real_files(path, block):
    """A quoted file is the file: its lines appear there, in order (the file runs in its own tests)."""
    source = [line.strip() for line in (ROOT / path).read_text(encoding="utf-8").splitlines()]
    position = 0
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        assert line.strip() in source[position:], f"{path} has no line {line.strip()!r} here"
        position = source.index(line.strip(), position) + 1


def test_readme_examples_run(readme_environment):
    namespace: dict[str, object] = {"__name__": "readme", "_expect": _expect}
    for number, block in enumerate(readme_blocks(), start=1):
        if FILE_EXCERPT.match(block):
            continue
        code = compile(isolated(with_checks(block)), f"README.md block {number}", "exec")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)  # noqa: S102 - the README is our own text
    assert os.environ.get("CONSTITUTION_STATE") == isolated("connecticut")

