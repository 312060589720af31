"""The package type-checks, and user code subclassing it sees precise types (issue 13 §1).

``mypy --strict`` runs over ``aws_helper_sync`` and ``examples/typed_app`` with the
settings in pyproject.toml ([tool.mypy]: Python 3.9, strict). A probe module
shows that what users subclass (API, SQSConsumer, Repository, Lambda,
FargateTask) is typed through the lazy exports, not ``Any``; the typed example
also runs against SecantusDB and moto, so it is real code, not just annotations.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from aws_helper_sync import (
    api_handler,
    fargate_handler,
    lambda_handler,
    loading,
    sqs_handler,
)
from tests.api_events import json_body, v2_event
from tests.sqs_support import failed_ids, lambda_event, lambda_record

ROOT = Path(__file__).resolve().parent.parent
TYPED_APP = ROOT / "examples" / "typed_app"
# Kept between runs (it is what makes the check take seconds, not a minute);
# .mypy_cache is git-ignored. mypy invalidates it when a source changes.
CACHE_DIR = ROOT / ".mypy_cache"

pytest.importorskip("mypy", reason="mypy is in the test extra")


def run_mypy(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m mypy`` from the repository root (so pyproject's [tool.mypy] applies)."""
    env = {**os.environ, "MYPYPATH": str(ROOT)}  # this checkout's package, never an installed one
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(CACHE_DIR), "--no-color-output",
         "--no-error-summary", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


def test_mypy_strict_is_clean_over_the_package_and_the_typed_example():
    result = run_mypy()  # files, strict and python_version come from pyproject.toml
    assert result.returncode == 0, f"mypy --strict found errors:\n{result.stdout}{result.stderr}"


PROBE = '''
from __future__ import annotations

from typing import Any

from aws_helper_sync import API, FargateTask, Lambda, Repository, SQSConsumer


class Items(Repository):
    collection_name = "items"

    def first(self) -> int:
        return self.collection.find_one({})  # wrong on purpose: a document or None


class ItemsGet(API):
    def process(self) -> str:
        agent: str = self.headers.get("user-agent")  # wrong on purpose: may be None
        return self.set_code(200).path  # set_code() returns the subclass (Self)


class Items2(SQSConsumer):
    def process_record(self, record: dict[str, Any]) -> None:
        self.add_message_failed(record["messageId"], 42)  # wrong on purpose: not a reason


class CountLambda(Lambda):
    def process(self) -> dict[str, Any]:
        return {"n": 1}


class Tally(FargateTask):
    def execute(self) -> int:
        return 0
'''


def test_user_code_subclassing_the_lazy_exports_gets_precise_types(tmp_path):
    """Each deliberate mistake in PROBE is caught, and no base class is ``Any``."""
    probe = tmp_path / "probe_app.py"
    probe.write_text(textwrap.dedent(PROBE))

    result = run_mypy("--strict", str(probe))
    output = result.stdout + result.stderr

    assert result.returncode == 1, output
    assert "has type Any" not in output, output  # "Class cannot subclass X (has type Any)"
    errors = sorted(line.split(" error: ", 1)[1] for line in output.splitlines() if " error: " in line)
    assert errors == sorted([
        'Incompatible return value type (got "dict[str, Any] | None", expected "int")  [return-value]',
        ('Incompatible types in assignment (expression has type "str | None", variable has type "str")  '
         '[assignment]'),
        ('Argument 2 to "add_message_failed" of "SQSConsumer" has incompatible type "int"; '
         'expected "str | BaseException | None"  [arg-type]'),
    ]), output


LAZY_PACKAGES = [
    "aws_helper_sync", "aws_helper_sync.api", "aws_helper_sync.context", "aws_helper_sync.fargate",
    "aws_helper_sync.idempotency", "aws_helper_sync.lambda_standalone", "aws_helper_sync.sqs",
]


def _type_checking_imports(path: Path, package: str) -> dict[str, str]:
    """name -> absolute module of each import under ``if TYPE_CHECKING:`` in ``path``."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                module = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package) \
                    if statement.level else statement.module
                for alias in statement.names:
                    found[alias.asname or alias.name] = module
    return found


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_the_type_checking_imports_are_exactly_the_lazy_table(package):
    """What mypy sees is what ``__getattr__`` returns: same names, from the same modules."""
    module = importlib.import_module(package)
    table = {name: importlib.util.resolve_name(target, package) for name, target in module._LAZY.items()}

    assert _type_checking_imports(Path(module.__file__), package) == table
    assert set(table) <= set(module.__all__)
    for name, target in table.items():  # and each really lives there
        assert getattr(importlib.import_module(target), name) is getattr(module, name)


def test_no_bare_type_ignore_in_the_package():
    """Every ``# type: ignore`` names its error code (and a reason nearby)."""
    bare = [f"{path.relative_to(ROOT)}:{number}"
            for path in sorted((ROOT / "aws_helper_sync").rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if "# type: ignore" in line and "# type: ignore[" not in line]
    assert bare == []


# --- the typed example runs, against the real servers ---

@pytest.fixture
def typed_app(monkeypatch):
    monkeypatch.setenv("APP_ROOT", str(TYPED_APP))
    monkeypatch.syspath_prepend(str(TYPED_APP))
    sys.modules.pop("repositories", None)  # examples/land_records has one too
    loading.clear_cache()
    yield TYPED_APP
    loading.clear_cache()
    sys.modules.pop("repositories", None)


def test_the_typed_example_serves_its_api_queue_lambda_and_task(typed_app, mongo_client, make_state,
                                                                  monkeypatch):
    state = make_state("vermont")
    headers = {"constitution-state": state, "user-agent": "typed-test"}

    created = api_handler(v2_event("POST", "/notes", headers=headers, body={"note_id": "n1", "text": "hi"}))
    refused = api_handler(v2_event("POST", "/notes", headers=headers, body={"note_id": "n2", "text": " "}))
    assert (created["statusCode"], json_body(created)) == (201, {"note_id": "n1"})
    assert created["headers"]["Location"] == "/notes/n1"
    assert refused["statusCode"] == 400

    read = lambda_record(json.dumps({"note_id": "n1"}), state=state)
    unknown = lambda_record(json.dumps({"note_id": "nope"}), state=state)
    malformed = lambda_record(json.dumps({"id": "n1"}), state=state)
    response = sqs_handler("note_reads")(lambda_event(read, unknown, malformed), None)
    assert failed_ids(response) == {unknown["messageId"], malformed["messageId"]}

    got = api_handler(v2_event("GET", "/notes/n1", headers=headers))
    missing = api_handler(v2_event("GET", "/notes/n9", headers=headers))
    assert json_body(got) == {"note_id": "n1", "text": "hi", "reads": 1}
    assert got["headers"]["X-Seen-Agent"] == "typed-test"
    assert missing["statusCode"] == 404

    counted = lambda_handler("note_count")({"constitution-state": state, "data": {}})
    assert (counted["success"], counted["data"]) == (True, {"state": state, "notes": 1}), counted
    monkeypatch.setenv("CONSTITUTION_STATE", state)
    assert fargate_handler("tally") == 0
    assert mongo_client[state]["notes"].count_documents({}) == 1
